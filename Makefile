# Two commands do everything (see README.md):
#   make run   - set up .venv and run the capacity plan on the bundled example (report in reports/)
#   make test  - set up .venv, lint, type-check, and run every test (notebooks included)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

EXAMPLE := data/capacity-plan.yaml
REPORT := reports/capacity-plan.html

.PHONY: install system-deps run test lint bench lab clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m capplan.warmup  # compile the numba kernels into their cache once, not on first use
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests need, as command:package: prometheus (tests/test_prometheus.py starts a
# real server on loopback; promtool checks and unit-tests the exported rules), nodejs (node parses
# the exported k6 script), postgresql and pgbouncer (capplan.demo.database starts a throw-away
# PostgreSQL behind PgBouncer on loopback for tests/test_demo_database.py and
# benchmarks/validate_layered.py; Debian keeps the server binaries off PATH, hence the glob),
# chromium (tests/test_report_browser.py lays the HTML reports out in a headless browser 1024 px wide).
# Installed when the command is missing; without root or sudo the tests that need it skip and say why.
SYSTEM_PACKAGES := prometheus:prometheus promtool:prometheus node:nodejs \
	/usr/lib/postgresql/*/bin/postgres:postgresql pgbouncer:pgbouncer chromium:chromium
system-deps:
	@missing=""; for cp in $(SYSTEM_PACKAGES); do c=$${cp%%:*}; p=$${cp#*:}; \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $$c >/dev/null 2>&1 || case " $$missing " in *" $$p "*) ;; *) missing="$$missing $$p";; esac; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo -n"; fi; \
	  { $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	      --no-install-recommends $$missing >/dev/null; } \
	    || echo "warning: could not install$$missing; the tests that need it will skip"; \
	fi

run: $(STAMP)
	@mkdir -p $(dir $(REPORT))
	$(BIN)/capplan plan $(EXAMPLE) --out $(REPORT)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The notebooks are independent (each its own kernel, seeds fixed): pytest-xdist runs them side by
# side, one notebook per worker (--dist loadfile keeps a notebook's cells in order on one kernel).
NOTEBOOK_WORKERS ?= auto
test: lint system-deps
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest notebooks -n $(NOTEBOOK_WORKERS) --dist loadfile

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/bench_erlang.py
	$(BIN)/python benchmarks/bench_sim.py

# Jupyter refuses to run as root (containers) unless told it may.
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $$(if [ "$$(id -u)" -eq 0 ]; then echo --allow-root; fi)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
