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
	@test -f $(DEMO)/lpstudio.toml || $(BIN)/lpstudio init $(DEMO) --accept-terms
	@test -f $(DEMO)/projects/demo/payment_reminder.ipynb || \
		$(BIN)/lpstudio gallery try payment_reminder --project demo -w $(DEMO)
	@# The sample invoices fall due in early December 2026: count from that date.
	$(BIN)/lpstudio run demo/payment_reminder -w $(DEMO) -p today 2026-12-01 -p days_ahead 7

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
