"""pipeline/convert/failure_cause.py: the one line a failed cluster job gets,
from the texts Beam and the engines give (the cluster tests fail real jobs
on Flink and Spark: tests/test_clusters.py)."""

from pipeline.convert import failure_cause

_PYTHON_WORKER = "\n".join(
    [
        "java.lang.RuntimeException: Error received from SDK harness for instruction 7: "
        "Traceback (most recent call last):",
        '  File "apache_beam/runners/common.py", line 1512, in apache_beam.runners.common.DoFnRunner.process',
        '  File "/work/transforms/manifest.py", line 487, in manifest_classes',
        "    raise ManifestLabelsError(",
        "transforms.manifest.ManifestLabelsError: --manifest line 6: label '-1' is not a class id "
        "[while running 'ClassesOfManifest/Decide']",
        "",
        "\tat org.apache.beam.runners.fnexecution.control.FnApiControlClient$ResponseStreamObserver.onNext(...)",
    ]
)

_JAVA_OOM = """org.apache.flink.runtime.JobException: Recovery is suppressed by FixedDelayRestartBackoffTimeStrategy
\tat org.apache.flink.runtime.executiongraph.failover.ExecutionFailureHandler.handleFailure(...)
Caused by: java.lang.IllegalStateException: call is closed
\tat org.apache.beam.vendor.grpc.v1p60p1.io.grpc.internal.ClientCallImpl.sendMessageInternal(ClientCallImpl.java:543)
Caused by: java.lang.OutOfMemoryError: Direct buffer memory
\tat java.base/java.nio.Bits.reserveMemory(Bits.java:175)"""


def test_a_python_workers_error_names_its_stage_and_exception():
    stage, cause = failure_cause.from_text(_PYTHON_WORKER)
    assert stage == "ClassesOfManifest/Decide"
    assert cause == "ManifestLabelsError: --manifest line 6: label '-1' is not a class id"
    assert failure_cause.explain(stage, cause) == (
        "a worker failed in ClassesOfManifest/Decide (ManifestLabelsError: --manifest line 6: label '-1' "
        "is not a class id)"
    )


def test_a_java_stack_trace_gives_its_deepest_cause():
    stage, cause = failure_cause.from_text(_JAVA_OOM)
    assert (stage, cause) == (None, "java.lang.OutOfMemoryError: Direct buffer memory")
    assert failure_cause.explain("PlanShards/Deal", cause) == (
        "a worker ran out of memory in PlanShards/Deal (java.lang.OutOfMemoryError: Direct buffer memory)"
    )


def test_text_without_an_exception_gives_nothing():
    assert failure_cause.from_text("Pipeline job_123 failed in state FAILED") == (None, None)


def test_a_flink_tasks_name_gives_the_beam_stage():
    """Task names as Flink 1.x's REST API gives them (copied from a failed
    job on the project's cluster), and older forms."""
    names = {
        "MapPartition (MapPartition at [3]ReadManifest/GroupPath/{Route, Typed, TypedHot}) (2/2) - execution #0": (
            "ReadManifest/GroupPath/{Route, Typed, TypedHot}"
        ),
        "GroupReduce (GroupReduce at PlanShards/Deal/GroupByKey) (1/2)#3": "PlanShards/Deal/GroupByKey",
        "[3]PlanShards/Deal (1/2)": "PlanShards/Deal",
        "": None,
        None: None,
    }
    assert {name: failure_cause._task_stage(name) for name in names} == names


def test_a_shard_count_refused_on_a_worker_is_a_refusal():
    text = _PYTHON_WORKER.replace(
        "transforms.manifest.ManifestLabelsError: --manifest line 6: label '-1' is not a class id "
        "[while running 'ClassesOfManifest/Decide']",
        "transforms.shard.ShardTooLargeError: the train split's 9 images in 1 shard would be 9 images a shard "
        "[while running 'PlanShards/Deal']",
    )
    assert (
        failure_cause.refusal(RuntimeError(text)) == "the train split's 9 images in 1 shard would be 9 images a shard"
    )
    assert failure_cause.refusal(RuntimeError(_PYTHON_WORKER)) is None
