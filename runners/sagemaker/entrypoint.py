"""The SageMaker Processing container's entrypoint: the im2tfrecord command line,
fitted to the Processing contract.

SageMaker Processing copies each input channel from S3 into a folder under
/opt/ml/processing/input/ before the container starts, uploads the folders
under /opt/ml/processing/output/ to S3 after it exits, passes the job's
ContainerArguments as argv, sends stdout and stderr to CloudWatch, and fails
the job when the container exits non-zero. So this module only fills in
paths (and, with several instances, each one's part) and then runs
`pipeline.convert.main.main`, whose exit code it returns:

- --input defaults to <root>/input/images and --output to
  <root>/output/tfrecords; s3:// URIs or other paths given as arguments are
  used as they are (read and written directly, no channel).
- With several instances (resourceconfig.json lists more than one host) they
  make one dataset together (transforms/parts.py): each plans the whole
  input, read straight from S3 (`--input s3://...`), and writes part K of N
  of the shards (`--write_part`, K its place among resourceconfig.json's
  hosts, sorted), each shard with its resume record; SageMaker uploads every
  instance's output into the one prefix, and a one-instance job over the
  same input with `--output` that prefix finishes the dataset (the
  launcher prints its command). The input is not a channel then: every
  instance and the finishing run must plan the same paths.

The root (/opt/ml/processing) and the config folder (/opt/ml/config) can be
moved (IM2TFRECORD_PROCESSING_ROOT and IM2TFRECORD_CONFIG_DIR, or
--processing_root and --config_dir) so tests run this same code against a
temporary tree. Paths in the arguments under /opt/ml/processing are moved with
the root, so the launcher's arguments work unchanged there.
"""

import argparse
import json
import os
import sys

PROG = "im2tfrecord-sagemaker"

# Fixed by SageMaker: every channel's LocalPath must be under this folder.
DEFAULT_PROCESSING_ROOT = "/opt/ml/processing"
# Where SageMaker writes resourceconfig.json (current_host, hosts).
DEFAULT_CONFIG_DIR = "/opt/ml/config"
RESOURCE_CONFIG_FILE = "resourceconfig.json"
# SageMaker shows the first 1 KB of this file as the job's ExitMessage
# (DescribeProcessingJob; FailureReason is its own, "AlgorithmError: ...").
DEFAULT_FAILURE_FILE = "/opt/ml/output/message"
FAILURE_FILE_ENV = "IM2TFRECORD_FAILURE_FILE"
ROOT_ENV = "IM2TFRECORD_PROCESSING_ROOT"
CONFIG_DIR_ENV = "IM2TFRECORD_CONFIG_DIR"

# Channel names, shared with the launcher: each is both the InputName or
# OutputName of the request and the folder it lands in.
IMAGES_CHANNEL = "images"
LABELS_CHANNEL = "labels"
OUTPUT_CHANNEL = "tfrecords"


# Set per instance from resourceconfig.json when there are several.
PART_FLAG = "--write_part"


def several_instances_error(count, input_path, pipeline_args):
    """Why `count` instances cannot convert `input_path` (None: a channel)
    with `pipeline_args`, or None. The one rule for the launcher and for
    each instance."""
    if count < 2:
        return None
    if any(a == PART_FLAG or a.startswith(PART_FLAG + "=") for a in pipeline_args):
        return f"{PART_FLAG} is set on each of the {count} instances here (its place among the hosts): drop it"
    if not (input_path or "").startswith("s3://"):
        return (
            f"{count} instances make one dataset in parts, each planning the whole input at the paths the "
            "finishing run will see: give it as `--input s3://...`, not as a channel"
        )
    return None


class _UsageError(Exception):
    """A wrong invocation: the message says what to change."""


def images_dir(root=DEFAULT_PROCESSING_ROOT):
    return f"{root}/input/{IMAGES_CHANNEL}"


def labels_dir(root=DEFAULT_PROCESSING_ROOT):
    return f"{root}/input/{LABELS_CHANNEL}"


def output_dir(root=DEFAULT_PROCESSING_ROOT):
    return f"{root}/output/{OUTPUT_CHANNEL}"


def main(argv=None, environ=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    # Imported here, not at the top: the launcher imports this module for its
    # constants and should not need Beam.
    from pipeline.convert import main as cli

    if "-h" in argv or "--help" in argv:
        return cli.main(["--help"])
    try:
        ours, rest = _Parser().parse_known_args(argv)
        root = ours.processing_root or environ.get(ROOT_ENV) or DEFAULT_PROCESSING_ROOT
        config_dir = ours.config_dir or environ.get(CONFIG_DIR_ENV) or DEFAULT_CONFIG_DIR
        host, hosts = _hosts(config_dir)
        problem = several_instances_error(len(hosts), ours.input, rest)
        if problem:
            raise _UsageError(problem)
        paths = _paths(ours, root)
    except _UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        _write_failure(environ.get(FAILURE_FILE_ENV) or DEFAULT_FAILURE_FILE, f"{PROG}: error: {e}")
        return 2
    # Paths only: the other arguments may hold S3 credentials, which must
    # not reach CloudWatch.
    args = [item for flag, value in paths.items() for item in (f"--{flag}", value)]
    where = "one instance"
    if len(hosts) > 1:
        part = f"{sorted(hosts).index(host) + 1}/{len(hosts)}"  # Sorted: the same order on every instance.
        where = f"host {host} of {len(hosts)}, part {part} of the shards"
        args += [PART_FLAG, part]
    print(f"{PROG}: {where}; " + "; ".join(f"{k} {v}" for k, v in paths.items()), flush=True)
    errors = _LastErrorLine(sys.stderr)
    sys.stderr = errors
    try:
        code = cli.main(args + rest)  # SIGTERM (a stop request) ends it with 143.
    finally:
        sys.stderr = errors.stream
    sys.stdout.flush()
    if code != 0:
        _write_failure(
            environ.get(FAILURE_FILE_ENV) or DEFAULT_FAILURE_FILE, errors.last or f"{PROG}: exit code {code}"
        )
    return code


class _LastErrorLine:
    """stderr as it is, keeping the last `... error: ...` line for SageMaker."""

    def __init__(self, stream):
        self.stream = stream
        self.last = None

    def write(self, text):
        for line in text.splitlines():
            if ": error: " in line:
                self.last = line
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _write_failure(path, line):
    """The one-line reason, where SageMaker looks for it (its limit is 1 KiB)."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(line[:1024])
    except OSError as e:
        print(f"{PROG}: cannot write the exit message to {path}: {e}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """Only the flags this module reads; everything else goes to the pipeline
    untouched."""

    def __init__(self):
        super().__init__(prog=PROG, add_help=False, allow_abbrev=False)
        for flag in ("--processing_root", "--config_dir", "--input", "--output", "--labels_file"):
            self.add_argument(flag)

    def error(self, message):  # argparse would print usage and exit.
        raise _UsageError(message)


def _hosts(config_dir):
    """(current_host, hosts) from resourceconfig.json; (None, []) without one."""
    path = os.path.join(config_dir, RESOURCE_CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    except FileNotFoundError:  # Outside SageMaker (docker run, tests): one instance.
        return None, []
    except (OSError, ValueError) as e:
        raise _UsageError(f"cannot read {path}: {e}") from None
    host, hosts = config.get("current_host"), list(config.get("hosts") or [])
    if len(hosts) > 1 and host not in hosts:
        raise _UsageError(f"{path}: current_host {host!r} is not one of hosts {hosts}")
    return host, hosts


def _paths(ours, root):
    """The pipeline's --input, --output and --labels_file for this instance."""
    paths = {
        "input": _under_root(ours.input, root) or images_dir(root),
        "output": _under_root(ours.output, root) or output_dir(root),
    }
    labels_file = _under_root(ours.labels_file, root)
    if labels_file:
        paths["labels_file"] = labels_file
    return paths


def _under_root(path, root):
    """A path written for /opt/ml/processing, moved to `root`."""
    if (
        path
        and root != DEFAULT_PROCESSING_ROOT
        and (path == DEFAULT_PROCESSING_ROOT or path.startswith(DEFAULT_PROCESSING_ROOT + "/"))
    ):
        return root.rstrip("/") + path[len(DEFAULT_PROCESSING_ROOT) :]
    return path


if __name__ == "__main__":
    sys.exit(main())
