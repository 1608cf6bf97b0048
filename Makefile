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

.PHONY: install lab test unit notebooks lint format demo bench bench-train clean

# Install once (again when the package metadata or the pins change). The pins of
# binder/environment.yml are the lock, so what passes here is what Binder runs.
$(STAMP): pyproject.toml binder/environment.yml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	sed -n 's/^ *- \([A-Za-z0-9_.-]*==[^ ]*\) *$$/\1/p' binder/environment.yml > $(PINS)
	$(PY) -m pip install -q -c $(PINS) -e '.[lab,dev]'
	touch $(STAMP)

install: $(STAMP)

lab: install
	QGAN_LAB_FAST=0 $(VENV)/bin/jupyter lab notebooks/00_welcome.ipynb

test: install lint
	$(PY) -m pytest tests --nbval-lax notebooks

unit: install
	$(PY) -m pytest tests

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

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
