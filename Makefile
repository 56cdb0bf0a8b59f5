# Two commands do everything (see README.md):
#   make run   - set up .venv and run the capacity plan on the bundled example SLA
#   make test  - set up .venv, lint, type-check, and run every test (notebooks included)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

EXAMPLE_SLA := data/performance-sla.yaml data/performance-budget.yaml
EXAMPLE_SERVICE := critical_operations=40ms standard_operations=80ms batch_operations=2s

.PHONY: install run test lint bench lab clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/capplan plan $(EXAMPLE_SLA) --service-time $(EXAMPLE_SERVICE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/bench_erlang.py
	$(BIN)/python benchmarks/bench_sim.py

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
