"""pipeline.read: what the converter wrote, on disk and on S3, read back by
both readers and compared with the source images."""

import collections
import io
import json
import os
import shutil
import subprocess
import sys
import uuid

import numpy as np
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image

from pipeline import main
from pipeline import read
from tests.conftest import ACCESS_KEY
from tests.conftest import HYMENOPTERA
from tests.conftest import REGION
from tests.conftest import SECRET_KEY
from tests.conftest import needs_hymenoptera
from tests.records import mean_color
from tests.records import save_image
from transforms import storage
from transforms.formats import tfrecord

COLORS = {"blue": (40, 60, 200), "green": (30, 170, 60), "red": (200, 30, 30)}
LABELS = sorted(COLORS)
# Source sizes (width, height), and the stored (height, width) at --image_size 32,
# shorter_side: the shorter side becomes 32, never upscaled.
SIZES = {(64, 32): (32, 64), (96, 48): (32, 64), (40, 80): (64, 32)}
PER_CLASS = 6
# A solid color survives JPEG at quality 90 within this much per channel.
JPEG_TOLERANCE = 4

# One source image: its class, its (height, width) once stored, and the color
# of its every pixel as Pillow decodes it (a JPEG source may be 1 off COLORS).
Source = collections.namedtuple("Source", "label shape pixel")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """(root, {path below root: Source}): solid JPEGs and PNGs of 3 classes."""
    root = tmp_path_factory.mktemp("source")
    sources = {}
    for label, color in COLORS.items():
        for n in range(PER_CLASS):
            size = list(SIZES)[n % len(SIZES)]
            ext, fmt = ("png", "PNG") if n % 2 else ("jpg", "JPEG")
            name = f"{label}/{label}_{n}.{ext}"
            save_image(str(root / name), size=size, color=color, fmt=fmt)
            pixels = np.asarray(Image.open(root / name))
            assert (pixels == pixels[0, 0]).all()
            sources[name] = Source(label, SIZES[size], tuple(pixels[0, 0]))
    return str(root), sources


def _convert(source, output, *flags):
    assert main(["--input", source, "--output", output, *flags]) == 0


@pytest.fixture(scope="module")
def local(tree, tmp_path_factory):
    """JPEG shards on disk: train in 3 shards, validation in 1."""
    output = str(tmp_path_factory.mktemp("local") / "shards")
    _convert(
        tree[0], output, "--image_size", "32", "--validation_ratio", "0.25", "--num_shards", "train=3,validation=1"
    )
    return output


@pytest.fixture(scope="module")
def s3_flags_module(s3_endpoint):
    return [
        f"--s3_endpoint_url={s3_endpoint}",
        f"--s3_access_key_id={ACCESS_KEY}",
        f"--s3_secret_access_key={SECRET_KEY}",
        f"--s3_region_name={REGION}",
    ]


@pytest.fixture(scope="module")
def s3_settings(s3_flags_module):
    """The reader's S3 settings, built from the converter's flags as documented."""
    return storage.s3_settings(PipelineOptions(s3_flags_module))


@pytest.fixture(scope="module")
def remote(tree, s3_client, s3_flags_module):
    """PNG shards on S3, every image stretched to 24x24: exact pixels, one shape."""
    bucket = f"test-read-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    _convert(
        tree[0],
        f"s3://{bucket}/shards",
        "--image_format",
        "png",
        "--resize_mode",
        "exact",
        "--image_size",
        "24",
        "--num_shards",
        "2",
        *s3_flags_module,
    )
    return bucket, f"s3://{bucket}/shards"


def _dicts(prefix, split="train", **kwargs):
    return list(read.iter_examples(prefix, split, as_supervised=False, **kwargs))


def _pairs(dataset):
    return [(image.numpy(), int(label)) for image, label in dataset]


def _near(pixels, color, tolerance=JPEG_TOLERANCE):
    return max(abs(a - b) for a, b in zip(mean_color(pixels), color)) <= tolerance


def _copy(prefix, target):
    shutil.copytree(prefix, target)
    return str(target)


def test_info_names_the_classes_and_counts_the_splits(local):
    info = read.load_info(local)
    assert info["labels"] == LABELS
    assert read.num_examples(info, "train") + read.num_examples(info, "validation") == 3 * PER_CLASS
    per_class = collections.Counter()
    for split in ("train", "validation"):
        per_class.update(info["splits"][split]["per_class"])
    assert per_class == {label: PER_CLASS for label in LABELS}


def test_iterator_yields_every_source_image_once_with_its_label_and_pixels(local, tree):
    info = read.load_info(local)
    seen = []
    for split in ("train", "validation"):
        items = _dicts(local, split)
        assert len(items) == read.num_examples(info, split)
        for item in items:
            label, (height, width), _ = tree[1][item["filename"]]
            assert item["class_name"] == label and item["label"] == LABELS.index(label)
            assert item["image"].dtype == np.uint8 and item["image"].shape == (height, width, 3)
            assert _near(item["image"], COLORS[label])
        assert collections.Counter(i["class_name"] for i in items) == info["splits"][split]["per_class"]
        pairs = list(read.iter_examples(local, split))
        assert [label for _, label in pairs] == [item["label"] for item in items]
        assert all(np.array_equal(image, item["image"]) for (image, _), item in zip(pairs, items))
        seen += [item["filename"] for item in items]
    assert sorted(seen) == sorted(tree[1])


def test_iterator_without_decoding_gives_the_stored_jpeg(local):
    encoded = _dicts(local, decode=False)
    decoded = _dicts(local)
    assert all(item["image"].startswith(b"\xff\xd8\xff") for item in encoded)
    for raw, item in zip(encoded, decoded):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(raw["image"]))), item["image"])


def test_tf_dataset_reads_what_the_iterator_reads(local):
    info = read.load_info(local)
    for split in ("train", "validation"):
        dataset = read.tf_dataset(local, split)
        assert dataset.element_spec[0].shape.as_list() == [None, None, 3]
        assert dataset.element_spec[1].dtype == tf.int64
        pairs = _pairs(dataset)
        assert len(pairs) == read.num_examples(info, split)
        for image, label in pairs:
            assert image.dtype == np.uint8 and _near(image, COLORS[LABELS[label]])
        iterated = [(item["label"], item["image"].shape) for item in _dicts(local, split)]
        assert sorted((label, image.shape) for image, label in pairs) == sorted(iterated)


def test_s3_shards_decode_exactly_in_both_readers(remote, s3_settings, tree):
    _, prefix = remote
    info = read.load_info(prefix, s3=s3_settings)
    assert info["labels"] == LABELS
    items = _dicts(prefix, s3=s3_settings)
    assert len(items) == read.num_examples(info, "train") == 3 * PER_CLASS
    assert sorted(item["filename"] for item in items) == sorted(tree[1])
    for item in items:
        source = tree[1][item["filename"]]
        assert item["class_name"] == source.label and item["label"] == LABELS.index(source.label)
        assert np.array_equal(item["image"], np.full((24, 24, 3), source.pixel, np.uint8))

    dataset = read.tf_dataset(prefix, s3=s3_settings)
    assert dataset.element_spec[0].shape.as_list() == [24, 24, 3]  # --resize_mode exact
    pixels = {(s.label, s.pixel) for s in tree[1].values()}
    pairs = _pairs(dataset)
    for image, label in pairs:
        assert (image == image[0, 0]).all() and (LABELS[label], tuple(image[0, 0])) in pixels
    assert sorted((label, image.tobytes()) for image, label in pairs) == sorted(
        (item["label"], item["image"].tobytes()) for item in items
    )


def test_without_s3_settings_boto3_finds_its_own(remote, s3_endpoint, monkeypatch):
    """s3=None: boto3's default chain, as on SageMaker or EMR (here, the environment)."""
    for name, value in (
        ("AWS_ENDPOINT_URL", s3_endpoint),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_DEFAULT_REGION", REGION),
    ):
        monkeypatch.setenv(name, value)
    _, prefix = remote
    assert read.load_info(prefix)["labels"] == LABELS
    assert len(list(read.iter_examples(prefix, decode=False))) == 3 * PER_CLASS


def test_grayscale_simple_schema_has_one_channel(tree, tmp_path):
    output = str(tmp_path / "gray")
    _convert(
        tree[0], output, "--color", "grayscale", "--schema", "simple", "--image_format", "png", "--num_shards", "1"
    )
    gray = collections.defaultdict(set)  # class -> the gray levels of its sources
    for source in tree[1].values():
        gray[source.label].add(Image.new("RGB", (1, 1), source.pixel).convert("L").getpixel((0, 0)))
    items = _dicts(output)
    assert len(items) == 3 * PER_CLASS
    for item in items:
        assert item["filename"] is None  # The simple schema stores image and label only.
        assert item["image"].ndim == 3 and item["image"].shape[2] == 1
        assert (item["image"] == item["image"][0, 0]).all()
        assert item["image"][0, 0, 0] in gray[item["class_name"]]
    pairs = _pairs(read.tf_dataset(output))
    assert sorted((label, image.tobytes()) for image, label in pairs) == sorted(
        (item["label"], item["image"].tobytes()) for item in items
    )


# validation is one shard: there only the buffer can reorder records.
@pytest.mark.parametrize("split", ["train", "validation"])
def test_iterator_shuffle_with_a_seed_repeats_and_permutes(local, split):
    def order(**kwargs):
        return [item["filename"] for item in _dicts(local, split, decode=False, **kwargs)]

    plain = order()
    shuffled = order(shuffle_buffer=4, seed=7)
    assert shuffled == order(shuffle_buffer=4, seed=7)
    assert sorted(shuffled) == sorted(plain) and shuffled != plain
    assert order(shuffle_buffer=4, seed=8) != shuffled


@pytest.mark.parametrize("split", ["train", "validation"])
def test_tf_dataset_shuffle_with_a_seed_repeats_and_permutes(local, split):
    def order(**kwargs):
        dataset = read.tf_dataset(local, split, **kwargs)
        return [(label, image.tobytes()) for image, label in _pairs(dataset)]

    plain = order()
    shuffled = order(shuffle_buffer=5, seed=7)
    assert shuffled == order(shuffle_buffer=5, seed=7)
    assert sorted(shuffled) == sorted(plain) and shuffled != plain


def test_resize_gives_a_static_shape_and_keeps_the_colors(local):
    for image_size, shape in (((20, 30), [20, 30, 3]), (16, [16, 16, 3])):
        dataset = read.tf_dataset(local, image_size=image_size)
        assert dataset.element_spec[0].shape.as_list() == shape
        pairs = _pairs(dataset)
        assert len(pairs) == read.num_examples(read.load_info(local), "train")
        for image, label in pairs:
            assert list(image.shape) == shape and image.dtype == np.uint8
            assert _near(image, COLORS[LABELS[label]])


def _flip_byte(path):
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))


def test_a_corrupt_shard_is_named(local, tmp_path):
    copy = _copy(local, tmp_path / "copy")
    shard = os.path.join(copy, "train-00001-of-00003.tfrecord")
    _flip_byte(shard)
    with pytest.raises(read.CorruptShardError, match=f"{shard}: corrupt record"):
        _dicts(copy)
    # TensorFlow's own reader finds it too, but its error does not name the file.
    with pytest.raises(tf.errors.DataLossError):
        _pairs(read.tf_dataset(copy))


def test_decoding_threads_yield_every_record_before_the_damage(local, tmp_path):
    """As one thread does: the damaged shard's error comes after the records before it."""
    copy = _copy(local, tmp_path / "copy")
    _flip_byte(os.path.join(copy, "train-00001-of-00003.tfrecord"))
    read_before = []
    for threads in (1, 3):
        got = []
        with pytest.raises(read.CorruptShardError):
            for item in read.iter_examples(copy, as_supervised=False, decode_threads=threads):
                got.append(item["filename"])
        read_before.append(got)
    assert read_before[1] == read_before[0]
    assert len(read_before[0]) >= read.load_info(copy)["splits"]["train"]["shards"][0]["num_examples"]


def test_a_shard_changed_after_writing_fails_its_checks(local, tmp_path):
    copy = _copy(local, tmp_path / "copy")
    shard = os.path.join(copy, "train-00000-of-00003.tfrecord")
    records = list(tfrecord.read_records(open(shard, "rb").read()))
    other = next(i for i, record in enumerate(records) if record != records[0])
    swapped = [records[other], *records[1:other], records[0], *records[other + 1 :]]
    with open(shard, "wb") as f:  # Every record intact, two of them swapped.
        f.write(b"".join(tfrecord.frame(record) for record in swapped))
    with pytest.raises(read.CorruptShardError, match=f"{shard}: sha256 .* differs"):
        _dicts(copy)
    with open(shard, "wb") as f:  # Cut at a record boundary: every crc still right.
        f.write(b"".join(tfrecord.frame(record) for record in records[:-1]))
    with pytest.raises(read.CorruptShardError, match=f"{shard}: {len(records) - 1} records, but"):
        _dicts(copy)


def test_a_corrupt_or_missing_s3_shard_is_named(remote, s3_client, s3_settings):
    bucket, _ = remote
    for item in s3_client.list_objects_v2(Bucket=bucket, Prefix="shards/")["Contents"]:
        s3_client.copy_object(
            Bucket=bucket,
            Key="corrupt/" + item["Key"][len("shards/") :],
            CopySource={"Bucket": bucket, "Key": item["Key"]},
        )
    key = "corrupt/train-00001-of-00002.tfrecord"
    data = bytearray(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0xFF
    s3_client.put_object(Bucket=bucket, Key=key, Body=bytes(data))
    with pytest.raises(tf.errors.OpError, match=f"CorruptShardError: s3://{bucket}/{key}: corrupt"):
        _pairs(read.tf_dataset(f"s3://{bucket}/corrupt", s3=s3_settings))
    missing = "corrupt/train-00000-of-00002.tfrecord"
    s3_client.delete_object(Bucket=bucket, Key=missing)
    with pytest.raises(OSError, match=f"s3://{bucket}/{missing}: .*NoSuchKey"):
        _dicts(f"s3://{bucket}/corrupt", s3=s3_settings)


def test_a_folder_without_dataset_info_is_refused(local, remote, s3_settings, tmp_path):
    copy = _copy(local, tmp_path / "copy")
    os.remove(os.path.join(copy, "dataset_info.json"))
    bucket, _ = remote
    for prefix, s3 in ((copy, None), (f"s3://{bucket}/nothing-here", s3_settings)):
        message = f"not an im2tfrecord dataset \\(no dataset_info.json\\): {prefix}"
        for reader in (read.load_info, read.iter_examples, read.tf_dataset):
            with pytest.raises(FileNotFoundError, match=message):
                reader(prefix, s3=s3)  # The iterator checks when it is made, not when read.


def test_an_unknown_split_or_format_is_refused(local, tmp_path):
    with pytest.raises(ValueError, match="no split 'test'; it has train, validation"):
        read.iter_examples(local, "test")
    copy = _copy(local, tmp_path / "copy")
    path = os.path.join(copy, "dataset_info.json")
    info = json.load(open(path))
    json.dump({**info, "format": "parquet"}, open(path, "w"))
    assert read.load_info(copy)["labels"] == LABELS  # Class names and counts still read.
    for reader in (read.iter_examples, read.tf_dataset):
        with pytest.raises(ValueError, match="unknown record format 'parquet': one of tfrecord, recordio"):
            reader(copy)


def test_recordio_reads_as_the_same_records_as_tfrecord(tree, local, tmp_path):
    """The same input and options in either --format: the same images, labels
    and order, read through each format's adapter."""
    recordio = str(tmp_path / "recordio")
    _convert(
        tree[0],
        recordio,
        "--image_size",
        "32",
        "--validation_ratio",
        "0.25",
        "--num_shards",
        "train=3,validation=1",
        "--format",
        "recordio",
    )
    for split in ("train", "validation"):
        expected = [(item["image"], item["label"]) for item in _dicts(local, split, decode=False)]
        assert len(expected) == read.num_examples(read.load_info(local), split)
        assert list(read.iter_examples(recordio, split, decode=False)) == expected
        items = _dicts(recordio, split)
        assert [item["filename"] for item in items] == [None] * len(expected)  # In the .lst, not the record.
        assert all(_near(item["image"], COLORS[item["class_name"]]) for item in items)
    with pytest.raises(ValueError, match="tf_dataset reads tfrecord datasets; this one is recordio"):
        read.tf_dataset(recordio)


def test_the_iterator_needs_no_tensorflow_and_no_beam(local):
    code = (
        "import sys; from pipeline import read; "
        "assert not [m for m in sys.modules if m.startswith('apache_beam')], 'Beam imported'; "
        f"n = sum(1 for _ in read.iter_examples({local!r})); "
        "assert 'tensorflow' not in sys.modules and 'apache_beam' not in sys.modules; print(n)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout) == read.num_examples(read.load_info(local), "train")


@needs_hymenoptera
def test_hymenoptera_reads_back_as_the_source_photos(tmp_path):
    output = str(tmp_path / "shards")
    _convert(HYMENOPTERA, output, "--image_size", "64", "--num_shards", "4", "--validation_ratio", "0.2")
    info = read.load_info(output)
    assert info["labels"] == ["ants", "bees"]
    written = 0
    for split in ("train", "validation"):
        items = _dicts(output, split)
        assert len(items) == read.num_examples(info, split)
        assert collections.Counter(i["class_name"] for i in items) == info["splits"][split]["per_class"]
        for item in items:
            assert item["filename"].split("/")[0] == item["class_name"]
            assert min(item["image"].shape[:2]) <= 64 and item["image"].shape[2] == 3
            with Image.open(os.path.join(HYMENOPTERA, item["filename"])) as source:
                if source.format == "JPEG":  # Means survive resizing; alpha would not.
                    assert _near(item["image"], mean_color(np.asarray(source.convert("RGB"))), 8)
        pairs = _pairs(read.tf_dataset(output, split))
        assert sorted(label for _, label in pairs) == sorted(item["label"] for item in items)
        written += len(items)
    assert written == info["counts"]["written"]


def test_unreachable_s3_datasets_fail_with_one_clear_error(remote, s3_settings, monkeypatch, tmp_path):
    _, prefix = remote
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    no_keys = {k: v for k, v in s3_settings.items() if not k.startswith("aws_")}
    with pytest.raises(read.DatasetUnreadableError, match=r"dataset_info.json: no S3 credentials found"):
        read.load_info(prefix, s3=no_keys)
    wrong = dict(s3_settings, endpoint_url="http://127.0.0.1:9")
    with pytest.raises(read.DatasetUnreadableError, match=r"the S3 endpoint does not answer"):
        read.load_info(prefix, s3=wrong)
