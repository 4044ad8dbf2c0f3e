# the first of these that is Python 3.11 or newer (PYTHON=... chooses another)
ifeq ($(origin PYTHON), undefined)
PYTHON := $(shell for p in python3.11 python3.12 python3.13 python3.14 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && { echo $$p; break; }; \
	done)
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no Python 3.11 or newer found (set PYTHON=...)"; exit 2; }
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 2; }
	@# a venv that lacks pip (made where the venv package was missing) is made again
	@$(BIN)/python -m pip --version >/dev/null 2>&1 || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV) || \
		{ rm -rf $(VENV); echo "error: $(PYTHON) -m venv failed (on Debian or Ubuntu: apt install python3-venv)"; exit 2; }; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/evoforge run examples/circle_packing --out runs/demo --fresh
	$(BIN)/evoforge best runs/demo

# on parallel workers, one per usable CPU (tests/conftest.py), each test file on one worker:
# its module fixtures made once, and the Ray tests' one local Ray instance never two at once
test: $(STAMP)
	$(BIN)/python -m pytest -q tests -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check evoforge tests benchmarks examples
	$(BIN)/ruff format --check evoforge tests benchmarks
	$(BIN)/mypy

# build/ too: setuptools reuses it, so a module deleted since the last `pip wheel .` or
# `pip install .` here would still be packed into the next wheel built from the clone
clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache build dist evoforge.egg-info
