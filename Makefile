# pixverse-mock: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

HOST ?= 127.0.0.1
PORT ?= 8000
TIME_SCALE ?= 50
SEED ?=
PROFILE ?=

SERVE_ARGS := --host $(HOST) --port $(PORT) --time-scale $(TIME_SCALE) \
	$(if $(SEED),--seed $(SEED)) $(if $(PROFILE),--profile $(PROFILE))

.PHONY: install run test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## Start the fake on http://$(HOST):$(PORT) (Ctrl-C to stop).
run: install
	$(BIN)/pixverse-mock serve $(SERVE_ARGS)

## The whole test suite.
test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .cache .pytest_cache .hypothesis *.egg-info
