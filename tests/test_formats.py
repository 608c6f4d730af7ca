"""transforms/formats/: every record format's adapter, through one contract."""

import io

import pytest

from tests.records import jpeg_bytes
from transforms import formats
from transforms import schema as schemas
from transforms.converting import DecodedImage
from transforms.imaging import ConvertedImage
from transforms.layout import parse_shard_name

LABEL_IDS = {"ants": 0, "bees": 1}


def _images():
    return [
        DecodedImage(
            label,
            f"{label}/{n}.jpg",
            ConvertedImage(
                encoded=jpeg_bytes((8 + n, 6), (10 * n, 0, 0)), width=8 + n, height=6, channels=3, format="JPEG"
            ),
        )
        for n, label in enumerate(["bees", "ants", "bees"])
    ]


def _written(record_format, schema):
    sink = io.BytesIO()
    writer = record_format.shard_writer(sink, LABEL_IDS, schema)
    for image in _images():
        writer.write(image)
    return sink.getvalue(), writer.side_files()


@pytest.mark.parametrize("name,schema", [("tfrecord", "default"), ("tfrecord", "simple"), ("recordio", None)])
def test_written_records_read_back_with_their_label_and_image(name, schema):
    record_format = formats.get(name)
    data, side_files = _written(record_format, schema)
    payloads = list(record_format.iter_records(io.BytesIO(data)))
    assert len(payloads) == 3
    for payload, image in zip(payloads, _images()):
        values, issues = record_format.fields(payload, schema)
        assert issues == []
        assert (values["label"], values["image"]) == (LABEL_IDS[image.label], image.image.encoded)
    assert set(side_files) == set(record_format.side_suffixes)
    for role, (suffix, _) in side_files.items():
        assert suffix == record_format.side_suffixes[role]


def test_tfrecord_default_schema_holds_every_role_of_the_table():
    record_format = formats.get("tfrecord")
    data, _ = _written(record_format, "default")
    values, _ = record_format.fields(next(record_format.iter_records(io.BytesIO(data))), "default")
    assert set(values) == set(schemas.KEYS["default"])
    assert (values["text"], values["filename"], values["width"], values["height"]) == (b"bees", b"bees/0.jpg", 8, 6)


def test_recordio_index_and_list_describe_the_records():
    data, side_files = _written(formats.get("recordio"), None)
    offsets = [int(line.split("\t")[1]) for line in side_files["index_file"][1].decode().splitlines()]
    assert offsets[0] == 0 and offsets == sorted(offsets) and offsets[-1] < len(data)
    assert side_files["list_file"][1].decode().splitlines() == [
        "0\t1.000000\tbees/0.jpg",
        "1\t0.000000\tants/1.jpg",
        "2\t1.000000\tbees/2.jpg",
    ]


def test_every_suffix_makes_a_shard_name_and_formats_are_known_by_name():
    for name in formats.NAMES:
        record_format = formats.get(name)
        assert record_format.name == name
        for suffix in (record_format.suffix, *record_format.side_suffixes.values()):
            assert parse_shard_name(f"train-00001-of-00004{suffix}") == ("train", 1, 4)
    assert len(set(formats.all_suffixes())) == len(formats.all_suffixes())
    with pytest.raises(ValueError, match="unknown record format 'csv'"):
        formats.get("csv")


def test_fields_name_what_is_wrong_with_a_record():
    _, issues = formats.get("tfrecord").fields(b"\xff\xff\xff", "default")
    assert [reason for reason, _ in issues] == ["bad_example"]
    recordio = formats.get("recordio")
    assert [r for r, _ in recordio.fields(b"short", None)[1]] == ["bad_record"]
