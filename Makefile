# The two commands a newcomer runs: `make demo` and `make test`. Each builds what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins an older boto3, so the template scanners live in a virtualenv of their own.
SCAN := .venv-scan
SCAN_STAMP := $(SCAN)/.installed
TEMPLATE := lib/TapStack.yml

.PHONY: demo test lint typecheck scan bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

$(SCAN_STAMP): requirements-scan.txt requirements-scan.lock
	$(PYTHON) -m venv $(SCAN)
	$(SCAN)/bin/python -m pip install --quiet -c requirements-scan.lock -r requirements-scan.txt
	touch $(SCAN_STAMP)

demo: $(STAMP)
	$(BIN)/docbackup demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# cfn-lint at its default level and checkov: any finding fails the build.
scan: $(SCAN_STAMP)
	$(SCAN)/bin/cfn-lint $(TEMPLATE)
	BC_SKIP_MAPPING=TRUE $(SCAN)/bin/checkov --quiet --compact --skip-download \
		--framework cloudformation -f $(TEMPLATE)

test: lint typecheck scan
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/backup_scale.py
	$(BIN)/python bench/handler_night.py

clean:
	rm -rf $(VENV) $(SCAN) .pytest_cache .mypy_cache .ruff_cache
