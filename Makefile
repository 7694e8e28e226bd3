# Every target sets itself up on a fresh machine: uv (if missing), the lock, the environment.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PACKAGES := graph variables transforms layers optim metrics checkpoint display distributed nnx
# Multi-device code is tested on 8 simulated CPU devices.
export XLA_FLAGS ?= --xla_force_host_platform_device_count=8
export JAX_PLATFORMS ?= cpu

.PHONY: setup lint typecheck pytest pytest-checked test-seed docs examples examples-smoke test test-isolated demo demo-distributed bench bench-smoke

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

# The whole suite, the benchmarks' equivalence tests and every docs page's code included,
# with every fast-path hit verified against a fresh walk (nnx.check_fast_path): a stale
# cache entry fails here. -rs prints why each skipped test skipped.
pytest-checked: setup
	NNX_CHECK_FAST_PATH=1 UV_PROJECT_ENVIRONMENT=.venvs/bench $(UV) run --quiet --locked \
	  --group bench pytest -q -rs packages tests benchmarks

# The tests replaying the reference tutorial (flax's "Flax Basics") cell by cell against its
# printed values: they need ../shared/seed beside the repository (or NNX_SEED_DIR), and
# must not skip where it is there.
test-seed: setup
	@if [ -n "$${NNX_SEED_DIR:-}" ] || [ -d ../shared/seed ]; then \
	  NNX_REQUIRE_SEED=1 NNX_CHECK_FAST_PATH=1 $(UV) run --locked pytest -q \
	    tests/test_tutorial.py tests/test_tutorial_core.py; \
	else echo "test-seed skipped: no ../shared/seed beside the repository (set NNX_SEED_DIR)"; fi

# The docs site, strictly (a broken link, a missing page or an API name that does not
# resolve fails), then its key pages opened in headless Chromium (screenshots in
# build/screenshots; skipped with the reason printed where no Chromium is installed).
docs: setup
	NO_MKDOCS_2_WARNING=1 UV_PROJECT_ENVIRONMENT=.venvs/docs $(UV) run --quiet --locked \
	  --group docs mkdocs build  # not --quiet: that hides the warnings strict mode counts
	UV_PROJECT_ENVIRONMENT=.venvs/docs $(UV) run --quiet --locked --group docs \
	  python tools/check_site.py

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
# After the quick checks, the test suites run in a copy of the repository with nothing
# beside it, as a user's plain clone is (tools/standalone_copy.py): a test that needs a
# file outside the repository, such as the workspace's ../shared, cannot pass there (the
# seed replay skips there, saying why, and runs in place in test-seed). In the copy the
# checked suite takes one core while the packages alone, the examples and the benchmark
# smoke run take the other (-O keeps each one's output whole).
test: lint typecheck docs test-seed
	@copy=$$(python3 tools/standalone_copy.py); trap 'rm -rf "$$(dirname "$$copy")"' EXIT; \
	echo "== the test suites in $$copy, a copy with no ../shared beside it"; \
	$(MAKE) -C "$$copy" --no-print-directory -j2 -O \
	  pytest-checked test-isolated examples-smoke bench-smoke

demo: setup
	$(UV) run --locked python examples/tutorial.py

# The sharded transformer on 2 local processes x 4 simulated devices (jax.distributed, gloo).
demo-distributed: setup
	$(UV) run --locked python -m nnx_distributed.launch --processes 2 --devices-per-process 4 \
	  --timeout 300 examples/distributed_transformer.py --steps 5

bench: setup
	UV_PROJECT_ENVIRONMENT=.venvs/bench $(UV) run --locked --group bench python -m benchmarks.run

bench-smoke: setup
	UV_PROJECT_ENVIRONMENT=.venvs/bench $(UV) run --locked --group bench python -m benchmarks.run --smoke

# The examples on real data at full size, from scratch (about 13 minutes on 2 CPU cores):
# logs, checkpoints, summaries and the PNG curves go to build/examples/. One CPU device,
# as a user runs them. The reduced runs are tests/test_examples.py.
examples: setup
	rm -rf build/examples/digits_cnn build/examples/char_lm
	mkdir -p build/examples
	XLA_FLAGS= UV_PROJECT_ENVIRONMENT=.venvs/examples $(UV) run --locked --group examples \
	  python examples/digits_cnn.py --out build/examples/digits_cnn
	XLA_FLAGS= UV_PROJECT_ENVIRONMENT=.venvs/examples $(UV) run --locked --group examples \
	  python examples/char_lm.py --out build/examples/char_lm

# The examples at reduced size (seconds), in the environment that has scikit-learn,
# matplotlib and tqdm: elsewhere tests/test_examples.py skips, saying which is missing.
examples-smoke: setup
	UV_PROJECT_ENVIRONMENT=.venvs/examples $(UV) run --quiet --locked --group examples \
	  pytest -q -rs tests/test_examples.py
