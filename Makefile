# The two commands: `make run` serves, `make test` runs the whole suite. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app backend:create_app

.PHONY: run test lint fmt migrate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime-installed

migrate: $(VENV)/.runtime-installed
	$(FLASK) db upgrade

# exec: the server becomes make's direct child, so a Ctrl-C or a group kill reaches it once.
run: migrate
	exec $(BIN)/python app.py

# Unit tests run in-process and share nothing, so two workers (one per core) halve their time;
# e2e tests start real servers and assert bounded waits, so they run afterwards, one at a time,
# with the machine to themselves. PYTEST_ARGS replaces both with one plain pytest run.
test: $(VENV)/.dev-installed
ifeq ($(strip $(PYTEST_ARGS)),)
	$(BIN)/python -m pytest tests/unit -n 2
	$(BIN)/python -m pytest tests/e2e
else
	$(BIN)/python -m pytest $(PYTEST_ARGS)
endif

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
