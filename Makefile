# AMM-500. Every target creates .venv on its own when it is missing or stale.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
CORE_STAMP := $(VENV)/.core-installed
FULL_STAMP := $(VENV)/.full-installed
TORCH_VERSION ?= 2.13.0
PYTEST_ARGS ?=

.PHONY: demo test setup setup-full lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -U pip "setuptools>=77" wheel

$(CORE_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	touch $@

# torch first, pinned: an unpinned resolve would pull a multi-GB CUDA build.
$(FULL_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) install "torch==$(TORCH_VERSION)"
	$(PIP) install -e ".[ml,dist,dev]"
	touch $(CORE_STAMP) $@

setup: $(CORE_STAMP)
setup-full: $(FULL_STAMP)
	sh scripts/install_chromium.sh

## The main job on the embedded default: no keys, no internet.
demo: $(CORE_STAMP)
	$(BIN)/amm500 demo

## The whole test suite (what .ci/run calls).
test: $(FULL_STAMP)
	sh scripts/install_chromium.sh
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

lint: $(FULL_STAMP)
	$(BIN)/ruff check src tests bench scripts

typecheck: $(FULL_STAMP)
	$(BIN)/mypy

bench: $(FULL_STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info
