# One command each: `make run` starts the bot on its embedded defaults, `make test` runs the suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# axe-core, for the accessibility checks of the browser tests only (never shipped with the pages)
AXE := tests/browser/node_modules/axe-core/axe.min.js

.PHONY: run test lint check eval bench screenshots clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

$(AXE): tests/browser/package.json tests/browser/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error && touch $(AXE); \
	else echo "npm not found: accessibility checks will be skipped (apt-get install npm)"; fi

# `make run PORT=8081 HOST=0.0.0.0` overrides the listen address (else .env or the defaults).
run: $(STAMP)
	set -a; [ ! -f .env ] || . ./.env; set +a; \
	$(BIN)/python run_bot.py serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

test: $(STAMP) $(AXE)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python run_bot.py check
	$(BIN)/python -m pytest
	@$(BIN)/python -m tests.browser  # one line saying why, when the browser tests were skipped

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: $(STAMP)
	$(BIN)/python run_bot.py check

eval: $(STAMP)
	$(BIN)/python run_bot.py eval

bench: $(STAMP)
	$(BIN)/python bench/run.py

# The README's pictures of the staff console, taken by its browser tests.
screenshots: $(STAMP)
	SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest tests/channels/test_admin_browser.py -q

clean:
	rm -rf $(VENV) tests/browser/node_modules data/*.sqlite3
