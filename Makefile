# Every target sets itself up on a fresh machine: uv (if missing), the lock, the environment.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PACKAGES := graph variables transforms layers optim metrics checkpoint display nnx
# Multi-device code is tested on 8 simulated CPU devices.
export XLA_FLAGS ?= --xla_force_host_platform_device_count=8
export JAX_PLATFORMS ?= cpu

.PHONY: setup lint typecheck pytest pytest-checked test test-isolated demo bench bench-smoke

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) lock --quiet
	$(UV) sync --quiet --locked --all-packages

lint: setup
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .

typecheck: setup
	$(UV) run --locked mypy

pytest: setup
	$(UV) run --locked pytest -q

# The whole suite again, the benchmarks' equivalence tests included, with every fast-path
# hit verified against a fresh walk (nnx.check_fast_path): a stale cache entry fails here.
pytest-checked: setup
	NNX_CHECK_FAST_PATH=1 UV_PROJECT_ENVIRONMENT=.venvs/bench $(UV) run --locked --group bench \
	  pytest -q packages tests benchmarks

# Each package's tests in an environment holding only that package, its declared
# dependencies and its own dev group: proves nnx-graph needs nothing but jax, and so on.
test-isolated: setup
	@for p in $(PACKAGES); do \
	  name=$$( [ $$p = nnx ] && echo nnx || echo nnx-$$p ); \
	  echo "== $$name alone"; \
	  UV_PROJECT_ENVIRONMENT=.venvs/$$p $(UV) run --quiet --locked --exact --package $$name \
	    pytest -q packages/$$p || exit 1; \
	done

# pytest-checked is the whole suite (and the benchmarks' tests) with every fast-path hit
# verified, and a verified hit still returns the cached result: it runs everything
# `pytest` does and checks more, so `test` runs it in its place (the 20-minute budget).
test: lint typecheck pytest-checked test-isolated bench-smoke

demo: setup
	$(UV) run --locked python examples/tutorial.py

bench: setup
	UV_PROJECT_ENVIRONMENT=.venvs/bench $(UV) run --locked --group bench python -m benchmarks.run

bench-smoke: setup
	UV_PROJECT_ENVIRONMENT=.venvs/bench $(UV) run --locked --group bench python -m benchmarks.run --smoke
