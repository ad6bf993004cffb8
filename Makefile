# Two commands for a new user: `make run` (set up, build data and artifacts, start the trio)
# and `make test`. Everything the project needs is installed from here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SCALE ?= $(or $(MUSICREC_DATA__SCALE),small)
RAW := data/raw
ARTIFACTS := data/artifacts
export OPENBLAS_NUM_THREADS := 1
export PYTHONUNBUFFERED := 1

REPLICAS ?= 2

.PHONY: setup system data pipeline run serve cluster test bench replay clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Debian packages: redis-server for the Redis event store and its tests; nginx for `make cluster`
# and its tests; wrk for `make bench`; chromium for the web page's browser tests (Playwright drives
# it; its own browser download is not used).
system:
	@command -v redis-server >/dev/null || { \
		echo "Installing redis-server (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
		echo "Installing nginx (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }
	@command -v wrk >/dev/null || { \
		echo "Installing wrk (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	@command -v chromium >/dev/null || { \
		echo "Installing chromium (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

setup: $(VENV)/.installed system

$(RAW)/interactions.parquet: | $(VENV)/.installed
	$(PY) -m musicrec data --scale $(SCALE) --out $(RAW)

data: $(RAW)/interactions.parquet

$(ARTIFACTS)/manifest.json: $(RAW)/interactions.parquet
	$(PY) -m musicrec pipeline --raw $(RAW) --artifacts $(ARTIFACTS)

pipeline: $(ARTIFACTS)/manifest.json

# Serves at once: without artifacts a quick set first, then the tuned one made in the background
# (python -m musicrec run; README "Start here").
run: setup data
	$(PY) -m musicrec run

serve: setup
	$(PY) -m musicrec serve

# REPLICAS replicas of each service behind nginx on the usual ports, events in redis-server.
cluster: setup pipeline
	$(PY) -m musicrec serve --replicas $(REPLICAS)

test: setup
	$(PY) -m pytest

bench: setup
	$(PY) -m bench.serving

replay: setup pipeline
	$(PY) -m musicrec replay

clean:
	rm -rf $(VENV) data/raw data/artifacts data/artifact_sets data/serving_cache data/cluster data/redis data/events.sqlite3*
