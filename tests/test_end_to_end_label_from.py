"""--label_from on a nested tree: `parent` merges same-named subfolders of
different classes and says so; `top` takes the class from the first folder."""

import json
import os

from pipeline import main
from tests.records import read_labels
from tests.records import save_photo


def _nested_tree(root):
    for path in ("cats/2019/a.png", "cats/2019/b.png", "cats/2020/c.png", "dogs/2019/d.png"):
        save_photo(str(root / path), size=(32, 24), fmt="PNG")
    return str(root)


def _info(out):
    with open(os.path.join(out, "dataset_info.json")) as f:
        return json.load(f)


def test_parent_merges_and_warns(tmp_path, capsys):
    tree, out = _nested_tree(tmp_path / "in"), str(tmp_path / "out")
    assert main(["--input", tree, "--output", out, "--num_shards", "1", "--image_size", "16"]) == 0
    assert read_labels(out) == ["2019", "2020"]
    assert _info(out)["warnings"] == {
        "classes_from_several_folders": [{"class": "2019", "folders": ["cats/2019", "dogs/2019"]}]
    }
    assert (
        "  warning: class '2019' gathers images from several folders (cats/2019, dogs/2019); "
        "--label_from top takes the class from the first folder under --input"
    ) in capsys.readouterr().out


def test_top_takes_the_first_folder(tmp_path, capsys):
    tree, out = _nested_tree(tmp_path / "in"), str(tmp_path / "out")
    assert (
        main(["--input", tree, "--output", out, "--num_shards", "1", "--label_from", "top", "--image_size", "16"]) == 0
    )
    info = _info(out)
    assert read_labels(out) == ["cats", "dogs"]
    assert info["splits"]["train"]["per_class"] == {"cats": 3, "dogs": 1}
    assert "warnings" not in info and info["label_from"] == "top"
    assert "warning" not in capsys.readouterr().out


def test_top_under_split_folders(tmp_path):
    for path in ("train/cats/2019/a.png", "train/dogs/x/b.png", "test/cats/2020/c.png"):
        save_photo(str(tmp_path / "in" / path), size=(32, 24), fmt="PNG")
    out = str(tmp_path / "out")
    assert (
        main(
            [
                "--input",
                str(tmp_path / "in"),
                "--output",
                out,
                "--splits_from_folders",
                "--label_from",
                "top",
                "--num_shards",
                "1",
            ]
        )
        == 0
    )
    info = _info(out)
    assert info["splits"]["train"]["per_class"] == {"cats": 1, "dogs": 1}
    assert info["splits"]["test"]["per_class"] == {"cats": 1}
