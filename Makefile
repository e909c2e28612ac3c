# Two entry points for a fresh clone: `make demo` and `make test`.
# Both build .venv from project files (pyproject.toml) the first time.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CORES ?= all

.PHONY: demo test lint venv clean-demo browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1 --configfile config/demo.yaml --rerun-incomplete
	@echo "Report: $(CURDIR)/results/demo/report/index.html (Markdown: results/demo/report/index.md)"

# Headless Chromium for the report's browser test (Debian package). Idempotent; without root
# it only warns, and tests/test_report_browser.py skips.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "warning: chromium is not installed and this is not root: the report's browser test will skip"; \
	fi

test: $(STAMP) browser
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/snakefmt --check workflow/
	$(BIN)/snakemake --lint --configfile config/demo.yaml
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/snakefmt --check workflow/
	$(BIN)/snakemake --lint --configfile config/demo.yaml

clean-demo:
	rm -rf results/demo
