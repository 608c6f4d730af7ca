"""pipeline/commands.py: the one line a failed command prints."""

from pipeline.commands import headline

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
        "AccessDenied: An error occurred (AccessDenied) when calling the PutObject operation: denied")


def test_a_local_runner_wrapper_is_unwrapped():
    error = RuntimeError("botocore.errorfactory.NoSuchBucket: An error occurred (NoSuchBucket) "
                         "[while running 'WriteShardStreams/ParDo(_WriteShard)']")
    assert headline(error) == "NoSuchBucket: An error occurred (NoSuchBucket)"
    # A RuntimeError of our own is not mistaken for a wrapper.
    assert headline(RuntimeError("disk full")) == "RuntimeError: disk full"
