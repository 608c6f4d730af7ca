# Every target installs what it needs, idempotently: a fresh clone needs only
# Python 3.11 (and, for the cluster tests, a JDK).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test clean

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

setup: $(STAMP)

# Converts a generated demo image tree (no downloads) with the local runner.
demo: $(STAMP)
	$(PY) -m pipeline.demo_images demo/images
	rm -rf demo/out
	$(PY) -m pipeline --input demo/images --output demo/out --num_shards 2 --image_size 128

test: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

clean:
	rm -rf demo build *.egg-info
