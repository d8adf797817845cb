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

.PHONY: setup demo studio test lint bench clean system

setup: $(STAMP)

# The studio's sources too: pip builds them into the installed labextension (a copy), with
# the tables it shares with the API and the widgets (terms, roles, list examples).
UI_SOURCES := $(wildcard ui/package.json ui/package-lock.json ui/src/*.ts ui/style/*.css ui/schema/*.json \
	lpstudio/lab_terms.json lpstudio/roles.json lpstudio/list_examples.json)

$(STAMP): pyproject.toml $(UI_SOURCES)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

demo: setup
	$(BIN)/python -m lpstudio.demo --workspace $(DEMO)

# The studio: JupyterLab on 127.0.0.1 with the sandbox and a workspace whose connections use
# it (created once, then reused); prints the URL. Ctrl-C stops JupyterLab and the sandbox.
STUDIO ?= studio-workspace
STUDIO_PORT ?= 8888
SANDBOX_PORT ?= 8765
# Seconds JupyterLab has to answer (the module's own default, 300, when not set).
START_TIMEOUT ?=

studio: setup
	$(BIN)/python -m lpstudio.launch --workspace $(STUDIO) --port $(STUDIO_PORT) \
		--sandbox-port $(SANDBOX_PORT) $(if $(START_TIMEOUT),--start-timeout $(START_TIMEOUT))

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

# The five speed benchmarks of bench/README.md, each against its baselines (about 15 min).
bench: setup
	$(BIN)/python bench/bench_latency.py
	$(BIN)/python bench/bench_throughput.py
	$(BIN)/python bench/bench_callable.py
	$(BIN)/python bench/bench_fanout.py
	$(BIN)/python bench/bench_history.py

clean:
	rm -rf $(DEMO) .pytest_cache .ruff_cache
