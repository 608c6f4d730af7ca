"""What every `im2tfrecord` command shares: the main skeleton (`main`), S3
flags, one-line errors with exit codes, and credentials kept out of every
message and log line.

Each command (pipeline/convert, pipeline/upload, pipeline/inspection) only
parses its arguments into an `Invocation` and does its work; how a wrong
invocation, a failure, Ctrl-C, SIGTERM or a closed stdout end is decided
here, once. The converter takes Beam's S3 options; `upload` and `inspect`
take the same flags by the same names, so one set of flags works for all three.

Exit codes: 0 done, 1 the work failed (or found problems), 2 a wrong
invocation (nothing was done), 130 SIGINT (Ctrl-C), 143 SIGTERM.
"""

import argparse
import contextlib
import dataclasses
import difflib
import logging
import os
import re
import signal
import sys
import threading
import urllib.parse

import botocore.exceptions

import pipeline
from transforms import stopping
from transforms.storage import s3_error_code
from transforms.storage import s3_settings_from_flags

# Beam's S3Options that take a value, by flag name, as the converter spells them.
S3_FLAGS = ("s3_endpoint_url", "s3_access_key_id", "s3_secret_access_key", "s3_session_token", "s3_region_name")

# Requests made before any work retry once: a wrong endpoint or bucket should
# fail in about a second, not after the long backoff real work deserves.
PREFLIGHT_S3_ATTEMPTS = 2

# Shorter "secrets" are not real credentials (AWS keys are 20 and 40
# characters); replacing them would mangle every message they occur in.
_MIN_SECRET_LENGTH = 8
_SECRET_SETTINGS = ("aws_secret_access_key", "aws_session_token", "aws_access_key_id")


# The IAM permission each S3 call we make before the work needs, for a 403's message.
_PERMISSIONS = {
    "HeadBucket": "s3:ListBucket",
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
}


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class UsageError(Exception):
    """A wrong invocation: the message says what to change."""


class Explained(Exception):
    """A failure whose message is the line to show as it is (headline)."""


@dataclasses.dataclass(frozen=True)
class Invocation:
    """A parsed command line, ready to run: `work()` returns the exit code.

    `quiet`: loggers whose WARNING and ERROR lines are dropped below DEBUG
    (the command reports that failure in its own line). `failed` starts the
    line of an unexpected error; `interrupted` ends the line of a SIGINT or
    SIGTERM, saying what the user may do next. `starts_up`: the work calls
    `pipeline.start_up_done()` itself, once its own start-up is over (the
    converter builds its pipeline first); otherwise it is called here, before
    the work."""

    work: object
    log_level: str = "WARNING"
    secrets: tuple = ()
    quiet: tuple = ()
    failed: str = "failed"
    interrupted: str = "nothing partial is left under a final name"
    starts_up: bool = False


def main(prog, argv, parse):
    """The skeleton of every command. `parse(argv)` returns an Invocation,
    or an exit code when it did all there was to do (--help, --version); a
    UsageError it raises is one line and exit 2. The work then runs under
    `run`, with logging at the invocation's level and its secrets blanked."""
    try:
        invocation = parse(argv)
    except UsageError as e:
        return fail(prog, str(e), code=2)
    if isinstance(invocation, int):
        return invocation
    if not invocation.starts_up:
        pipeline.start_up_done()
    with redacted_logging(invocation.log_level, invocation.secrets, quiet=invocation.quiet):
        return run(prog, invocation.work, invocation.secrets, invocation.failed, invocation.interrupted)


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse prints its usage and exits on a bad value: here the error is
    the one line every other wrong invocation gives."""

    def error(self, message):
        raise UsageError(f"{message}; see --help")


def new_parser(prog, usage, description, epilog):
    """The parser of a command: one-line errors, no abbreviated flags (a
    later flag would change what an abbreviation means), help as written."""
    return OneLineErrorParser(
        prog=prog,
        usage=usage,
        description=description,
        epilog=epilog,
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_log_level_argument(parser):
    parser.add_argument(
        "--log_level", default="WARNING", choices=LOG_LEVELS, help="Logging to stderr (default: %(default)s)."
    )


def wants_help(argv):
    return "-h" in argv or "--help" in argv


def s3_command(parser, argv, work, check=None, **invocation):
    """The Invocation of a command that takes our S3 flags (upload, inspect),
    or 0 once its --help is printed. Unknown flags are errors with a "did you
    mean"; `check(args)` may refuse values with a UsageError; `work(args,
    settings)` runs the command with the boto3 client arguments the flags give."""
    if wants_help(argv):
        parser.print_help()
        return 0
    args, unknown = parser.parse_known_args(argv)
    reject_unknown(parser, unknown)
    check_s3_endpoint(args.s3_endpoint_url)
    if check is not None:
        check(args)
    settings = s3_settings_from_args(args)
    secrets = tuple(secrets_of(settings))
    return Invocation(lambda: work(args, settings), args.log_level, secrets, **invocation)


def print_report(text):
    """Prints the command's report to stdout. A reader that went away
    (`... | head`) ends nothing: the work is done, the exit code tells."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")


def add_s3_arguments(parser):
    """The converter's S3 flags, for an argparse command of our own."""
    group = parser.add_argument_group("S3 (as for the converter; default: boto3's credential chain)")
    for name in S3_FLAGS:
        group.add_argument(f"--{name}", metavar=name.upper()[3:])
    group.add_argument("--s3_disable_ssl", action="store_true", help="Use plain HTTP.")


def check_s3_endpoint(endpoint):
    """--s3_endpoint_url must be an http(s) URL: boto3 would say only "Invalid endpoint"."""
    if endpoint:
        parts = urllib.parse.urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise UsageError(
                f"--s3_endpoint_url must be a URL such as http://127.0.0.1:9000 "
                f"or https://s3.eu-west-1.amazonaws.com, got {endpoint!r}"
            )


def s3_settings_from_args(args):
    """boto3 client arguments from parsed `add_s3_arguments` flags, built by
    the rule the converter's (storage.s3_settings_from_flags) without Beam:
    upload and inspect never use it, and its import is 1.3 s of start-up."""
    return s3_settings_from_flags({name: getattr(args, name) or None for name in S3_FLAGS}, args.s3_disable_ssl)


def secrets_of(settings):
    """The credentials among boto3 client arguments, to blank out of output."""
    return [
        settings[name] for name in _SECRET_SETTINGS if settings.get(name) and len(settings[name]) >= _MIN_SECRET_LENGTH
    ]


def redact(text, secrets):
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class _RedactingFilter(logging.Filter):
    """Blanks credentials in log lines: at DEBUG, botocore logs the signed
    request headers, which name the access key id."""

    def __init__(self, secrets):
        super().__init__()
        self._secrets = secrets

    def filter(self, record):
        message = record.getMessage()
        redacted = redact(message, self._secrets)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class _QuietFailures(logging.Filter):
    """Drops the WARNING and ERROR records (tracebacks, job-server start and
    stop notices) that Beam writes about what the command reports in one line
    itself: those of loggers named under `prefixes`, and those two Beam
    modules write to the root logger: the portable runner relaying a cluster's
    job messages, and the job-server launcher waiting for its Java process."""

    _ROOT_LOGGING_MODULES = ("portable_runner", "subprocess_server")

    def __init__(self, prefixes):
        super().__init__()
        self._prefixes = tuple(prefixes)

    def filter(self, record):
        if record.levelno < logging.WARNING:
            return True
        return not (
            record.name.startswith(self._prefixes)
            or (record.name == "root" and record.module in self._ROOT_LOGGING_MODULES)
        )


@contextlib.contextmanager
def redacted_logging(level, secrets, quiet=()):
    """Logging at `level` to stderr for the length of a command, with `secrets`
    blanked in every line any handler prints. Below DEBUG, WARNING and ERROR
    lines from loggers named under `quiet` are dropped: the command's one-line error says
    what failed, and --log_level DEBUG shows everything."""
    root = logging.getLogger()
    added = []
    if not any(getattr(handler, "stream", None) is sys.stderr for handler in root.handlers):
        added.append(logging.StreamHandler(sys.stderr))
        added[0].setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(added[0])
    filters = [_RedactingFilter(secrets)]
    if quiet and logging.getLevelName(level) != logging.DEBUG:
        filters.append(_QuietFailures(quiet))
    handlers = list(root.handlers)
    for handler in handlers:
        for log_filter in filters:
            handler.addFilter(log_filter)
    old_level = root.level
    root.setLevel(level)
    # Pillow's plugins log their complaints about a damaged file ("More samples
    # per pixel than can be decoded"), whose image ends up as a record or an
    # error row with its own reason anyway: shown at DEBUG only.
    pillow = logging.getLogger("PIL")
    old_pillow_level = pillow.level
    if logging.getLevelName(level) != logging.DEBUG:
        pillow.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        root.setLevel(old_level)
        pillow.setLevel(old_pillow_level)
        for handler in handlers:
            for log_filter in filters:
                handler.removeFilter(log_filter)
        for handler in added:
            root.removeHandler(handler)


def reject_unknown(parser, unknown):
    """Unknown flags are errors (with a "did you mean"), not silently dropped."""
    if not unknown:
        return
    flag = unknown[0].split("=", 1)[0]
    known = sorted(set(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", parser.format_help())))
    close = difflib.get_close_matches(flag, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(f"unrecognized argument {flag}{hint}; see --help")


def run(prog, work, secrets, failed="failed", interrupted=Invocation.interrupted):
    """Runs `work()` (which returns an exit code), turning what it raises into
    one line on stderr: UsageError exits 2, SIGINT (Ctrl-C) 130 and SIGTERM
    143 (the line ends with `interrupted`), anything else 1, its line
    starting with `failed` (the traceback is logged at DEBUG)."""
    received = []
    stopping.reset()
    try:
        with _stop_on_signals(received):
            return work()
    except KeyboardInterrupt:
        return _interrupted(prog, received, interrupted)
    except UsageError as e:
        return fail(prog, redact(str(e), secrets), code=2)
    except Exception as e:
        if received:  # A runner wraps the interrupt it met (RuntimeError: KeyboardInterrupt).
            return _interrupted(prog, received, interrupted)
        logging.getLogger(prog).debug(failed, exc_info=True)
        return fail(
            prog,
            redact(f"{failed}: {headline(e)}", secrets) + " (rerun with --log_level DEBUG for the traceback)",
            code=1,
        )


# The shell's convention: 128 + the signal's number.
_SIGNAL_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@contextlib.contextmanager
def _stop_on_signals(received):
    """SIGINT and SIGTERM both stop the work as Ctrl-C does (KeyboardInterrupt
    in the main thread), and `received` records which came. SIGTERM's default
    ends the process without any cleanup, and a container's PID 1 (SageMaker)
    ignores it altogether."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        received.append(signum)
        stopping.request()  # Writers in other threads and processes stop too.
        raise KeyboardInterrupt

    # A signal ignored from the start stays ignored: a job started in the
    # background (`cmd &` in a script) or under nohup is meant to outlive Ctrl-C.
    previous = {
        signum: signal.signal(signum, stop)
        for signum in _SIGNAL_EXIT_CODES
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupted(prog, received, what_now):
    signum = received[0] if received else signal.SIGINT
    return fail(prog, f"interrupted by {signal.Signals(signum).name}; {what_now}", code=_SIGNAL_EXIT_CODES[signum])


_TRACEBACK = "Traceback (most recent call last):"
# Beam's runners wrap what a DoFn raised: locally as RuntimeError("module.Name:
# message [while running 'Stage']"), on a cluster inside the runner's message
# ("Pipeline ... failed: ... Error received from SDK harness ...") that holds
# the worker's traceback. Either way the cause is a "module.Name: message" line.
_STAGE_SUFFIX = re.compile(r" \[while running '.*'\]$")
_WRAPPED = re.compile(r"^(?P<name>[A-Za-z_][\w.]*): (?P<message>.*?)(?: \[while running '.*'\])?$")


def headline(error):
    """The line that says what went wrong: the cause's own exception line
    where a runner wrapped it, else the error's first line."""
    if isinstance(error, Explained):
        return str(error)
    lines = str(error).strip().splitlines()
    in_traceback = False
    for line in lines:
        if line.rstrip().endswith(_TRACEBACK):
            in_traceback = True
        elif in_traceback and line.strip() and not line[0].isspace():
            return _short(line)
    first = (lines or [""])[0]
    if isinstance(error, RuntimeError) and _WRAPPED.match(first):
        return _short(first)
    # Beam re-raises a DoFn's own exception type with the stage appended.
    return f"{type(error).__name__}: {_STAGE_SUFFIX.sub('', first)}"


def _short(line):
    """'botocore.errorfactory.AccessDenied: msg [while running ...]' -> 'AccessDenied: msg'."""
    match = _WRAPPED.match(line)
    if not match:
        return line
    return f"{match['name'].rsplit('.', 1)[-1]}: {match['message']}"


def fail(prog, message, code):
    print(f"{prog}: error: {message}", file=sys.stderr)
    return code


def check_bucket(client, bucket, flag):
    """Raises a one-line UsageError unless `bucket` exists and the endpoint
    speaks S3. A HEAD answer has no body, so its 404 cannot tell a missing
    bucket from a server that is not S3 at all (a plain web server, a wrong
    port): a listing's error body can, as S3 names the bucket's absence
    (NoSuchBucket) where another server gives only an HTTP status."""
    try:
        return s3_call(lambda: client.head_bucket(Bucket=bucket), flag, bucket)
    except UsageError:
        try:
            client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        except botocore.exceptions.ClientError as e:
            if _not_s3(e):
                raise UsageError(_not_s3_message(flag, e)) from None
        except (botocore.exceptions.BotoCoreError, RecursionError):
            pass
        raise


# What a web server that is not S3 answers an S3 request with: not found,
# method not allowed, not implemented. (A bare 403 or 5xx may come from a
# proxy in front of S3, and has messages of its own.)
_NOT_S3_STATUSES = ("404", "405", "501")


def _not_s3(error):
    """An answer to a request with a body (not a HEAD) that carries no S3
    error code: botocore then gives the HTTP status as the code."""
    return error.operation_name not in ("HeadBucket", "HeadObject") and s3_error_code(error) in _NOT_S3_STATUSES


def _not_s3_message(flag, error):
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or s3_error_code(error)
    return (
        f"{flag}: the S3 endpoint answered {error.operation_name} with HTTP {status} and no S3 error "
        "code: it is not an S3 server (check --s3_endpoint_url)"
    )


# botocore follows a 301 that names no bucket region (S3's always name it) by
# asking the bucket's region with a HEAD, which a web server that is not S3
# answers with the same 301, and so on until Python's recursion limit.
_REDIRECT_LOOP = (
    "{flag}: the S3 endpoint answers with redirects that name no bucket region, as S3's always do: "
    "it is not an S3 server (check --s3_endpoint_url)"
)


def _redirect_loop(error):
    """The loop of _REDIRECT_LOOP, met as Python's RecursionError, or inside
    the HTTP client, which wraps it (how deep the stack already was decides)."""
    return isinstance(error, RecursionError) or "maximum recursion depth" in str(error)


def s3_call(call, flag, bucket, missing=None):
    """Runs one S3 request, turning the usual failures into one-line UsageErrors.

    `missing` is the message for a 404; by default, the bucket does not exist.
    """
    try:
        return call()
    except (RecursionError, botocore.exceptions.HTTPClientError) as e:
        if _redirect_loop(e):
            raise UsageError(_REDIRECT_LOOP.format(flag=flag)) from None
        raise UsageError(f"{flag}: S3 request failed: {e}") from None
    except botocore.exceptions.EndpointConnectionError as e:
        raise UsageError(
            f"{flag}: cannot reach the S3 endpoint {e.kwargs.get('endpoint_url')} "
            "(check --s3_endpoint_url and the network)"
        ) from None
    except botocore.exceptions.NoCredentialsError:
        raise UsageError(
            f"{flag}: no S3 credentials found (pass --s3_access_key_id and "
            "--s3_secret_access_key, or set up the AWS credential chain)"
        ) from None
    except botocore.exceptions.ClientError as e:
        code = s3_error_code(e)
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if _not_s3(e):
            raise UsageError(_not_s3_message(flag, e)) from None
        no_bucket = f"{flag}: S3 bucket '{bucket}' does not exist"
        if code == "NoSuchBucket":
            raise UsageError(no_bucket) from None
        if code in ("404", "NoSuchKey"):  # HEAD answers carry no code: a bare 404.
            raise UsageError(missing or no_bucket) from None
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
            raise UsageError(f"{flag}: S3 rejected the credentials for bucket '{bucket}' ({code})") from None
        if status in (401, 403) or code in ("AccessDenied", "403"):
            operation = e.operation_name
            permission = _PERMISSIONS.get(operation, "permission for it")
            if code in ("AccessDenied", "AllAccessDisabled"):  # The keys are valid: a policy said no.
                raise UsageError(
                    f"{flag}: S3 denied {operation} on bucket '{bucket}' ({code}): "
                    f"the credentials need {permission} there"
                ) from None
            # A HEAD answer has no body to tell bad keys from a missing permission.
            raise UsageError(
                f"{flag}: S3 refused {operation} on bucket '{bucket}' ({code or status}): "
                f"the credentials are wrong, or lack {permission} there"
            ) from None
        if code.isdigit():  # No S3 error code in the answer, only an HTTP status.
            raise UsageError(
                f"{flag}: the S3 endpoint answered {e.operation_name} with HTTP {status} and no S3 error code "
                "(is --s3_endpoint_url an S3 server?)"
            ) from None
        raise UsageError(f"{flag}: S3 error on bucket '{bucket}': {code} {status}") from None
    except botocore.exceptions.BotoCoreError as e:
        raise UsageError(f"{flag}: S3 request failed: {e}") from None
