# PyTorch in 20 Days — every workflow of the book is a target here; CI calls the same ones.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
CH ?=
# Executed notebooks carry no progress bars and no timing noise.
export TQDM_DISABLE := 1
export PYTHONHASHSEED := 0

.PHONY: help install data notebooks notebook nbval book test test-fast lint bench serve lab clean

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

data:  ## fetch and verify all datasets into data/ (from the mirror or the internet)
	$(PY) -m pt20 data

notebooks:  ## md -> executed ipynb for every chapter, or one with CH=1-2-image-data
	$(PY) tools/notebooks.py build $(CH)

notebook: notebooks  ## alias: make notebook CH=...

nbval:  ## re-execute notebooks (or CH=...) and compare with the committed outputs
	$(BIN)/pytest -p no:cacheprovider --nbval --sanitize-with tests/nbval_sanitize.cfg \
		$(if $(CH),notebooks/$(CH).ipynb,-n 2 --dist loadfile notebooks/)

lab:  ## JupyterLab that opens the book/*.md chapters as notebooks
	$(BIN)/jupyter lab --ServerApp.root_dir=. book/
