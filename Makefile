# The two commands a newcomer runs: `make demo` and `make test`. Each builds what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins an older boto3, so the template scanners live in a virtualenv of their own.
SCAN := .venv-scan
SCAN_STAMP := $(SCAN)/.installed
TEMPLATE := lib/TapStack.yml
# The peers of the benchmarks: awscli in its own virtualenv, restic from Debian.
BENCH := .venv-bench
BENCH_STAMP := $(BENCH)/.installed

.PHONY: demo test lint typecheck scan bench browser clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

$(SCAN_STAMP): requirements-scan.txt requirements-scan.lock
	$(PYTHON) -m venv $(SCAN)
	$(SCAN)/bin/python -m pip install --quiet -c requirements-scan.lock -r requirements-scan.txt
	touch $(SCAN_STAMP)

$(BENCH_STAMP): requirements-bench.txt requirements-bench.lock
	$(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install --quiet -c requirements-bench.lock -r requirements-bench.txt
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/docbackup demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# cfn-lint at its default level and checkov: any finding fails the build.
scan: $(SCAN_STAMP)
	$(SCAN)/bin/cfn-lint $(TEMPLATE)
	BC_SKIP_MAPPING=TRUE $(SCAN)/bin/checkov --quiet --compact --skip-download \
		--framework cloudformation -f $(TEMPLATE)

test: lint typecheck scan
	$(BIN)/python -m pytest -q

# `docbackup report --html` is tested by drawing the page in Debian's headless Chromium; where
# it is not installed that one test is skipped and says why. Needs root or sudo.
browser:
	command -v chromium >/dev/null || apt-get install -y chromium \
		|| (apt-get update && apt-get install -y chromium) || sudo apt-get install -y chromium

# Side by side with aws s3 sync, rclone, restic and a boto3 loop (bench/latest.md), the same
# over a 20 ms round trip (bench/latest-20ms.md; bench/latency.py, a delay proxy that needs no
# root; the runs behind the README are gathered in bench/results.md and bench/results-20ms.md), the no-change night at 1,000 to 100,000 documents (bench/scaling.md), the Lambda
# handler, what one item of a fanned-out night costs, and the rate under --limit-upload.
# About two and a half hours on 2 cores; restic comes from Debian's packages (needs root or
# sudo).
bench: $(STAMP) $(BENCH_STAMP)
	command -v restic >/dev/null || apt-get install -y restic || sudo apt-get install -y restic
	$(BIN)/python bench/compare.py --out bench/latest.md
	$(BIN)/python bench/compare.py --only many --many 5000 --endpoint rclone --rtt-ms 20 \
		--out bench/latest-20ms.md
	$(BIN)/python bench/compare.py --scaling
	$(BIN)/python bench/handler_night.py
	$(BIN)/python bench/fan_out_cost.py
	$(BIN)/python bench/upload_cap.py

clean:
	rm -rf $(VENV) $(SCAN) $(BENCH) .pytest_cache .mypy_cache .ruff_cache
