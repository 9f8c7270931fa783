# The two commands: `make run` serves, `make test` runs the whole suite. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app backend:create_app

.PHONY: run test lint fmt migrate clean bench bench-soak vendor-socketio screenshots

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
# e2e and browser tests start real servers and assert bounded waits, so they run afterwards,
# one at a time, with the machine to themselves. PYTEST_ARGS replaces all three with one plain
# pytest run.
test: $(VENV)/.dev-installed
ifeq ($(strip $(PYTEST_ARGS)),)
	$(BIN)/python -m pytest tests/unit -n 2
	$(BIN)/python -m pytest tests/e2e
	$(BIN)/python -m pytest tests/browser
else
	$(BIN)/python -m pytest $(PYTEST_ARGS)
endif

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(VENV)/.dev-installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The Node load generator's dependencies, exactly as locked: `npm ci` reinstalls from
# package-lock.json, and only when the lockfile is newer than the last install (the stamp).
LOADGEN := bench/loadgen
$(LOADGEN)/node_modules/.installed: $(LOADGEN)/package-lock.json $(LOADGEN)/package.json
	npm ci --prefix $(LOADGEN) --no-audit --no-fund
	touch $@

# Benchmarks need the machine to themselves and take up to 30 minutes, so they are never part
# of `make test`; `python -m bench` checks the machine is quiet, runs the socket matrix and REST
# at scale one after the other and re-renders docs/benchmarks.md. BENCH_ARGS goes to it
# (e.g. BENCH_ARGS=--quick for a 3-minute smoke run).
bench: $(VENV)/.dev-installed $(LOADGEN)/node_modules/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# A leak shows only over time: ten minutes of client churn, kept out of `make bench`'s budget.
bench-soak: $(VENV)/.dev-installed $(LOADGEN)/node_modules/.installed
	$(BIN)/python -m bench.soak --minutes 10 --out bench/results/soak.json

# The browser pages load Socket.IO's own ES module build, vendored (no CDN, no build step) from
# the socket.io-client that tests/e2e/js/package-lock.json pins, so the pages and the Node e2e
# tests speak through the same client. Change the pin there, then run this and commit the files.
E2E_JS := tests/e2e/js
SOCKETIO_VENDOR := backend/web/static/vendor/socket.io-client
vendor-socketio:
	npm ci --prefix $(E2E_JS) --no-audit --no-fund
	cp $(E2E_JS)/node_modules/socket.io-client/dist/socket.io.esm.min.js \
	   $(E2E_JS)/node_modules/socket.io-client/dist/socket.io.esm.min.js.map \
	   $(E2E_JS)/node_modules/socket.io-client/LICENSE $(SOCKETIO_VENDOR)/
	node -p 'require("./$(E2E_JS)/node_modules/socket.io-client/package.json").version' \
	   > $(SOCKETIO_VENDOR)/VERSION

# The README's pictures, from the browser tests' own pages (needs Chromium, as they do).
screenshots: $(VENV)/.dev-installed
	SESSIONHUB_SCREENSHOTS=$(CURDIR)/docs/img $(BIN)/python -m pytest tests/browser/test_screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
