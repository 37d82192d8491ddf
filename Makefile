# One command each: `make run` starts the bot on its embedded defaults, `make test` runs the suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint check eval bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	set -a; [ ! -f .env ] || . ./.env; set +a; $(BIN)/python run_bot.py serve

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python run_bot.py check
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

check: $(STAMP)
	$(BIN)/python run_bot.py check

eval: $(STAMP)
	$(BIN)/python run_bot.py eval ../shared/eval/dev_questions.yaml

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) data/*.sqlite3
