"""`im2tfrecord inspect PREFIX`: check a converted dataset before training on it.

Users need to see that the labels are right before spending GPU hours. This
command reports counts per split and class and shard sizes, checks every
file and record against dataset_info.json (checks.py), and can draw a
contact sheet of sample images per class (contact_sheet.py), so that a
person sees at a glance that the folders became the right classes. Both
record formats are read record by record.

Exit codes: 0 the dataset is valid, 1 problems found, 2 a wrong invocation.
"""

import os
import time

from pipeline import command
from pipeline import read
from pipeline.command import UsageError
from pipeline.inspection import contact_sheet
from pipeline.inspection import report as inspect_report
from pipeline.inspection.checks import run_checks
from pipeline.inspection.dataset import NotADataset
from pipeline.inspection.dataset import describe
from transforms.paths import has_scheme
from transforms.paths import is_s3
from transforms.storage import Storage
from transforms.storage import split_s3_path

_PROG = "im2tfrecord inspect"
_DESCRIPTION = """\
Check a dataset that im2tfrecord wrote, before training on it.

Reports records per split and class (with each class's share), shard sizes
and the rejected input files of errors.jsonl. By default every shard is read
back: its size and sha256 against dataset_info.json, every record's framing
(TFRecord's crc32c, RecordIO's magic words), its tf.train.Example features
(or RecordIO header), its label (a class id that agrees with the class
text) and its image, decoded to the recorded size. Every problem is listed
with its shard file and record index.
"""
_EPILOG = """\
examples:
  im2tfrecord inspect ./shards
  im2tfrecord inspect ./shards --contact_sheet sheet.png
  im2tfrecord inspect s3://bucket/shards --quick --s3_region_name eu-west-1
  im2tfrecord inspect ./shards --split validation --json > report.json

The contact sheet has a row per class (label id and name) of the first
--samples_per_class images of that class in record order, each with its file
name: a row of the wrong images is a folder mapped to the wrong class. Past
{rows} classes it is split into pages: sheet-001-of-003.png, ...

exit codes: 0 the dataset is valid, 1 problems were found (see the report),
2 a wrong invocation (nothing was checked).
""".format(rows=contact_sheet.ROWS_PER_PAGE)

# Enough to judge a class by eye, few enough to fit a screen's width.
_DEFAULT_SAMPLES = 8
_MAX_SAMPLES = 64


def main(argv):
    """Runs `im2tfrecord inspect` with the arguments after `inspect`; returns the exit code."""
    return command.main(_PROG, list(argv), _parse_invocation)


def _parse_invocation(argv):
    return command.s3_command(_parser(), argv, _run, check=_check_args, failed="inspecting failed")


def _run(args, settings):
    start = time.monotonic()
    prefix = args.prefix.rstrip("/") or args.prefix
    info = _read_info(Storage(settings, max_attempts=command.PREFLIGHT_S3_ATTEMPTS), prefix)
    try:
        dataset = describe(prefix, info, args.split)
    except NotADataset as e:
        raise UsageError(f"{prefix}: {e}") from None
    except KeyError as e:
        raise UsageError(
            f"--split {e.args[0]}: {prefix} has no such split (it has {', '.join(info['splits'])})"
        ) from None
    samples = None
    if args.contact_sheet:
        samples = contact_sheet.Samples(args.samples_per_class, len(dataset.labels))
    findings = run_checks(Storage(settings), dataset, quick=args.quick, samples=samples)
    sheets = _draw_contact_sheet(args, dataset, samples) if samples else []
    doc = inspect_report.report(dataset, findings, time.monotonic() - start, sheets)
    command.print_report(inspect_report.format_json(doc) if args.json else inspect_report.format_text(doc))
    return 0 if doc["valid"] else 1


def _read_info(storage, prefix):
    """dataset_info.json as a dict; UsageError when there is none to read."""
    if not has_scheme(prefix) and not os.path.isdir(prefix):
        state = "is a file: name the dataset's folder" if os.path.exists(prefix) else "does not exist"
        raise UsageError(f"{prefix} {state}")
    bucket = split_s3_path(prefix)[0] if is_s3(prefix) else None
    if bucket:  # A missing bucket, or an endpoint that is not S3, is named as such.
        command.check_bucket(storage.s3_client(), bucket, prefix)
    try:
        return command.s3_call(lambda: read.read_info(storage, prefix), prefix, bucket)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None


def _draw_contact_sheet(args, dataset, samples):
    by_class = samples.by_class()
    counts = [
        sum((dataset.info["splits"][split].get("per_class") or {}).get(name, 0) for split in dataset.splits)
        for name in dataset.labels
    ]
    rows = [
        contact_sheet.Row(label, name, tuple(by_class[label]), f"{counts[label]} images")
        for label, name in enumerate(dataset.labels)
    ]
    title = (
        f"{dataset.prefix} ({', '.join(dataset.splits)}): first {args.samples_per_class} "
        "images of each class in record order"
    )
    has_names = "filename" in dataset.record_spec().roles
    pages = contact_sheet.render(rows, args.samples_per_class, title, captions=has_names and not args.no_filenames)
    return contact_sheet.save(pages, args.contact_sheet)


def _parser():
    parser = command.new_parser(
        _PROG, "%(prog)s PREFIX [--quick] [--contact_sheet PATH] [options]", _DESCRIPTION, _EPILOG
    )
    parser.add_argument(
        "prefix", metavar="PREFIX", help="Folder or s3:// prefix of the dataset (where dataset_info.json is)."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Only dataset_info.json, labels.txt and file sizes: no record is read "
        "(but those a --contact_sheet needs).",
    )
    parser.add_argument(
        "--split", action="append", metavar="NAME", help="Inspect only this split; repeat for more (default: all)."
    )
    parser.add_argument(
        "--contact_sheet",
        "--contact-sheet",
        metavar="PATH",
        help="Write a PNG contact sheet here (a local path): a row of sample images per class.",
    )
    parser.add_argument(
        "--samples_per_class",
        type=int,
        default=_DEFAULT_SAMPLES,
        metavar="N",
        help="Images per class on the contact sheet (default: %(default)s).",
    )
    parser.add_argument("--no_filenames", action="store_true", help="No file names under the contact sheet's images.")
    parser.add_argument(
        "--json", action="store_true", help="Print the report as JSON (valid, splits, per-class counts, problems)."
    )
    command.add_s3_arguments(parser)
    command.add_log_level_argument(parser)
    return parser


def _check_args(args):
    if not 1 <= args.samples_per_class <= _MAX_SAMPLES:
        raise UsageError(f"--samples_per_class must be 1 to {_MAX_SAMPLES}, got {args.samples_per_class}")
    if args.contact_sheet:
        _check_sheet_path(args.contact_sheet)


def _check_sheet_path(path):
    if has_scheme(path):
        raise UsageError(f"--contact_sheet {path}: must be a local path")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--contact_sheet {path}: folder {folder} does not exist")
