# The commands the README names. Each one sets up what it needs first.
PYTHON ?= python3
VENV ?= .venv
DEMO ?= demo-workspace

# Use the active virtual environment when there is one, else our own.
ifdef VIRTUAL_ENV
BIN := $(VIRTUAL_ENV)/bin
else
BIN := $(abspath $(VENV))/bin
endif
STAMP := $(BIN)/.lpstudio-installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

demo: setup
	$(BIN)/python -m lpstudio.demo --workspace $(DEMO)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest -n 2
	$(BIN)/pytest --nbval-lax -p no:cacheprovider notebooks/templates

bench: setup
	$(BIN)/python bench/bench_run.py

clean:
	rm -rf $(DEMO) .pytest_cache .ruff_cache
