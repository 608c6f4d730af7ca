"""pipeline/command.py: the one line a failed command prints."""

import signal

import pytest

from pipeline import command
from pipeline.command import headline

# What Beam's portable runner raised for a Flink job whose shard writes were
# denied (abridged from a real run on the standalone cluster).
_CLUSTER_FAILURE = """Pipeline BeamApp-root-1127_48b7 failed in state FAILED: java.lang.RuntimeException: \
Error received from SDK harness for instruction 5: Traceback (most recent call last):
  File "apache_beam/runners/common.py", line 1569, in _invoke_bundle_method
  File "/work/main/transforms/storage.py", line 158, in commit
    self._client.put_object(Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer))
botocore.errorfactory.AccessDenied: An error occurred (AccessDenied) when calling the PutObject operation: denied

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
RuntimeError: botocore.errorfactory.AccessDenied: An error occurred [while running 'WriteShardStreams']
"""


def test_a_plain_error_is_its_type_and_first_line():
    assert headline(ValueError("bad value\nmore")) == "ValueError: bad value"


def test_a_cluster_failure_is_the_workers_own_exception_line():
    assert headline(RuntimeError(_CLUSTER_FAILURE)) == (
        "AccessDenied: An error occurred (AccessDenied) when calling the PutObject operation: denied"
    )


def test_a_local_runner_wrapper_is_unwrapped():
    error = RuntimeError(
        "botocore.errorfactory.NoSuchBucket: An error occurred (NoSuchBucket) "
        "[while running 'WriteShardStreams/ParDo(_WriteShard)']"
    )
    assert headline(error) == "NoSuchBucket: An error occurred (NoSuchBucket)"
    # A RuntimeError of our own is not mistaken for a wrapper.
    assert headline(RuntimeError("disk full")) == "RuntimeError: disk full"


def test_a_signal_ignored_from_the_start_stays_ignored():
    """`im2tfrecord ... &` in a script starts with SIGINT ignored: Ctrl-C in the
    terminal must not stop it, whenever it comes; SIGTERM still does."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with command._stop_on_signals([]):
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, previous)


def test_every_command_refuses_an_endpoint_that_is_not_a_url():
    with pytest.raises(command.UsageError, match="--s3_endpoint_url must be a URL such as"):
        command.check_s3_endpoint("127.0.0.1:9000")
    command.check_s3_endpoint("http://127.0.0.1:9000")
    command.check_s3_endpoint(None)
