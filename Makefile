# The whole set-up is here: `make demo` and `make test` work on a fresh Debian machine.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin

.PHONY: setup demo test lint format stack-up stack-down clean

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

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/wagerstream stack up
	$(BIN)/wagerstream topics create
	$(BIN)/pytest -q -ra

stack-up: setup
	$(BIN)/wagerstream stack up

stack-down: setup
	$(BIN)/wagerstream stack down

clean: stack-down
	rm -rf .stack
