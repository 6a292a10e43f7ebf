# Every target installs what it needs: a pinned uv in .tools/, then the locked
# environment in .venv/. A new machine needs only Python 3.11, pip and gcc.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
RUN := $(UV) run --frozen

.PHONY: demo up test test-fast proto fmt lint typecheck check clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen
	touch $@

demo: .venv/.synced
	$(RUN) python -m devstack demo

up: .venv/.synced
	$(RUN) python -m devstack up

test: .venv/.synced
	$(RUN) pytest -p no:cacheprovider

test-fast: .venv/.synced
	$(RUN) pytest -p no:cacheprovider -m "not e2e"

proto: .venv/.synced
	$(RUN) python scripts/gen_protos.py

fmt: .venv/.synced
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

lint: .venv/.synced
	$(RUN) ruff format --check .
	$(RUN) ruff check .

typecheck: .venv/.synced
	$(RUN) mypy services gateway devstack fakes

check: lint typecheck test

clean:
	rm -rf .venv $(TOOLS) var
