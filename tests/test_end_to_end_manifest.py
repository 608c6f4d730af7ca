"""--manifest end to end: a CSV-labelled flat folder, an im2rec .lst and a
SageMaker augmented manifest each give the records of the equivalent folder
tree; reruns in new processes give the same bytes; bad rows are error rows
with their line numbers; a manifest and its images on S3 work alike."""

import collections
import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from pipeline import main
from tests.conftest import download_prefix
from tests.conftest import stderr_lines
from tests.conftest import upload_tree
from tests.records import read_errors
from tests.records import read_examples
from tests.records import read_labels
from tests.records import save_photo
from tests.records import shard_paths

_CLASSES = {"heron": 9, "kestrel": 7, "owl": 5}
_FLAGS = ["--num_shards", "2", "--validation_ratio", "0.25", "--image_size", "24", "--seed", "3"]


def _tree_and_flat(root):
    """A class-per-folder tree and the same images in one flat folder, as
    (tree, flat, [(flat name, label)]) in a scrambled order."""
    rows = []
    for c, (label, n) in enumerate(sorted(_CLASSES.items())):
        for i in range(n):
            name = f"{i:02d}.{'png' if i % 3 == 0 else 'jpg'}"
            source = save_photo(str(root / "tree" / label / name), size=(30 + 7 * i, 26 + 5 * c), seed=10 * c + i)
            flat_name = f"{label}-{name}"
            os.makedirs(root / "flat", exist_ok=True)
            shutil.copyfile(source, root / "flat" / flat_name)
            rows.append((flat_name, label))
    rows.sort(key=lambda row: hashlib.sha256(row[0].encode()).hexdigest())
    return str(root / "tree"), str(root / "flat"), rows


def _records(out):
    """(label name, image bytes) of every record, and each split's counts per class."""
    labels = read_labels(out)
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    records = collections.Counter()
    for split in info["splits"]:
        for record in read_examples(shard_paths(out, split)):
            records[labels[record["image/class/label"]], record["image/encoded"]] += 1
    return records, {name: split["per_class"] for name, split in info["splits"].items()}, info


def _file_hashes(out):
    hashes = {}
    for name in sorted(os.listdir(out)):
        with open(os.path.join(out, name), "rb") as f:
            hashes[name] = hashlib.sha256(f.read()).hexdigest()
    return hashes


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("manifest")
    tree, flat, rows = _tree_and_flat(root)
    expected = str(root / "from-tree")
    assert main(["--input", tree, "--output", expected, *_FLAGS]) == 0
    return {"root": root, "tree": tree, "flat": flat, "rows": rows, "expected": _records(expected)}


def _write_csv(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("path,label\n" + "".join(f"{name},{label}\n" for name, label in rows))
    return str(path)


def test_csv_labelled_flat_folder_gives_the_tree_s_records(images, tmp_path):
    manifest = _write_csv(os.path.join(images["flat"], "labels.csv"), images["rows"])
    out = str(tmp_path / "out")
    assert main(["--manifest", manifest, "--output", out, *_FLAGS]) == 0  # --input: the manifest's folder.
    records, counts, info = _records(out)
    expected_records, expected_counts, _ = images["expected"]
    assert records == expected_records and counts == expected_counts
    assert info["counts"] == {"matched": 21, "written": 21, "failed": 0, "skipped": 0}
    assert info["label_from"] == "manifest" and info["manifest"] == manifest


def test_lst_with_ids_and_a_labels_file_gives_the_tree_s_records(images, tmp_path):
    names = sorted(_CLASSES)
    (tmp_path / "classes.txt").write_text("".join(f"{name}\n" for name in names))
    lst = tmp_path / "train.lst"  # Elsewhere than the images: --input says where they are.
    lst.write_text(
        "".join(f"{i}\t{names.index(label)}.000000\t{name}\n" for i, (name, label) in enumerate(images["rows"]))
    )
    out = str(tmp_path / "out")
    flags = ["--manifest", str(lst), "--input", images["flat"], "--labels_file", str(tmp_path / "classes.txt")]
    assert main([*flags, "--output", out, *_FLAGS]) == 0
    records, counts, _ = _records(out)
    assert (records, counts) == images["expected"][:2]


def test_lst_ids_without_names_keep_their_numbers(images, tmp_path):
    lst = tmp_path / "train.lst"
    lst.write_text("0\t2\theron-00.png\n1\t5\towl-01.jpg\n")  # Ids 2 and 5: classes 0..5.
    out = str(tmp_path / "out")
    assert main(["--manifest", str(lst), "--input", images["flat"], "--output", out, "--image_size", "24"]) == 0
    assert read_labels(out) == ["0", "1", "2", "3", "4", "5"]
    assert sorted(r["image/class/label"] for r in read_examples(shard_paths(out))) == [2, 5]


def test_augmented_manifest_gives_the_tree_s_records(images, tmp_path):
    path = tmp_path / "output.manifest"
    with open(path, "w") as f:
        for name, label in images["rows"]:
            source = os.path.join(images["flat"], name)
            f.write(json.dumps({"source-ref": source, "species": label, "species-metadata": {"class-name": label}}))
            f.write("\n")
    out = str(tmp_path / "out")
    flags = ["--manifest", str(path), "--manifest_label_key", "species", "--input", images["flat"]]
    assert main([*flags, "--output", out, *_FLAGS]) == 0
    assert _records(out)[:2] == images["expected"][:2]


def test_reruns_in_new_processes_and_row_order_give_the_same_bytes(images, tmp_path):
    forward = _write_csv(tmp_path / "forward.csv", [(os.path.join(images["flat"], n), c) for n, c in images["rows"]])
    backward = _write_csv(
        tmp_path / "backward.csv", [(os.path.join(images["flat"], n), c) for n, c in images["rows"]][::-1]
    )
    outputs = []
    for manifest in (forward, forward, backward):
        out = str(tmp_path / f"out{len(outputs)}")
        command = [sys.executable, "-m", "pipeline", "--manifest", manifest, "--input", images["flat"]]
        subprocess.run([*command, "--output", out, *_FLAGS], check=True, capture_output=True, timeout=300)
        outputs.append(_file_hashes(out))
    assert outputs[0] == outputs[1]
    # The manifest's own path is in dataset_info.json; every other file is the same.
    assert {k: v for k, v in outputs[0].items() if k != "dataset_info.json"} == {
        k: v for k, v in outputs[2].items() if k != "dataset_info.json"
    }


def test_bad_rows_are_error_rows_with_their_line_numbers(images, tmp_path, capsys):
    rows = images["rows"][:4]
    manifest = tmp_path / "labels.csv"
    manifest.write_text(
        "path,label,split\n"
        + "".join(f"{os.path.join(images['flat'], name)},{label},\n" for name, label in rows)  # Lines 2-5.
        + f"{images['flat']}/gone.jpg,owl,\n"  # 6: missing file
        + f"{images['flat']}/{rows[0][0]},owl,\n"  # 7: the same file again
        + f"{images['flat']}/{rows[1][0]}x,,\n"  # 8: no label
        + "\n"  # 9: blank, not a row
        + f"{images['flat']}/{images['rows'][5][0]},{images['rows'][5][1]},holdout\n"  # 10: a named split
        + f"{images['flat']}/{images['rows'][6][0]},{images['rows'][6][1]},bad split!\n"  # 11
    )
    out = str(tmp_path / "out")
    assert main(["--manifest", str(manifest), "--output", out, "--image_size", "24", "--num_shards", "1"]) == 0
    errors = sorted((row["line"], row["reason"]) for row in read_errors(out))
    assert errors == [(6, "read_error"), (7, "repeated_path"), (8, "no_label"), (11, "bad_split_name")]
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    assert info["counts"] == {"matched": 9, "written": 5, "failed": 4, "skipped": 0}
    assert {name: split["num_examples"] for name, split in info["splits"].items()} == {"train": 4, "holdout": 1}
    assert "matched 9 = written 5 + failed 4" in capsys.readouterr().out


def test_a_csv_without_its_columns_is_refused_before_anything_runs(images, tmp_path, capsys):
    manifest = tmp_path / "labels.csv"
    manifest.write_text("file,class\na.jpg,owl\n")
    out = tmp_path / "out"
    assert main(["--manifest", str(manifest), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--manifest" in err and "must name the columns path, label" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_manifest_and_images_on_s3(images, s3_client, bucket, s3_flags, tmp_path):
    upload_tree(s3_client, images["flat"], bucket, "flat")
    manifest = tmp_path / "output.manifest"
    manifest.write_text(
        "".join(json.dumps({"source-ref": f"s3://{bucket}/flat/{n}", "species": c}) + "\n" for n, c in images["rows"])
    )
    s3_client.upload_file(str(manifest), bucket, "lists/output.manifest")
    flags = ["--manifest", f"s3://{bucket}/lists/output.manifest", "--manifest_label_key", "species"]
    flags += ["--input", f"s3://{bucket}/flat", "--output", f"s3://{bucket}/out"]
    assert main([*flags, *s3_flags, *_FLAGS]) == 0
    download_prefix(s3_client, bucket, "out", str(tmp_path / "out"))
    assert _records(str(tmp_path / "out"))[:2] == images["expected"][:2]


def test_a_relative_manifest_path_without_input(images, tmp_path, monkeypatch, capsys):
    _write_csv(os.path.join(images["flat"], "labels.csv"), images["rows"][:3])
    monkeypatch.chdir(images["flat"])
    out = str(tmp_path / "out")
    assert main(["--manifest", "labels.csv", "--output", out, "--image_size", "24", "--num_shards", "1"]) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        info = json.load(f)
    assert info["counts"]["written"] == 3 and info["manifest"] == os.path.join(images["flat"], "labels.csv")
    assert info["source"] == images["flat"]  # Made absolute: a cluster's workers run elsewhere.


def test_per_split_shards_name_the_manifest_s_splits(images, tmp_path, capsys):
    rows = [
        f"{os.path.join(images['flat'], n)},{c},{'holdout' if i < 3 else ''}" for i, (n, c) in enumerate(images["rows"])
    ]
    manifest = tmp_path / "labels.csv"
    manifest.write_text("path,label,split\n" + "\n".join(rows) + "\n")
    out = str(tmp_path / "out")
    flags = ["--manifest", str(manifest), "--output", out, "--image_size", "24", "--validation_ratio", "0.25"]
    assert main([*flags, "--num_shards", "train=2,validation=1"]) == 2
    err = capsys.readouterr().err
    assert "--num_shards gives no shard count for split 'holdout'" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(out)
    assert main([*flags, "--num_shards", "train=2,validation=1,holdout=1"]) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        splits = json.load(f)["splits"]
    assert {name: (s["num_shards"], s["num_examples"]) for name, s in splits.items()} == {
        "holdout": (1, 3),
        "train": (2, 13),
        "validation": (1, 5),
    }


@pytest.mark.parametrize(
    ("name", "text", "flags", "expected"),
    [
        ("a.json", '[{"source-ref": "a.jpg", "k": "owl"}]\n', ["--manifest_label_key", "k"], "is a JSON array"),
        ("a.jsonl", "path,label\n", ["--manifest_label_key", "k"], "line 1 is not a JSON object"),
        ("a.csv", "path,label\n", ["--manifest_label_key", "k"], "--manifest_label_key is for JSON lines manifests"),
        ("a.csv", "path,label\n", ["--input", "/nonexistent/images"], "--input /nonexistent/images is not a folder"),
        ("a.csv", "path,label\n", ["--label_from", "top"], "drop --label_from"),
    ],
)
def test_wrong_manifests_are_refused_in_one_line(name, text, flags, expected, tmp_path, capsys):
    (tmp_path / name).write_text(text)
    out = tmp_path / "out"
    assert main(["--manifest", str(tmp_path / name), "--output", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_a_split_whose_every_image_failed_is_named(images, tmp_path, capsys):
    manifest = tmp_path / "labels.csv"
    manifest.write_text(
        f"path,label,split\n{images['flat']}/{images['rows'][0][0]},owl,\n{images['flat']}/gone.jpg,owl,extra\n"
    )
    out = str(tmp_path / "out")
    assert main(["--manifest", str(manifest), "--output", out, "--image_size", "24", "--num_shards", "1"]) == 0
    with open(os.path.join(out, "dataset_info.json")) as f:
        assert json.load(f)["warnings"]["splits_without_images"] == ["extra"]
    assert "warning: the extra split has no image: every image placed in it failed" in capsys.readouterr().out


def _ground_truth(path, rows):
    """A SageMaker Ground Truth image-classification output manifest: each
    row `pets` (the class id) and `pets-metadata` with its class-name."""
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    return str(path)


def _gt_row(source, label, name=None):
    row = {"source-ref": source, "pets": label}
    if name is not None:
        metadata = {"class-name": name, "confidence": 0.93, "type": "groundtruth/image-classification"}
        row["pets-metadata"] = metadata
    return row


_GT_NAMES = {"heron": (1, "Grey heron"), "kestrel": (0, "Kestrel"), "owl": (1, "Grey heron")}


def _gt_rows(images):
    """Kestrels id 0 "Kestrel", herons id 1 "Grey heron" (owls left out)."""
    return [
        _gt_row(os.path.join(images["flat"], name), *_GT_NAMES[label])
        for name, label in images["rows"]
        if label != "owl"
    ]


def test_ground_truth_class_names_name_the_ids_as_written(images, tmp_path):
    manifest = _ground_truth(tmp_path / "gt.manifest", _gt_rows(images))
    out = str(tmp_path / "out")
    assert main(["--manifest", manifest, "--manifest_label_key", "pets", "--output", out, "--image_size", "24"]) == 0
    assert read_labels(out) == ["Kestrel", "Grey heron"]
    expected = {name: _GT_NAMES[label][0] for name, label in images["rows"] if label != "owl"}
    stored = {
        os.path.basename(r["image/filename"].decode()): r["image/class/label"] for r in read_examples(shard_paths(out))
    }
    assert stored == expected  # Ids as the manifest wrote them, not as sorted names would give.
    with open(os.path.join(out, "dataset_info.json")) as f:
        assert json.load(f)["splits"]["train"]["per_class"] == {"Grey heron": 9, "Kestrel": 7}


@pytest.mark.parametrize("odd", [-1, 1.5, "unsure"])
def test_a_label_that_is_no_id_among_ids_stops_the_run_naming_its_line(images, tmp_path, odd):
    rows = _gt_rows(images)
    rows.insert(5, _gt_row(os.path.join(images["flat"], images["rows"][0][0] + "-copy.jpg"), odd))  # Line 6.
    manifest = _ground_truth(tmp_path / "gt.manifest", rows)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pipeline", "--manifest", manifest, "--manifest_label_key", "pets"]
    run = subprocess.run([*command, "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    lines = stderr_lines(run.stderr)
    assert len(lines) == 1, lines
    assert f"--manifest line 6: label {str(odd)!r} is not a class id" in lines[0]
    assert "pass --labels_file naming every label" in lines[0]
    assert not [name for name in os.listdir(out) if not name.startswith(".")]  # Not one shard, nor a side file.


def test_a_labels_file_names_a_scheme_of_minus_one_and_one(images, tmp_path):
    """A binary {-1, +1} manifest is not a typo when the user says so."""
    rows = [_gt_row(os.path.join(images["flat"], n), -1 if c == "heron" else 1) for n, c in images["rows"][:8]]
    manifest = _ground_truth(tmp_path / "gt.manifest", rows)
    (tmp_path / "classes.txt").write_text("-1\n1\n")
    out = str(tmp_path / "out")
    flags = ["--manifest", manifest, "--manifest_label_key", "pets", "--labels_file", str(tmp_path / "classes.txt")]
    assert main([*flags, "--output", out, "--image_size", "24"]) == 0
    assert read_labels(out) == ["-1", "1"]
    stored = {
        os.path.basename(r["image/filename"].decode()): r["image/class/label"] for r in read_examples(shard_paths(out))
    }
    assert stored == {n: 0 if c == "heron" else 1 for n, c in images["rows"][:8]}


def test_a_contradicting_class_name_and_a_multi_label_row_are_error_rows(images, tmp_path):
    rows = _gt_rows(images)
    heron = next(i for i, row in enumerate(rows) if row["pets"] == 1)
    rows.append({**rows[heron], "source-ref": rows[heron]["source-ref"] + "-again.jpg"})  # Keeps its name.
    rows[-1]["pets-metadata"] = {"class-name": "Heron"}
    owl = next(os.path.join(images["flat"], n) for n, c in images["rows"] if c == "owl")
    rows.append(
        {"source-ref": owl, "pets": [0, 1], "pets-metadata": {"class-map": {"0": "Kestrel", "1": "Grey heron"}}}
    )
    manifest = _ground_truth(tmp_path / "gt.manifest", rows)
    out = str(tmp_path / "out")
    assert main(["--manifest", manifest, "--manifest_label_key", "pets", "--output", out, "--image_size", "24"]) == 0
    errors = {(row["line"], row["reason"]): row["message"] for row in read_errors(out)}
    assert errors == {
        (len(rows) - 1, "class_name_conflict"): f"names class 1 'Heron', but line {heron + 1} names it 'Grey heron'",
        (len(rows), "multi_label"): "2 labels: one label per image is supported",
    }
    assert read_labels(out) == ["Kestrel", "Grey heron"]


def test_a_labels_file_of_digit_names_names_an_lst_s_ids_by_line(images, tmp_path):
    """im2rec's classes named 0..11 sort as text (0, 1, 10, 11, 2, ...): the
    .lst's id 2 is line 2 ("10"), never the line that reads "2"."""
    names = ["10", "2", "0"]
    (tmp_path / "classes.txt").write_text("".join(f"{name}\n" for name in names))
    chosen = images["rows"][:6]
    lst = tmp_path / "train.lst"
    lst.write_text("".join(f"{i}\t{i % 3}\t{name}\n" for i, (name, _) in enumerate(chosen)))
    out = str(tmp_path / "out")
    flags = ["--manifest", str(lst), "--input", images["flat"], "--labels_file", str(tmp_path / "classes.txt")]
    assert main([*flags, "--output", out, "--image_size", "24"]) == 0
    stored = {
        r["image/filename"].decode(): (int(r["image/class/label"]), r["image/class/text"].decode())
        for r in read_examples(shard_paths(out))
    }
    assert stored == {name: (i % 3, names[i % 3]) for i, (name, _) in enumerate(chosen)}
