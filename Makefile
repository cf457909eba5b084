# Quick start: `make demo` runs the main job, `make test` runs the tests.
# Both bootstrap .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean venv chromium

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,report]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/dgate demo

chromium:
	scripts/ensure-chromium

test: $(STAMP) chromium
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks.pipeline

clean:
	rm -rf $(VENV) dgate-home dgate-demo dgate-demo-data .pytest_cache .mypy_cache .ruff_cache
