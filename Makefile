# Two entry points: `make app` (install, then run the dashboard) and `make test` (install, then
# lint, check the layering rules in .importlinter and run the test suite, spread over the cores
# by pytest-xdist). Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: app test install browser postgres bench clean

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[app,dev,bench,scale]"
	touch $@

install: $(BIN)/.installed

# Debian's Chromium for the browser test (never a downloaded browser build).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && apt-get install -y -q chromium fonts-noto-color-emoji; \
	  else echo "chromium not found: the browser test will be skipped"; fi; }

# Debian's PostgreSQL for the tests of the PostgreSQL run store: .ci/with-postgres starts a
# throwaway server for the test run and stops it after.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
	  else echo "PostgreSQL not found: the PostgreSQL store tests will be skipped"; fi; }

app: install
	$(BIN)/streamlit run app.py

test: install browser postgres
	$(BIN)/ruff check deepad pages tests app.py
	$(BIN)/lint-imports
	bash .ci/with-postgres $(BIN)/python -m pytest -q -n auto --maxprocesses=4 --durations=10

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
