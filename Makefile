# Two entry points for a fresh clone: `make demo` and `make test`.
# Both build .venv from project files (pyproject.toml) the first time.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CORES ?= all

.PHONY: demo test test-slurm lint venv clean-demo browser pull

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1 --configfile config/demo.yaml --rerun-incomplete
	@echo "Report: $(CURDIR)/results/demo/report/index.html (Markdown: results/demo/report/index.md)"

# The miniature study of the paper's claim on real photos (README "Miniature study"; not part
# of `make test`): 34-42 min on 2 shared CPU cores (at most 60). MINI_CONFIG=config/mini_gpu.yaml: the GPU setting.
MINI_CONFIG ?= config/mini.yaml
.PHONY: mini
mini: $(STAMP)
	$(BIN)/snakemake --cores $(CORES) --resources gpu=1 --configfile $(MINI_CONFIG) --rerun-incomplete
	@echo "Report: $(CURDIR)/$$($(BIN)/python -c 'import sys,yaml; print(yaml.safe_load(open(sys.argv[1]))["results_dir"])' $(MINI_CONFIG))/report/index.html"

# Headless Chromium for the report's browser test (Debian package). Idempotent; without root
# it only warns, and tests/stages/test_report_browser.py skips.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	if [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else \
		echo "warning: chromium is not installed and this is not root: the report's browser test will skip"; \
	fi

test: $(STAMP) browser
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/snakefmt --check workflow/
	$(BIN)/snakemake --lint --configfile config/demo.yaml
	$(BIN)/python -m pytest -q

# Opt-in (root, not part of `make test`): a real single-node SLURM from Debian packages runs
# the demo's data, sr and score stages through workflow/profiles/slurm (tests/slurm/run.sh).
test-slurm: $(STAMP)
	tests/slurm/run.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy
	$(BIN)/snakefmt --check workflow/
	$(BIN)/snakemake --lint --configfile config/demo.yaml

# Outputs from the DVC remote instead of recomputing them (README "Three ways to run"):
# `dvc pull` gives every restored file a new mtime in no particular order, and Snakemake
# reruns a job whose input is newer than its output; `snakemake --touch` then re-stamps the
# outputs in DAG order (it runs no job), so the run command afterwards plans nothing.
# Checked around the pull (src/ranksrgan/status/pull.py): a local remote folder that does not
# exist is refused first (DVC would read it as an empty remote); afterwards every file of the
# pulled stage folders must be dvc.lock's version, else the pull fails naming the file, also
# when dvc pull itself failed (its message names only the stage folder), and nothing is touched.
# RUN names the run in dvc.yaml (demo, ci, paper); DVC_TARGETS narrows the pull to some of its
# stages (e.g. "data@paper sr@paper"); CONFIG is the run's config file.
RUN ?= demo
CONFIG_demo := config/demo.yaml
CONFIG_ci := config/ci.yaml
CONFIG_paper := config/config.yaml
CONFIG ?= $(CONFIG_$(RUN))
DVC_TARGETS ?= $(foreach s,data sr score rankdata ranker train report,$(s)@$(RUN))
pull: | $(STAMP)
	$(BIN)/ranksrgan status --config $(CONFIG) --check-remote
	$(BIN)/dvc pull $(DVC_TARGETS) || { $(BIN)/ranksrgan status --config $(CONFIG) --verify $(DVC_TARGETS); exit 1; }
	$(BIN)/ranksrgan status --config $(CONFIG) --verify $(DVC_TARGETS)
	$(BIN)/snakemake --touch --cores 1 --configfile $(CONFIG)

clean-demo:
	rm -rf results/demo
