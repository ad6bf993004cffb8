# Two commands for a new user: `make run` (set up, build data and artifacts, start the trio)
# and `make test`. Each command installs what it needs: the Python environment from the lock
# (requirements.lock, every version pinned) and, only where that command uses them, Debian packages.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SCALE ?= $(or $(MUSICREC_DATA__SCALE),small)
RAW := data/raw
ARTIFACTS := data/artifacts
LOCK := requirements.lock
UV_TOOL ?= /tmp/musicrec-uv
export OPENBLAS_NUM_THREADS := 1
export PYTHONUNBUFFERED := 1

REPLICAS ?= 2

.PHONY: setup system system-test system-cluster system-bench lock data pipeline run serve cluster test bench \
	replay wheel clean

# The project's Python environment: every package at its locked version, then the project itself
# (editable, built by the locked hatchling, nothing else fetched), which gives the `musicrec` command.
$(VENV)/.installed: $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup: $(VENV)/.installed

# Debian packages, each installed by the command that uses it (`$(call debian,program:package ...)`):
# a Java runtime for the pipeline's Spark engine and its tests (its installer writes into
# /usr/share/man/man1, which slim images lack); redis-server and nginx for `make cluster` and their
# tests; chromium for the browser tests (Playwright drives it; its own browser download is not used);
# wrk for `make bench`. Without root, the step prints the apt-get command to run and stops.
define debian
	@missing=""; for pair in $(1); do program=$${pair%%:*}; package=$${pair#*:}; \
		command -v $$program >/dev/null || test -x /usr/sbin/$$program || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "error: $@ needs Debian packages that are missing; install them, then run make again:" >&2; \
			echo "  sudo apt-get update && sudo apt-get install -y$$missing" >&2; \
			exit 1; \
		fi; \
		echo "Installing$$missing (Debian packages)"; mkdir -p /usr/share/man/man1; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

system-test:
	$(call debian,java:openjdk-17-jre-headless redis-server:redis-server nginx:nginx chromium:chromium)

system-cluster:
	$(call debian,redis-server:redis-server nginx:nginx)

system-bench:
	$(call debian,wrk:wrk)

# Every Debian package any command uses.
system: system-test system-bench

# The lock: every version, transitive ones included, resolved by uv from pyproject.toml's
# dependencies and all its extras, on the indexes pip uses here (pip config list). Run after
# changing a dependency in pyproject.toml; versions already in the lock are kept where they still fit.
lock:
	test -x $(UV_TOOL)/bin/uv || { $(PYTHON) -m venv $(UV_TOOL) && $(UV_TOOL)/bin/pip install --quiet uv; }
	$(UV_TOOL)/bin/uv pip compile pyproject.toml --all-extras --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 --index-strategy unsafe-best-match \
		$$($(PYTHON) -m pip config list 2>/dev/null | sed -n "s/^[^.]*\.\(extra-index-url\|find-links\)='\(.*\)'$$/\1 \2/p" \
			| while read -r option values; do for value in $$values; do echo "--$$option $$value"; done; done | sort -u) \
		--no-annotate --quiet -o $(LOCK) \
		--custom-compile-command "make lock  (uv pip compile pyproject.toml --all-extras: the Makefile's lock target)"

# The package a new user installs: dist/musicrec-<version>-py3-none-any.whl
wheel: setup
	$(PY) -m build --wheel --no-isolation --outdir dist .

$(RAW)/interactions.parquet: | $(VENV)/.installed
	$(PY) -m musicrec data --scale $(SCALE) --out $(RAW)

data: $(RAW)/interactions.parquet

$(ARTIFACTS)/manifest.json: $(RAW)/interactions.parquet
	$(PY) -m musicrec pipeline --raw $(RAW) --artifacts $(ARTIFACTS)

pipeline: $(ARTIFACTS)/manifest.json

# Serves at once: without artifacts a quick set first, then the tuned one made in the background
# (python -m musicrec run; README "Start here"). Events in SQLite: no Debian package needed.
run: setup data
	$(PY) -m musicrec run

serve: setup
	$(PY) -m musicrec serve

# REPLICAS replicas of each service behind nginx on the usual ports, events in redis-server.
cluster: setup system-cluster pipeline
	$(PY) -m musicrec serve --replicas $(REPLICAS)

test: setup system-test
	$(PY) -m pytest

bench: setup system-bench
	$(PY) -m bench.serving

replay: setup pipeline
	$(PY) -m musicrec replay

clean:
	rm -rf $(VENV) dist data/raw data/artifacts data/artifact_sets data/serving_cache data/cluster data/redis \
		data/events.sqlite3*
