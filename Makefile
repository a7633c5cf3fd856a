# Two commands for a newcomer: `make demo` (the core only) and `make test` (the test extras); each creates .venv
# from pyproject.toml. `make lint` runs ruff and mypy (strict on the public API), as .ci/run does before the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CORE := $(VENV)/.installed-core
TEST := $(VENV)/.installed-test

.PHONY: demo test lint solvers bench clean chromium

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# the core: numpy, scipy, pandas, scikit-learn, HiGHS, ... (no torch, Ray, Dask, OR-Tools, Pyomo)
$(CORE): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $(CORE)

# the test extras include the core, so they satisfy the core stamp too
$(TEST): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	touch $(TEST) $(CORE)

demo: $(CORE)
	$(VENV)/bin/milp-recourse demo

test: $(TEST) solvers chromium
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(TEST)
	$(PY) -m ruff check .
	$(PY) -m mypy

# The free MILP solvers behind the pyomo-cbc / pyomo-glpk backends (Debian packages), so that their conformance
# battery runs; installed only when missing and apt-get can be used (root or password-less sudo), else skipped.
solvers:
	@missing=""; command -v cbc >/dev/null 2>&1 || missing="$$missing coinor-cbc"; \
	command -v glpsol >/dev/null 2>&1 || missing="$$missing glpk-utils"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo -n"; fi; \
		if command -v apt-get >/dev/null 2>&1 && { [ -z "$$sudo" ] || sudo -n true 2>/dev/null; }; then \
			$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing \
				|| echo "could not install$$missing: the pyomo-cbc / pyomo-glpk tests will not run"; \
		else echo "apt-get unavailable: not installing$$missing (the pyomo-cbc / pyomo-glpk tests will not run)"; fi; \
	fi

# The browser tests drive the system's Chromium (Debian package; `playwright install` cannot download here).
# Installed when missing and we are root; otherwise those tests skip with a reason.
chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } || \
		echo "chromium not installed: the browser tests will be skipped"

bench: $(TEST)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
