"""`im2tfrecord inspect PREFIX`: check a converted dataset before training on it.

Users need to see that the labels are right before spending GPU hours. This
command reports counts per split and class and shard sizes, checks every
file and record against dataset_info.json (inspect_check.py), and can draw a
contact sheet of sample images per class (contact_sheet.py), so that a
person sees at a glance that the folders became the right classes.

Exit codes: 0 the dataset is valid, 1 problems found, 2 a wrong invocation.
"""

import argparse
import os
import sys
import time


from pipeline import commands
from pipeline import contact_sheet
from pipeline import inspect_report
from pipeline import read
from pipeline.commands import UsageError
from pipeline.inspect_check import run_checks
from pipeline.inspect_info import NotADataset
from pipeline.inspect_info import describe
from transforms.layout import RECORDIO
from transforms.storage import Storage
from transforms.storage import is_s3
from transforms.storage import split_s3_path

_PROG = "im2tfrecord inspect"
_DESCRIPTION = """\
Check a dataset that im2tfrecord wrote, before training on it.

Reports records per split and class (with each class's share), shard sizes
and the rejected input files of errors.jsonl. By default every shard is read
back: its size and sha256 against dataset_info.json, every record's crc32c,
its tf.train.Example features, its label (a class id that agrees with the
class text) and its image, decoded to the recorded size. Every problem is
listed with its shard file and record index.
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


class _Parser(argparse.ArgumentParser):

    def error(self, message):
        raise UsageError(message)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if "-h" in argv or "--help" in argv:
        parser.print_help()
        return 0
    try:
        args = _parse(parser, argv)
    except UsageError as e:
        return commands.fail(_PROG, str(e), code=2)
    settings = commands.s3_settings_from_args(args)
    secrets = commands.secrets_of(settings)
    with commands.redacted_logging(args.log_level, secrets):
        return commands.run(_PROG, lambda: _run(args, settings), secrets, failed="inspecting failed")


def _run(args, settings):
    start = time.monotonic()
    prefix = args.prefix.rstrip("/") or args.prefix
    info = _read_info(Storage(settings, max_attempts=commands.PREFLIGHT_S3_ATTEMPTS), prefix)
    try:
        dataset = describe(prefix, info, args.split)
    except NotADataset as e:
        raise UsageError(f"{prefix}: {e}") from None
    except KeyError as e:
        raise UsageError(f"--split {e.args[0]}: {prefix} has no such split "
                         f"(it has {', '.join(info['splits'])})") from None
    if args.contact_sheet and dataset.format == RECORDIO:
        raise UsageError("--contact_sheet needs TFRecord shards: RecordIO records are not read yet")
    samples = None
    if args.contact_sheet:
        samples = contact_sheet.Samples(args.samples_per_class, len(dataset.labels))
    findings = run_checks(Storage(settings), dataset, quick=args.quick, samples=samples)
    sheets = _draw_contact_sheet(args, dataset, samples) if samples else []
    doc = inspect_report.report(dataset, findings, time.monotonic() - start, sheets)
    text = inspect_report.format_json(doc) if args.json else inspect_report.format_text(doc)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `... | head`: the exit code still tells the outcome.
        sys.stdout = open(os.devnull, "w")
    return 0 if doc["valid"] else 1


def _read_info(storage, prefix):
    """dataset_info.json as a dict; UsageError when there is none to read."""
    bucket = split_s3_path(prefix)[0] if is_s3(prefix) else None
    try:
        return commands.s3_call(lambda: read.read_info(storage, prefix), prefix, bucket)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None


def _draw_contact_sheet(args, dataset, samples):
    by_class = samples.by_class()
    counts = [sum((dataset.info["splits"][split].get("per_class") or {}).get(name, 0)
                  for split in dataset.splits) for name in dataset.labels]
    rows = [contact_sheet.Row(label, name, tuple(by_class[label]), f"{counts[label]} images")
            for label, name in enumerate(dataset.labels)]
    title = (f"{dataset.prefix} ({', '.join(dataset.splits)}): first {args.samples_per_class} "
             "images of each class in record order")
    has_names = "filename" in dataset.record_spec().keys
    pages = contact_sheet.render(rows, args.samples_per_class, title,
                                 captions=has_names and not args.no_filenames)
    return contact_sheet.save(pages, args.contact_sheet)


def _parser():
    parser = _Parser(prog=_PROG, usage="%(prog)s PREFIX [--quick] [--contact_sheet PATH] [options]",
                     description=_DESCRIPTION, epilog=_EPILOG, allow_abbrev=False,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefix", metavar="PREFIX",
                        help="Folder or s3:// prefix of the dataset (where dataset_info.json is).")
    parser.add_argument("--quick", action="store_true",
                        help="Only dataset_info.json, labels.txt and file sizes: no record is read "
                             "(but those a --contact_sheet needs).")
    parser.add_argument("--split", action="append", metavar="NAME",
                        help="Inspect only this split; repeat for more (default: all).")
    parser.add_argument("--contact_sheet", "--contact-sheet", metavar="PATH",
                        help="Write a PNG contact sheet here (a local path): a row of sample "
                             "images per class.")
    parser.add_argument("--samples_per_class", type=int, default=_DEFAULT_SAMPLES, metavar="N",
                        help="Images per class on the contact sheet (default: %(default)s).")
    parser.add_argument("--no_filenames", action="store_true",
                        help="No file names under the contact sheet's images.")
    parser.add_argument("--json", action="store_true",
                        help="Print the report as JSON (valid, splits, per-class counts, problems).")
    commands.add_s3_arguments(parser)
    parser.add_argument("--log_level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="Logging level (default: %(default)s).")
    return parser


def _parse(parser, argv):
    args, unknown = parser.parse_known_args(argv)
    commands.reject_unknown(parser, unknown)
    if not 1 <= args.samples_per_class <= _MAX_SAMPLES:
        raise UsageError(f"--samples_per_class must be 1 to {_MAX_SAMPLES}, "
                         f"got {args.samples_per_class}")
    if args.contact_sheet:
        _check_sheet_path(args.contact_sheet)
    return args


def _check_sheet_path(path):
    if "://" in path:
        raise UsageError(f"--contact_sheet {path}: must be a local path")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"--contact_sheet {path}: folder {folder} does not exist")
