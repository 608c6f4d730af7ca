"""Starts an im2tfrecord SageMaker Processing job.

    python -m runners.sagemaker.launch --image_uri URI --role ARN \\
        --input_s3 s3://bucket/photos --output_s3 s3://bucket/shards \\
        -- --num_shards 8 --image_size 224

Everything after `--` is passed to the pipeline as the job's arguments.

The request is built here as the plain CreateProcessingJob structure, so
--dry-run prints exactly what would be sent, and needs neither the SageMaker
SDK nor boto3 credentials nor a network. Without --dry-run the job is started
with the SageMaker Python SDK when it is installed, else with boto3's
sagemaker client; both send this same request.

With more than one instance the instances make one dataset in parts (see
entrypoint.py and transforms/parts.py): each plans the whole input, read
straight from S3 (`-- --input s3://...`, not a channel), and writes its part
of the shards; SageMaker uploads them all into --output_s3. When that job
has completed, a one-instance job over the same input, writing straight into
that prefix, finishes the dataset: it keeps every part's shards and writes
dataset_info.json. The launcher prints that second command (with the
pipeline arguments as given, credentials included, as they were typed).
"""

import argparse
import json
import re
import shlex
import sys
import time

from runners.sagemaker import entrypoint

PROG = "im2tfrecord-sagemaker"

# General purpose, 4 vCPUs and 16 GiB: decoding is CPU bound and a worker
# holds a bounded number of images, so memory-heavy types buy nothing.
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
# GB of EBS per instance. In File mode the volume holds the images channel's
# copy and the shards made from it; the SDK's default.
DEFAULT_VOLUME_SIZE_GB = 30
# SageMaker's own default limit, 24 hours.
DEFAULT_MAX_RUNTIME_S = 24 * 60 * 60
# CreateProcessingJob's rule for ProcessingJobName.
_JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_PIPELINE_FLAGS = ("--input", "--output", "--labels_file")


class _UsageError(Exception):
    """A wrong invocation: the message says what to change."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit.
        raise _UsageError(message)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    own, pipeline_args = _split(argv)
    parser = _parser()
    if "-h" in own or "--help" in own:
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(own)
        request = build_request(args, pipeline_args)
    except _UsageError as e:
        return _fail(str(e), code=2)
    finish = None
    if args.instance_count > 1:
        finish = (
            "  then, once it has completed, finish the dataset with one instance:\n"
            f"    {finishing_command(args, pipeline_args, request['ProcessingJobName'])}"
        )
    if args.dry_run:
        print(json.dumps(request, indent=2))
        if finish:  # stdout stays the request alone.
            print(finish, file=sys.stderr)
        return 0
    code = _submit(request)
    if code == 0 and finish:
        print(finish)
    return code


def _split(argv):
    """(launcher arguments, pipeline arguments): the pipeline's come after `--`."""
    if "--" in argv:
        cut = argv.index("--")
        return argv[:cut], argv[cut + 1 :]
    return argv, []


def _parser():
    parser = _Parser(
        prog="python -m runners.sagemaker.launch",
        usage="%(prog)s --image_uri URI --role ARN [--input_s3 S3] [--output_s3 S3] [options] [-- pipeline arguments]",
        description="Start an im2tfrecord SageMaker Processing job. Arguments after `--` go "
        "to the pipeline (see `im2tfrecord --help`).",
        allow_abbrev=False,
    )
    parser.add_argument(
        "--image_uri", required=True, help="ECR URI of the image built from runners/sagemaker/Dockerfile."
    )
    parser.add_argument(
        "--role", required=True, help="ARN of the IAM role the job runs as (reads and writes the S3 URIs)."
    )
    parser.add_argument(
        "--instance_type", default=DEFAULT_INSTANCE_TYPE, help="SageMaker instance type (default: %(default)s)."
    )
    parser.add_argument(
        "--instance_count",
        type=int,
        default=1,
        help="With more than 1, the instances make one dataset in parts: each plans the whole input, "
        "given as `-- --input s3://...`, and writes its part of the shards; a one-instance job then "
        "finishes it (the command is printed) (default: %(default)s).",
    )
    parser.add_argument(
        "--input_s3",
        help="s3:// prefix of <label>/<image> files, copied to the instance as "
        "the 'images' channel (one instance only). Alternatively pass "
        "`-- --input s3://...` to read directly.",
    )
    parser.add_argument(
        "--output_s3",
        help="s3:// prefix that receives the shards when the job ends. "
        "Alternatively pass `-- --output s3://...` to write directly.",
    )
    parser.add_argument(
        "--labels_file_s3",
        help="s3:// URI of a labels file (one class per line), copied to every "
        "instance as the 'labels' channel and passed as --labels_file.",
    )
    parser.add_argument(
        "--job_name", help="Processing job name, unique in the account and region (default: im2tfrecord-<UTC time>)."
    )
    parser.add_argument(
        "--volume_size_gb",
        type=int,
        default=DEFAULT_VOLUME_SIZE_GB,
        help="EBS volume per instance, in GB (default: %(default)s).",
    )
    parser.add_argument(
        "--max_runtime_s",
        type=int,
        default=DEFAULT_MAX_RUNTIME_S,
        help="The job is stopped after this many seconds (default: %(default)s).",
    )
    parser.add_argument(
        "--dry-run",
        "--dry_run",
        dest="dry_run",
        action="store_true",
        help="Print the CreateProcessingJob request as JSON and start nothing.",
    )
    return parser


def build_request(args, pipeline_args):
    """The CreateProcessingJob request, as boto3's create_processing_job takes it."""
    given = _pipeline_paths(pipeline_args)
    _check(args, given)
    problem = entrypoint.several_instances_error(args.instance_count, given.get("--input"), pipeline_args)
    if problem:
        raise _UsageError(problem)
    root = entrypoint.DEFAULT_PROCESSING_ROOT
    inputs, container_args = [], []
    if args.input_s3:
        inputs.append(
            _s3_input(entrypoint.IMAGES_CHANNEL, args.input_s3, entrypoint.images_dir(root), "FullyReplicated")
        )
        container_args += ["--input", entrypoint.images_dir(root)]
    if args.labels_file_s3:
        # Every instance needs the whole list, hence FullyReplicated. A
        # single-object S3Prefix lands in the channel folder under its own name.
        inputs.append(
            _s3_input(entrypoint.LABELS_CHANNEL, args.labels_file_s3, entrypoint.labels_dir(root), "FullyReplicated")
        )
        labels_name = args.labels_file_s3.rsplit("/", 1)[-1]
        container_args += ["--labels_file", f"{entrypoint.labels_dir(root)}/{labels_name}"]
    if args.output_s3:
        container_args += ["--output", entrypoint.output_dir(root)]
    request = {
        "ProcessingJobName": args.job_name or time.strftime("im2tfrecord-%Y%m%d-%H%M%S", time.gmtime()),
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": args.instance_count,
                "InstanceType": args.instance_type,
                "VolumeSizeInGB": args.volume_size_gb,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": args.max_runtime_s},
        "AppSpecification": {
            "ImageUri": args.image_uri,
            "ContainerArguments": container_args + list(pipeline_args),
        },
        "RoleArn": args.role,
    }
    if inputs:
        request["ProcessingInputs"] = inputs
    if args.output_s3:
        request["ProcessingOutputConfig"] = {
            "Outputs": [
                {
                    "OutputName": entrypoint.OUTPUT_CHANNEL,
                    "S3Output": {
                        "S3Uri": args.output_s3,
                        "LocalPath": entrypoint.output_dir(root),
                        # Once, after the container exits: shards appear by rename
                        # when complete, and Continuous would upload the temporaries.
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ]
        }
    return request


def _s3_input(name, uri, local_path, distribution):
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local_path,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": distribution,
        },
    }


def _pipeline_paths(pipeline_args):
    """The pipeline arguments among --input, --output and --labels_file that were given."""
    parser = _Parser(add_help=False, allow_abbrev=False)
    for flag in _PIPELINE_FLAGS:
        parser.add_argument(flag)
    known, _ = parser.parse_known_args(pipeline_args)
    return {
        flag: value for flag, value in zip(_PIPELINE_FLAGS, (known.input, known.output, known.labels_file)) if value
    }


def _check(args, given):
    for flag, value in (
        ("--input_s3", args.input_s3),
        ("--output_s3", args.output_s3),
        ("--labels_file_s3", args.labels_file_s3),
    ):
        if value is not None and not value.startswith("s3://"):
            raise _UsageError(f"{flag} must be an s3:// URI, got {value!r}")
    for ours, theirs in (("--input_s3", "--input"), ("--output_s3", "--output")):
        if bool(getattr(args, ours[2:])) == (theirs in given):
            raise _UsageError(f"give exactly one of {ours} (a channel) or `-- {theirs} s3://...`")
    if args.labels_file_s3 and "--labels_file" in given:
        raise _UsageError("give --labels_file_s3 or `-- --labels_file ...`, not both")
    if args.labels_file_s3 and args.labels_file_s3.endswith("/"):
        raise _UsageError("--labels_file_s3 must name a file, not a prefix")
    for flag, value in (
        ("--instance_count", args.instance_count),
        ("--volume_size_gb", args.volume_size_gb),
        ("--max_runtime_s", args.max_runtime_s),
    ):
        if value < 1:
            raise _UsageError(f"{flag} must be at least 1, got {value}")
    if args.job_name is not None and not _JOB_NAME.fullmatch(args.job_name):
        raise _UsageError(
            f"--job_name {args.job_name!r}: up to 63 letters, digits and "
            "hyphens, starting and ending with a letter or digit"
        )


def finishing_command(args, pipeline_args, job_name):
    """The launcher command that finishes what `job_name`'s instances wrote
    in parts: one instance, the same pipeline arguments, writing straight
    into the prefix that holds the parts."""
    command = ["python", "-m", "runners.sagemaker.launch", "--image_uri", args.image_uri, "--role", args.role]
    command += ["--instance_type", args.instance_type, "--volume_size_gb", str(args.volume_size_gb)]
    command += ["--max_runtime_s", str(args.max_runtime_s)]
    if args.labels_file_s3:
        command += ["--labels_file_s3", args.labels_file_s3]
    command += ["--job_name", f"{job_name[: 63 - len('-finish')]}-finish", "--", *pipeline_args]
    if args.output_s3:
        command += ["--output", args.output_s3]
    return shlex.join(command)


def _submit(request):
    name = request["ProcessingJobName"]
    try:
        via = _start(request)
    except Exception as e:  # No credentials, no region, rejected request, ...
        first_line = (str(e).strip().splitlines() or [""])[0]
        return _fail(f"could not start processing job {name}: {type(e).__name__}: {first_line}", code=1)
    print(
        f"started processing job {name} ({via})\n"
        f"  status: aws sagemaker describe-processing-job --processing-job-name {name}\n"
        f"  logs:   aws logs tail /aws/sagemaker/ProcessingJobs "
        f"--log-stream-name-prefix {name} --follow"
    )
    return 0


def _start(request):
    """Starts the job; returns what started it."""
    sdk = _sdk()
    if sdk is None:
        import boto3

        boto3.client("sagemaker").create_processing_job(**request)
        return "boto3"
    processor_class, make_input, make_output = sdk
    cluster = request["ProcessingResources"]["ClusterConfig"]
    processor = processor_class(
        role=request["RoleArn"],
        image_uri=request["AppSpecification"]["ImageUri"],
        instance_count=cluster["InstanceCount"],
        instance_type=cluster["InstanceType"],
        volume_size_in_gb=cluster["VolumeSizeInGB"],
        max_runtime_in_seconds=request["StoppingCondition"]["MaxRuntimeInSeconds"],
    )
    processor.run(
        inputs=[make_input(i["InputName"], i["S3Input"]) for i in request.get("ProcessingInputs", [])],
        outputs=[
            make_output(o["OutputName"], o["S3Output"])
            for o in request.get("ProcessingOutputConfig", {}).get("Outputs", [])
        ],
        arguments=request["AppSpecification"]["ContainerArguments"],
        job_name=request["ProcessingJobName"],
        wait=False,
        logs=False,
    )
    return "SageMaker Python SDK"


def _sdk():
    """(Processor, input builder, output builder) of the installed SageMaker
    Python SDK, v3 or v2, or None without it. Imported only here, so that
    --dry-run and the tests need neither the SDK nor boto3."""
    try:
        from sagemaker.core import processing as v3
        from sagemaker.core import shapes
    except ImportError:
        pass
    else:
        return (
            v3.Processor,
            lambda name, s3: shapes.ProcessingInput(
                input_name=name,
                s3_input=shapes.ProcessingS3Input(
                    s3_uri=s3["S3Uri"],
                    local_path=s3["LocalPath"],
                    s3_data_type=s3["S3DataType"],
                    s3_input_mode=s3["S3InputMode"],
                    s3_data_distribution_type=s3["S3DataDistributionType"],
                ),
            ),
            lambda name, s3: shapes.ProcessingOutput(
                output_name=name,
                s3_output=shapes.ProcessingS3Output(
                    s3_uri=s3["S3Uri"], local_path=s3["LocalPath"], s3_upload_mode=s3["S3UploadMode"]
                ),
            ),
        )
    try:
        from sagemaker import processing as v2
    except ImportError:
        return None
    return (
        v2.Processor,
        lambda name, s3: v2.ProcessingInput(
            input_name=name,
            source=s3["S3Uri"],
            destination=s3["LocalPath"],
            s3_data_type=s3["S3DataType"],
            s3_input_mode=s3["S3InputMode"],
            s3_data_distribution_type=s3["S3DataDistributionType"],
        ),
        lambda name, s3: v2.ProcessingOutput(
            output_name=name, source=s3["LocalPath"], destination=s3["S3Uri"], s3_upload_mode=s3["S3UploadMode"]
        ),
    )


def _fail(message, code):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
