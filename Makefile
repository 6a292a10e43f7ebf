# Every target installs what it needs: a pinned uv in .tools/, then the locked
# environment in .venv/. A new machine needs only Python 3.11, pip and gcc.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
RUN := $(UV) run --frozen

.PHONY: demo up test test-fast proto fmt lint typecheck check clean pgbouncer bench

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	touch $@

demo: .venv/.synced
	$(RUN) python -m devstack demo

# `make up REPLICAS=2` runs two processes of every service on one database,
# as a cluster would.
REPLICAS ?= 1
up: .venv/.synced
	$(RUN) python -m devstack up --replicas $(REPLICAS)

test: .venv/.synced pgbouncer
	$(RUN) pytest -p no:cacheprovider

# PgBouncer, for the test of the services behind transaction pooling: taken
# from the system's packages when missing and this runs as root.
pgbouncer:
	@command -v pgbouncer >/dev/null || test -x /usr/sbin/pgbouncer || \
	  { test "$$(id -u)" = 0 && (apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer) >/dev/null; } || \
	  echo "pgbouncer is not installed; its test will be skipped"

test-fast: .venv/.synced
	$(RUN) pytest -p no:cacheprovider -m "not e2e"

# Every benchmark in bench/, one after another, then the figures into
# BENCHMARKS.md; `make bench BENCH="ingestion gateway"` runs only those.
BENCH ?=
bench: .venv/.synced
	$(RUN) python -m bench.run $(BENCH)

proto: .venv/.synced
	$(RUN) python scripts/gen_protos.py

fmt: .venv/.synced
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

lint: .venv/.synced
	$(RUN) ruff format --check .
	$(RUN) ruff check .

typecheck: .venv/.synced
	$(RUN) mypy services gateway devstack fakes eval

check: lint typecheck test

clean:
	rm -rf .venv $(TOOLS) var
