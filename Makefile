# PyTorch in 20 Days — every workflow of the book is a target here; CI calls the same ones.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# every pytest step goes through tools/pytest-step, which turns "collected nothing" into a clear failure
PYTEST := tools/pytest-step $(BIN)/pytest
CH ?=
# Executed notebooks carry no progress bars (set for kernels only: the Trainer's unit tests
# check the bar itself). tools/notebooks.py and bench/run.py set the same for their kernels.
NB_ENV := TQDM_DISABLE=1
export PYTHONHASHSEED := 0
# Idle OpenMP threads sleep instead of spinning: with two kernels on two cores (nbval -n 2)
# spinning threads starve each other; results are bit-for-bit the same.
export OMP_WAIT_POLICY := PASSIVE

.PHONY: help install lock data notebooks notebook nbval nbval-offline nbval-gpu book pages test lint bench serve lab clean site-test check-determinism linkcheck

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(PY):
	python3 -m venv $(VENV)

install: $(PY)  ## create .venv, install the pinned stack and pt20 (editable), fetch the datasets
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3"
	$(MAKE) data

lock:  ## after changing requirements.txt and `make install`: pin the whole installed stack in constraints.txt
	{ sed -n '1,3p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v -i '^pt20'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

data:  ## fetch and verify all datasets into data/ (from the mirror or the internet)
	$(PY) -m pt20 data

notebooks:  ## md -> executed ipynb for every chapter, or one with CH=1-2-image-data
	$(PY) tools/notebooks.py build $(CH)
	$(PY) tools/site.py

notebook: notebooks  ## alias: make notebook CH=...

nbval:  ## re-execute notebooks (or CH=...) and compare with the committed outputs
	$(NB_ENV) $(PYTEST) -p no:cacheprovider --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg \
		$(if $(CH),notebooks/$(CH).ipynb,-n 2 --dist loadfile notebooks/)

lab:  ## JupyterLab that opens the book/*.md chapters as notebooks
	$(BIN)/jupyter lab --ServerApp.root_dir=. book/

pages:  ## regenerate _toc.yml, the study plan and the status page from book/chapters.yml
	$(PY) tools/site.py

book: pages  ## build the site into _build/html from the executed notebooks
	$(BIN)/jupyter-book build . --builder html -W -n --keep-going

linkcheck:  ## (online) check every external link of the site with Sphinx's linkcheck builder
	$(BIN)/jupyter-book build . --builder linkcheck

serve:  ## serve the built site on http://127.0.0.1:8000
	$(PY) -m http.server 8000 --bind 127.0.0.1 --directory _build/html

lint:  ## ruff over the package, tests and tools
	$(BIN)/ruff check pt20 tests tools bench _ext

test:  ## everything CI checks: lint, unit tests, nbval, site build, browser test (GPU run when CUDA exists)
	$(MAKE) lint
	$(PYTEST) tests -m "not site" -n 2
	$(MAKE) nbval-offline
	$(MAKE) site-test
	@if $(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then $(MAKE) nbval-gpu; \
	else echo "no CUDA device: GPU lax run skipped"; fi

nbval-offline:  ## nbval with no network, PT20_OFFLINE set and deprecation warnings as errors
	$(NB_ENV) IPYTHONDIR=$(CURDIR)/tests/strict_kernel PT20_OFFLINE=1 $(PYTEST) -p no:cacheprovider --nbval \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -n 2 --dist loadfile notebooks/

nbval-gpu:  ## run every notebook on the GPU in lax mode (errors and self-checks, not golden outputs)
	$(NB_ENV) PT20_DEVICE=cuda $(PYTEST) -p no:cacheprovider --nbval-lax notebooks/

site-test:  ## build the site from a clean _build, then check it in headless Chromium
	rm -rf _build
	$(MAKE) book
	$(PYTEST) tests -m site

check-determinism:  ## execute a few chapters twice and compare every checked output
	$(PYTEST) tests/test_determinism.py

bench:  ## execute every chapter fresh, record time, memory and metrics in bench/ (ARGS=--save also refreshes the golden notebooks)
	$(PY) bench/run.py $(ARGS)

clean:  ## remove build outputs and chapter scratch files (keeps the verified datasets)
	rm -rf _build bench/runs data/work
