"""pipeline/convert/earlier_jobs.py against a stand-in of Flink's REST API
(an HTTP server in a thread, speaking the few calls Flink 1.19 answers):
which jobs are cancelled, and the job name each run gets. The real cluster
case (a launcher killed with SIGKILL, then a rerun) is in test_clusters.py."""

import http.server
import json
import threading

import pytest
from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.convert import earlier_jobs


class _FlinkRest(http.server.BaseHTTPRequestHandler):
    jobs = {}  # jid -> [name, state]
    cancelled = []

    def do_GET(self):
        if self.path == "/jobs/overview":
            body = {"jobs": [{"jid": jid, "name": name, "state": state} for jid, (name, state) in self.jobs.items()]}
        else:
            body = {"state": self.jobs[self.path.rsplit("/", 1)[1]][1]}
        self._answer(200, json.dumps(body).encode())

    def do_PATCH(self):
        jid = self.path.split("/")[2].split("?")[0]
        assert self.path.endswith("?mode=cancel")
        self.cancelled.append(jid)
        self.jobs[jid][1] = "CANCELED"
        self._answer(202, b"{}")

    def _answer(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flink_rest():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FlinkRest)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _FlinkRest.cancelled.clear()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _options(master, *extra):
    return PipelineOptions(["--runner", "FlinkRunner", "--flink_master", master, *extra])


def test_each_output_gets_its_own_job_name_and_a_given_one_is_kept():
    names = {}
    for output in ("s3://b/shards", "s3://b/shards/", "s3://b/other", "/data/shards"):
        options = _options("host:8081")
        earlier_jobs.name_job(options, output)
        names[output] = options.view_as(GoogleCloudOptions).job_name
    assert names["s3://b/shards"] == names["s3://b/shards/"]  # The same folder.
    assert len({names["s3://b/shards"], names["s3://b/other"], names["/data/shards"]}) == 3
    assert all(name.startswith("im2tfrecord-") for name in names.values())
    options = _options("host:8081", "--job_name", "nightly")
    earlier_jobs.name_job(options, "s3://b/shards")
    assert options.view_as(GoogleCloudOptions).job_name == "nightly"


def test_only_live_jobs_of_this_runs_name_are_cancelled(flink_rest, capsys):
    options = _options(flink_rest)
    earlier_jobs.name_job(options, "s3://b/shards")
    ours = options.view_as(GoogleCloudOptions).job_name
    other = _options(flink_rest)
    earlier_jobs.name_job(other, "s3://b/other")
    _FlinkRest.jobs = {
        "a1": [ours, "RUNNING"],
        "a2": [ours, "FINISHED"],  # Done: nothing to stop.
        "a3": [other.view_as(GoogleCloudOptions).job_name, "RUNNING"],  # Another output's.
        "a4": [ours, "RESTARTING"],
    }
    earlier_jobs.cancel_earlier_jobs(options, "s3://b/shards")
    assert sorted(_FlinkRest.cancelled) == ["a1", "a4"]
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "im2tfrecord: note: cancelled Flink job a1 of an earlier run, still running on s3://b/shards/ (CANCELED)",
        "im2tfrecord: note: cancelled Flink job a4 of an earlier run, still running on s3://b/shards/ (CANCELED)",
    ]


def test_only_flink_on_a_cluster_is_looked_at():
    assert earlier_jobs.on_flink(_options("host:8081"))
    assert not earlier_jobs.on_flink(_options("[auto]"))
    assert not earlier_jobs.on_flink(PipelineOptions(["--runner", "SparkRunner"]))
    assert not earlier_jobs.on_flink(PipelineOptions([]))
