"""The report of `im2tfrecord inspect`: for a person (text) or a program (--json).

Both are built from one dict (`report`), so the text never says something
the JSON does not. Counts are the records read when the record pass read a
split whole, else dataset_info.json's, and the report says which.
"""

import json
import statistics

from pipeline.inspection.records import KEPT_PER_FILE
from transforms.duplicates import KINDS

# The text lists this many classes and problems; --json lists every class and
# every kept problem. Past it a table stops being read anyway.
MAX_CLASS_ROWS = 50
MAX_PROBLEM_LINES = 20

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def report(dataset, findings, seconds, contact_sheets=()):
    """The report as a JSON-ready dict."""
    splits = {}
    for name, shards in dataset.splits.items():
        entry = dataset.info["splits"][name]
        counted = findings.class_counts.get(name)
        if counted is not None:
            per_class = {dataset.labels[label]: n for label, n in sorted(counted.items())}
            num_examples = sum(counted.values())
        else:
            per_class = dict(entry.get("per_class") or {})
            num_examples = entry.get("num_examples")
        sizes = sorted(findings.file_sizes.get(s.file, s.num_bytes) for s in shards)
        splits[name] = {
            "num_shards": len(shards),
            "num_examples": num_examples,
            "num_bytes": sum(sizes),
            "shard_bytes": _spread(sizes),
            "per_class": {label: per_class.get(label, 0) for label in dataset.labels},
            "counts_from": "records" if counted is not None else "dataset_info.json",
            "statistics": entry.get("statistics"),
        }
    return {
        "prefix": dataset.prefix,
        "format": dataset.format,
        "schema": dataset.info.get("schema"),
        "valid": not findings.problem_counts,
        "quick": findings.quick,
        "records_checked": findings.records_checked,
        "records_read": findings.records_read,
        "seconds": round(seconds, 3),
        "labels": list(dataset.labels),
        "splits": splits,
        "errors": dataset.info.get("errors") or {},
        "duplicates": dataset.info.get("duplicates"),
        "problem_count": sum(findings.problem_counts.values()),
        "problems_by_reason": dict(sorted(findings.problem_counts.items())),
        "problems": [problem.as_dict() for problem in findings.problems],
        "contact_sheet": list(contact_sheets),
    }


def _spread(sorted_sizes):
    if not sorted_sizes:
        return None
    return {"min": sorted_sizes[0], "median": int(statistics.median(sorted_sizes)), "max": sorted_sizes[-1]}


def format_json(doc):
    return json.dumps(doc, indent=2, ensure_ascii=False)


# What the record pass checks of each format's records, as the report names it.
_RECORD_CHECKS = {"tfrecord": "crc32c, features", "recordio": "framing, headers"}


def format_text(doc):
    """Human-readable lines of a report dict."""
    records = sum(split["num_examples"] or 0 for split in doc["splits"].values())
    schema = f", schema {doc['schema']}" if doc["schema"] else ""
    lines = [f"dataset {doc['prefix']}: {doc['format']}{schema}, {len(doc['labels'])} classes, {records} records"]
    read = doc["records_read"]
    if doc["records_checked"]:
        rate = read / doc["seconds"] if doc["seconds"] > 0 else 0.0
        lines.append(
            f"checked {read} of {records} records in {doc['seconds']:.1f} s ({rate:.0f} "
            f"records/s): {_RECORD_CHECKS.get(doc['format'], 'records')}, labels, images, shard sha256"
        )
    else:
        lines.append(
            "quick check: dataset_info.json, labels.txt and file sizes"
            + (f"; {read} records read for the contact sheet" if read else "")
        )
    lines += ["", *_split_table(doc["splits"]), "", *_class_table(doc["labels"], doc["splits"])]
    lines += ["", *_statistics_lines(doc["splits"])]
    lines += ["", _errors_line(doc["errors"])]
    if doc["duplicates"] is not None:
        lines.append(_duplicates_line(doc["duplicates"]))
    lines += [f"contact sheet: {path}" for path in doc["contact_sheet"]]
    lines += ["", *_problem_lines(doc)]
    return "\n".join(lines)


def _split_table(splits):
    rows = [("split", "shards", "records", "bytes", "shard size min / median / max")]
    for name, split in splits.items():
        sizes = split["shard_bytes"]
        spread = " / ".join(_human(sizes[k]) for k in ("min", "median", "max")) if sizes else "-"
        rows.append((name, str(split["num_shards"]), str(split["num_examples"]), _human(split["num_bytes"]), spread))
    return _columns(rows, right=(1, 2, 3))


def _class_table(labels, splits):
    """One row per class: its count and share of each split; then each split's extremes."""
    header = ("label", "class", *(f"{name} ({_source(split)})" for name, split in splits.items()))
    rows = [header]
    for label, name in enumerate(labels[:MAX_CLASS_ROWS]):
        rows.append((str(label), name, *(_share(split, name) for split in splits.values())))
    lines = _columns(rows, right=range(2, len(header)))
    if len(labels) > MAX_CLASS_ROWS:
        lines.append(f"... and {len(labels) - MAX_CLASS_ROWS} more classes (--json lists them all)")
    for name, split in splits.items():
        counts = split["per_class"]
        if not counts:
            continue
        smallest, largest = min(counts, key=counts.get), max(counts, key=counts.get)
        if counts[smallest] == counts[largest]:
            lines.append(f"{name}: every class has {counts[smallest]} records")
        else:
            lines.append(
                f"{name}: classes from {counts[smallest]} records ({smallest}) to {counts[largest]} ({largest})"
            )
    return lines


def _source(split):
    return "read" if split["counts_from"] == "records" else "listed"


def _share(split, name):
    count, total = split["per_class"][name], split["num_examples"] or 0
    return f"{count} ({100 * count / total:.1f}%)" if total else str(count)


# How the statistics line names which pixels were counted (--statistics,
# imaging.STATISTICS_PIXELS); a value it does not know is shown as it is.
_COUNTED = {"before_encoding": "before encoding", "stored": "as stored"}


def _statistics_lines(splits):
    """Per split: the channel means and deviations, and the size histograms
    (dataset_info.json's statistics, transforms/statistics.py)."""
    lines = []
    for name, split in splits.items():
        stats = split["statistics"]
        if not stats:
            continue
        # Datasets from before --statistics counted the stored pixels.
        counted = stats.get("pixels_counted", "stored")
        counted = _COUNTED.get(counted, counted)
        lines.append(
            f"{name} pixels {counted}: mean {_values(stats['mean'], 2)}, std {_values(stats['std'], 2)} "
            f"(0-1: mean {_values(stats['mean_0_1'], 4)}, std {_values(stats['std_0_1'], 4)})"
        )
        for when in ("source", "stored"):
            sizes = stats[f"{when}_sizes"]
            lines.append(f"  {when:6} width {_buckets(sizes['width'])}; height {_buckets(sizes['height'])}")
    return lines


def _values(numbers, digits):
    return " ".join(f"{v:.{digits}f}" for v in numbers)


def _buckets(counts):
    return ", ".join(f"{b}-{2 * int(b) - 1}: {counts[b]}" for b in sorted(counts, key=int))  # JSON sorts them as text.


def _duplicates_line(duplicates):
    groups = duplicates.get("groups", 0)
    by_kind = duplicates.get("groups_by_kind", {})
    kinds = ", ".join(f"{kind.replace('_', ' ')} {by_kind[kind]}" for kind in KINDS if by_kind.get(kind))
    return (
        f"{duplicates.get('file', 'duplicates.jsonl')}: {groups} group{'' if groups == 1 else 's'} of identical "
        f"images ({duplicates.get('images', 0)} images)" + (f": {kinds}" if kinds else "")
    )


def _errors_line(errors):
    count = errors.get("count", 0)
    by_reason = ", ".join(f"{reason} {n}" for reason, n in sorted(errors.get("by_reason", {}).items()))
    return (
        f"{errors.get('file', 'errors.jsonl')}: {count} rejected input file"
        + ("" if count == 1 else "s")
        + (f" ({by_reason})" if by_reason else "")
    )


def _problem_lines(doc):
    count = doc["problem_count"]
    if not count:
        return ["OK: no problems found"]
    by_reason = ", ".join(f"{reason} {n}" for reason, n in doc["problems_by_reason"].items())
    lines = [f"PROBLEMS: {count} found ({by_reason})"]
    shown = doc["problems"][:MAX_PROBLEM_LINES]
    lines += [f"  {problem['file']}: {problem['message']}" for problem in shown]
    if count > len(shown):
        lines.append(f"  ... and {count - len(shown)} more (--json lists the first {KEPT_PER_FILE} of each file)")
    return lines


def _columns(rows, right=()):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()
        for row in rows
    ]


def _human(num_bytes):
    value = float(num_bytes)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
