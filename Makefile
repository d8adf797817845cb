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
# Debian's packages are installed as root (CI) or through sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup demo test lint bench clean system

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

# Debian's packages the tests use: chromium (UI tests drive it through Playwright, never a
# downloaded browser) and PostgreSQL (the scale-out store; the tests start their own cluster).
system:
	@missing=""; test -x /usr/bin/chromium || missing="chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

test: lint system
	$(BIN)/pytest -n 2
	$(BIN)/pytest --nbval-lax -p no:cacheprovider notebooks/templates

bench: setup
	$(BIN)/python bench/bench_run.py

clean:
	rm -rf $(DEMO) .pytest_cache .ruff_cache
