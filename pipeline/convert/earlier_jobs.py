"""A Flink job of an earlier run that is still writing to this run's --output.

A job on a Flink cluster outlives its launcher: SIGKILL (or a lost SSH
session) ends the launcher and Beam's job server with it, but not the job,
which goes on writing shards and, at its end, removes what it takes for its
own temporaries, a rerun's included. Ctrl-C and SIGTERM cancel the job
(convert/main.py); for the rest, every run on Flink gets a job name made
from its --output (unless --job_name gives one), and a run first cancels any
job of that name the cluster is still running. Spark needs none of this:
the job server is the Spark driver, and the runner scripts tie it to the
launcher (runners/java_for_job_server.sh), so the application ends with it.
"""

import hashlib
import json
import sys
import time
import urllib.request

from apache_beam.options.pipeline_options import FlinkRunnerOptions
from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.options.pipeline_options import StandardOptions

_PREFIX = "im2tfrecord-"
# Flink's job states from which a job goes on running (its REST API's names).
_ALIVE = frozenset(("INITIALIZING", "CREATED", "RUNNING", "RESTARTING", "FAILING", "CANCELLING", "RECONCILING"))
_REQUEST_TIMEOUT_S = 5
# How long a cancelled job may take to stop: its tasks finish the image in hand.
_CANCEL_TIMEOUT_S = 60


def on_flink(options):
    """A run on a Flink cluster (not one Beam starts itself: [auto], [local])."""
    runner = (options.view_as(StandardOptions).runner or "").lower()
    master = options.view_as(FlinkRunnerOptions).flink_master
    return runner in ("flinkrunner", "flink") and not master.startswith("[")


def name_job(options, output):
    """Sets --job_name, if not given, to one that only runs into --output get."""
    cloud = options.view_as(GoogleCloudOptions)
    if not cloud.job_name:
        cloud.job_name = _PREFIX + hashlib.sha256(output.rstrip("/").encode()).hexdigest()[:16]


def cancel_earlier_jobs(options, output):
    """Cancels the cluster's live jobs named as this run's job, and waits for
    them to stop; one line on stderr for each."""
    base = rest_base(options.view_as(FlinkRunnerOptions).flink_master)
    name = options.view_as(GoogleCloudOptions).job_name
    for job in get(f"{base}/jobs/overview").get("jobs", []):
        if job.get("name") == name and job.get("state") in _ALIVE:
            _request(f"{base}/jobs/{job['jid']}?mode=cancel", "PATCH")
            state = _wait_until_stopped(base, job["jid"])
            print(
                f"im2tfrecord: note: cancelled Flink job {job['jid']} of an earlier run, "
                f"still running on {output.rstrip('/')}/ ({state})",
                file=sys.stderr,
            )


def _wait_until_stopped(base, jid):
    deadline = time.monotonic() + _CANCEL_TIMEOUT_S
    while True:
        state = get(f"{base}/jobs/{jid}").get("state")
        if state not in _ALIVE or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def rest_base(master):
    """The URL of the REST API that --flink_master names."""
    return (master if "://" in master else f"http://{master}").rstrip("/")


def get(url):
    """The JSON answer of a GET to `url`."""
    return json.loads(_request(url, "GET") or b"{}")


def _request(url, method):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=_REQUEST_TIMEOUT_S) as answer:
        return answer.read()
