# The whole set-up is here: `make demo` and `make test` work on a fresh Debian machine.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: setup demo test lint alerts browser format stack-up stack-down clean

setup: $(VENV)/.installed

# setuptools warns "Editable installation" on every editable install of a flat layout:
# nothing is wrong, so that one warning is filtered (and only that one).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	@PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/wagerstream demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# Alert rules and scrape config, with promtool from Debian's prometheus package (installed
# when missing; only promtool is used, no Prometheus server is started).
APT := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
alerts:
	@command -v promtool >/dev/null || $(APT) prometheus >/dev/null || \
		(apt-get update -q >/dev/null && $(APT) prometheus >/dev/null)
	cd deploy && promtool check config prometheus.yml && promtool test rules alerts.test.yml

# Debian's chromium, which the report test opens the demo report in (headless, through
# Playwright; Playwright's own browser downloads are never used).
browser:
	@command -v chromium >/dev/null || $(APT) chromium >/dev/null || \
		(apt-get update -q >/dev/null && $(APT) chromium >/dev/null)

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint alerts browser
	$(BIN)/wagerstream stack up
	$(BIN)/wagerstream topics create
	$(BIN)/pytest -q -ra

stack-up: setup
	$(BIN)/wagerstream stack up

stack-down: setup
	$(BIN)/wagerstream stack down

clean: stack-down
	rm -rf .stack
