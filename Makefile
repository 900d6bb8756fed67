# Two commands for a newcomer: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint bench bench-http bench-pool bench-places soak migrate check-migrations clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The story, then the server stays up for the console and /demo (Ctrl-C stops it);
# DEMO_ARGS= makes it exit when the story ends.
DEMO_ARGS ?= --keep-serving
demo: $(STAMP)
	$(BIN)/queue-rebate demo $(DEMO_ARGS)

# One worker per core, at most 4 (each test has its own databases and Redis keys, so workers
# never share state); work stealing evens out the few long tests. `pytest -q` alone runs serially.
test: $(STAMP)
	$(BIN)/pytest -q -n auto --maxprocesses 4 --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy rebate

migrate: $(STAMP)
	$(BIN)/queue-rebate migrate

check-migrations: $(STAMP)
	$(BIN)/queue-rebate makemigrations --check

bench: $(STAMP)
	$(BIN)/python -m bench.settlement

bench-http: $(STAMP)
	$(BIN)/python -m bench.http_path

# 工会排队's daily close over 1,000,000 waiting pool entries (days paying 10 % and 50 %)
bench-pool: $(STAMP)
	$(BIN)/python -m bench.pool_close

# A member's place in a deep queue (30,000 and 1,000,000 waiting): markers against the whole prefix
bench-places: $(STAMP)
	$(BIN)/python -m bench.places

# A bounded soak (default 10 minutes; SOAK_ARGS="--minutes 60" for longer): python -m bench.soak --help
soak: $(STAMP)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
