# Two commands: `make lab` opens the lab, `make test` runs every test. Both install first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PINS := $(VENV)/constraints.txt
export QGAN_LAB_FAST ?= 1
# quiet TensorFlow in every process and kernel (qgan_lab sets the same when imported first)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export TF_ENABLE_ONEDNN_OPTS ?= 0

.PHONY: install lab test unit notebooks lint format demo bench bench-train bench-targets browser notebooks-full binder-check clean

# Install once (again when the package metadata or the pins change). The pins of
# binder/environment.yml are the lock, so what passes here is what Binder runs
# (a constraint has no extras: `ray[tune]==X` becomes `ray==X`).
$(STAMP): pyproject.toml binder/environment.yml binder/overrides.json
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	sed -n 's/^ *- \([A-Za-z0-9_.-]*\)\(\[[a-z,]*\]\)\{0,1\}\(==[^ ]*\) *$$/\1\3/p' binder/environment.yml > $(PINS)
	$(PY) -m pip install -q -c $(PINS) -e '.[lab,dev,sweep]'
	mkdir -p $(VENV)/share/jupyter/lab/settings  # JupyterLab's settings (no news prompt), as on Binder
	cp binder/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	touch $(STAMP)

install: $(STAMP)

lab: install
	QGAN_LAB_FAST=0 $(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/00_welcome.ipynb

# -rs: the summary says why a test skipped (the browser test, where Chromium is missing)
test: install lint browser
	$(PY) -m pytest -rs -n 2 --dist loadfile --durations=15 tests --nbval-lax notebooks

# Debian's chromium for tests/browser; where it cannot be installed, that test skips and says why
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get) for the browser test"; \
	    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } >/dev/null \
	      || echo "could not install chromium: the browser test will skip"; \
	  else echo "chromium missing and apt-get unusable here (needs root): the browser test will skip"; fi; }

unit: install
	$(PY) -m pytest tests --ignore=tests/browser

notebooks: install
	$(PY) -m pytest --nbval-lax notebooks

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: install
	rm -rf runs/demo
	$(PY) -m qgan_lab train --config bimodal --epochs 3 --steps-per-epoch 10 --output-dir runs/demo

bench: install
	$(PY) benchmarks/bench_step.py

bench-train: install
	$(PY) benchmarks/bench_training.py

# issue 9's speed targets against Strawberry Fields, in one run (about 10 minutes)
bench-targets: install
	$(PY) benchmarks/bench_targets.py

# every notebook at full size (QGAN_LAB_FAST=0) on one CPU core, as Binder gives: a table of wall times
notebooks-full: install
	QGAN_LAB_FAST=0 $(PY) benchmarks/bench_notebooks.py

# what Binder's postBuild and start do, in a fresh venv from binder/environment.yml's pins (a full install)
binder-check:
	bash benchmarks/check_binder.sh

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
