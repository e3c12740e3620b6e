# pixverse-mock: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The development environment, pinned with hashes (refresh: make lock).
LOCK := requirements/dev.lock

HOST ?= 127.0.0.1
PORT ?= 8000
TIME_SCALE ?= 50
SEED ?=
PROFILE ?=

SERVE_ARGS := --host $(HOST) --port $(PORT) --time-scale $(TIME_SCALE) \
	$(if $(SEED),--seed $(SEED)) $(if $(PROFILE),--profile $(PROFILE))

BASE_URL ?=
API_KEY ?=
# Empty: every registered provider (mockserver/providers, README: Add a provider).
PROVIDERS ?=

.PHONY: install lock user-lane run lint types check test contract bench clean schemas

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

## Re-resolve requirements/dev.lock from pyproject.toml (newest versions the bounds allow,
## every platform, hashes included); then `make install` installs it.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra testing --universal \
		--python-version 3.11 --generate-hashes --upgrade --output-file $(LOCK)

## Install the built wheel the way a user's project does and use it from outside the checkout
## (.ci/user_lane.sh): LANE=newest [the newest versions allowed] or LANE=lowest [lower bounds].
user-lane:
	bash .ci/user_lane.sh $(or $(LANE),newest)

## Start the fake on http://$(HOST):$(PORT) (Ctrl-C to stop).
run: install
	$(BIN)/pixverse-mock serve $(SERVE_ARGS)

## Lint: ruff (pyflakes, import order, pycodestyle at 120 columns; configuration in pyproject.toml).
lint: install
	$(BIN)/ruff check .

## Type-check mockserver/ with mypy and pydantic's plugin (configuration in pyproject.toml).
types: install
	$(BIN)/mypy

## The inner loop, under a minute: lint, types and the unit tests that start no server
## (the engine, settings, contract loading, the testing kit's strategies, the admin schemas).
UNIT_TESTS := tests/engine tests/app/test_settings.py tests/contracts/test_contract_loading.py \
	tests/testing/test_strategies.py tests/admin/test_admin_schemas.py
check: lint types
	$(BIN)/python -m pytest -q $(UNIT_TESTS)

## Rewrite contracts/admin.yaml's request schemas from the pydantic models that validate them
## (mockserver/admin/schemas.py); tests/admin/test_admin_schemas.py fails while they are stale.
schemas: install
	$(BIN)/python -m mockserver.admin.schemas

## Lint, types and the whole test suite.
test: lint types
	$(BIN)/python -m pytest -q

## Retake the README's dashboard screenshots (docs/*.png) with the browser tests.
.PHONY: screenshots
screenshots: install
	SCREENSHOTS_DIR=docs $(BIN)/python -m pytest -q tests/admin/test_admin_browser.py

## Schemathesis against the fake, or with BASE_URL=... API_KEY=... against any server
## (a real provider costs real credits). PROVIDERS=freepik,... picks the contracts (default: all).
contract: install
	CONTRACT_BASE_URL='$(BASE_URL)' CONTRACT_API_KEY='$(API_KEY)' CONTRACT_PROVIDERS='$(PROVIDERS)' \
		$(BIN)/python -m pytest -q tests/contracts/test_contract_fuzz.py -k test_fake_keeps_its_contract

## The fake against a bare aiohttp app under wrk, on loopback (installs wrk if missing), start-up
## time, then resident memory with 1,000,000 stored jobs (MEMORY_JOBS=0 skips it).  FAKES="memory
## redis redis:2" runs those fakes side by side (in memory, state in Redis, 2 workers on Redis).
bench: install
	command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
	$(BIN)/python loadtests/bench.py --duration $${DURATION:-10} --connections 32 --threads 2 \
		--memory $${MEMORY_JOBS:-1000000} $(foreach f,$(FAKES),--fake $(f))

## Locust scenarios of all four providers, headless and bounded, against a freshly started fake
## (HOST=http://... targets any server instead, e.g. your service in front of the fake).  HTML
## report, CSV and thresholds.json in reports/load/; exits 1 when a threshold is missed (error
## ratio, end-to-end p95).  USERS [20], SPAWN_RATE [5], RUN_TIME [45s], SHAPE [constant|ramp|
## step|spike|soak], PROCESSES [distributed: N locust worker processes], WORKERS [the fake's worker
## processes, sharing a Redis the script starts], LOAD_ARGS [more run_load.py args].
.PHONY: load
load: install
	$(BIN)/python loadtests/run_load.py \
		$(if $(findstring ://,$(HOST)),--host $(HOST),--time-scale $(TIME_SCALE) $(if $(SEED),--seed $(SEED))) \
		--users $(or $(USERS),20) --spawn-rate $(or $(SPAWN_RATE),5) --run-time $(or $(RUN_TIME),45s) \
		--shape $(or $(SHAPE),constant) $(if $(PROCESSES),--processes $(PROCESSES)) \
		$(if $(WORKERS),--fake-workers $(WORKERS)) $(LOAD_ARGS)

clean:
	rm -rf $(VENV) .cache .pytest_cache .hypothesis *.egg-info
