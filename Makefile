# Every target installs what it needs, idempotently: a fresh clone needs only
# Python 3.11; the cluster tests' JDK and Maven come from Debian's archive.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup java gofakes3 demo lint test test-emr mutants mutmut clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

# The converter alone, for `make demo`: no test or benchmark tools (torch
# and TensorFlow are 6 GB of them).
BASE_STAMP := $(VENV)/.base-stamp
$(BASE_STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $(BASE_STAMP)

# The project's own bytecode, written even under PYTHONDONTWRITEBYTECODE (set
# on CI machines), which would have every run compile our modules from source
# again; Python still reads .pyc files that exist. __pycache__/ is ignored by
# git, and a .pyc older than its source is ignored (the source is compiled).
setup: $(STAMP)
	$(PY) -m compileall -q pipeline transforms

# Converts a generated demo image tree (no downloads) with the local runner.
demo: $(BASE_STAMP)
	$(PY) -m pipeline.convert.demo_images demo/images
	rm -rf demo/out
	$(PY) -m pipeline --input demo/images --output demo/out --num_shards 2 --image_size 128

# Flink, Spark and Beam's job servers (tests/test_clusters.py) run on Java 17;
# runners/job_server.sh resolves the job servers with Maven.
java:
	@command -v java >/dev/null && command -v mvn >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless maven; }

# ruff (ruff.toml): errors, likely bugs and import order, then the format.
# Not a dependency of the tool, so installed here, pinned; it reads the files
# only, so the project itself need not be installed.
lint:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet ruff==0.17.6
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# gofakes3, the tests' second S3 server: `go install` from the Go module
# proxy into .cache/go (tests/servers.py), once; needs Go 1.24 or later.
gofakes3: $(STAMP)
	$(PY) -m tests.servers gofakes3

# In two parts: every test file but the cluster tests' in TEST_PROCESSES
# pytest processes (whole files each, so a module's fixtures start once: they
# wait on servers and subprocesses about half the time, 20 min in one process,
# 10 in two here; three took 8.4 min, no faster), then the cluster tests alone
# (their jobs keep both cores busy, and kill workers at chosen moments): the
# standalone clusters, then Flink and Spark on a YARN of this machine's as EMR
# runs them (tests/test_yarn.py, runners/yarn/cluster.sh, about three minutes).
# EMR's bootstrap action from a wheelhouse without PyPI
# (tests/test_emr_install.py) runs in the first part.
TEST_PROCESSES ?= 2
YARN_TESTS := tests/test_yarn.py
EMR_TESTS := $(YARN_TESTS) tests/test_emr_install.py
test: $(STAMP) java gofakes3
	$(PY) -m pytest tests --ignore=tests/test_clusters.py $(YARN_TESTS:%=--ignore=%) -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)
	$(PY) -m pytest tests/test_clusters.py $(YARN_TESTS) $(PYTEST_ARGS)

# The EMR tests alone.
test-emr: $(STAMP) java
	$(PY) -m pytest $(EMR_TESTS) $(PYTEST_ARGS)

# Deliberate breakages (tests/mutants.py) the suite must catch, each in a copy.
mutants: $(STAMP)
	$(PY) -m tests.mutants

# mutmut over the core modules (setup.cfg); not a dependency, so installed here.
# Leaves its copies in mutants/ (ignored); `$(VENV)/bin/mutmut results` lists survivors.
mutmut: $(STAMP)
	$(PY) -m pip install --quiet mutmut==3.8.1
	$(VENV)/bin/mutmut run --max-children 2

clean:
	rm -rf demo build *.egg-info
