# PyTorch in 20 Days — every workflow of the book is a target here; CI calls the same ones.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# every pytest step goes through tools/pytest-step, which turns "collected nothing" into a clear failure
PYTEST := tools/pytest-step $(BIN)/pytest
CH ?=
# The book's JupyterLab defaults (chapters open as notebooks), installed into the venv by `make install`
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.d/pt20-book.json5
# Chapters execute in the book's execution environment, defined once in tools/execution.py:
# tools/notebooks.py applies it to the kernels it starts, and the repository's conftest.py to
# nbval's. nbval compares exactly where this machine can reproduce the golden record
# (`python -m tools.execution mode` says so in one line), else within tools/nbcompare.py's tolerance.
NBVAL_EXACT := -p no:cacheprovider --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg
STRICT_KERNEL := IPYTHONDIR=$(CURDIR)/tests/strict_kernel PT20_OFFLINE=1
# (exit 2 from `mode`: no comparison at all, e.g. under a seed offset; it says why)
define compare_notebooks
	@$(PY) -m tools.execution mode; case $$? in \
	  0) $(1) $(PYTEST) $(NBVAL_EXACT) $(if $(CH),notebooks/$(CH).ipynb,-n 2 --dist loadfile notebooks/);; \
	  1) $(1) $(PYTEST) -p no:cacheprovider tests/approx_notebooks.py $(if $(CH),-k $(CH),-n 2);; \
	  *) exit 2;; \
	esac
endef

.PHONY: help install lock data notebooks notebook golden nbval nbval-offline nbval-gpu book pages translations \
	translations-check notebooks-zh check test lint bench serve lab clean site-test check-determinism linkcheck \
	new-chapter

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14

$(PY):
	python3 -m venv $(VENV)

install: $(PY)  ## create .venv, install the pinned stack and pt20 (editable), fetch the datasets
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3"
	mkdir -p $(dir $(LAB_SETTINGS)) && cp tools/lab/overrides.json5 $(LAB_SETTINGS).tmp && mv $(LAB_SETTINGS).tmp $(LAB_SETTINGS)
	$(MAKE) data

lock:  ## after changing requirements.txt and `make install`: pin the whole installed stack in constraints.txt
	{ sed -n '1,3p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v -i '^pt20'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

data:  ## fetch and verify all datasets into data/ (from the mirror or the internet)
	$(PY) -m pt20 data

notebooks:  ## md -> executed ipynb for every chapter, or one with CH=1-2-image-data
	$(PY) -m tools.notebooks build $(CH)
	$(MAKE) pages

golden: notebooks  ## the golden record: every chapter (or CH=...) executed one after another, on a quiet machine

new-chapter:  ## a new chapter that passes `make check`: ID=7-1 NAME=attention TITLE="..." [PART_TITLE="..." OPTIONAL=1]
	@test -n "$(ID)" -a -n "$(NAME)" -a -n "$(TITLE)" || \
	{ echo 'usage: make new-chapter ID=7-1 NAME=attention TITLE="Attention from First Principles" [PART_TITLE="..." OPTIONAL=1]' >&2; exit 2; }
	$(PY) -m tools.scaffold --id "$(ID)" --name "$(NAME)" --title "$(TITLE)" \
		$(if $(PART_TITLE),--part-title "$(PART_TITLE)") $(if $(OPTIONAL),--optional)

notebook: notebooks  ## alias: make notebook CH=...

nbval:  ## re-execute notebooks (or CH=...) and compare with the committed outputs
	$(call compare_notebooks,)

lab:  ## JupyterLab that opens the book/*.md chapters as notebooks (LAB_PORT=8888, LAB_ARGS=--no-browser)
	@cmp -s tools/lab/overrides.json5 $(LAB_SETTINGS) || \
	{ echo "The book's JupyterLab settings (tools/lab/overrides.json5) are not in $(VENV): run make install" >&2; exit 1; }
# The token travels in the environment, not on the command line where `ps` shows it to everyone;
# no port retries, so the printed URL is the one the server listens on. Root (a container) needs --allow-root.
# Kernels get the book's numeric pins (tools/execution.py), so a chapter run by hand prints the page's numbers.
	@token=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(24))') && \
	echo "JupyterLab: open http://127.0.0.1:$(or $(LAB_PORT),8888)/lab/tree/book?token=$$token" && \
	JUPYTER_TOKEN=$$token exec env $$($(PY) -m tools.execution env --pins) $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(or $(LAB_PORT),8888) \
		--ServerApp.port_retries=0 --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/book \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

pages:  ## regenerate _toc.yml, the study plan, the status page and the README's plan from book/chapters.yml
	$(PY) -m tools.pages
	$(PY) -m tools.i18n pages

book: pages  ## build the site from the executed notebooks: English in _build/html, Chinese in _build/html/zh
	$(PY) -m tools.i18n site

translations:  ## after changing English text: refresh the Chinese catalogs in locale/zh_CN and list what to translate
	$(PY) -m tools.i18n update

notebooks-zh:  ## the Chinese notebooks (Chinese text, the golden record's code and outputs) into _build/notebooks-zh
	$(PY) -m tools.i18n notebooks _build/notebooks-zh

translations-check:  ## fail if a page marked done in locale/zh_CN/pages.yml has an untranslated or outdated message
	$(PY) -m tools.i18n share --check

linkcheck:  ## (online) check every external link of the site with Sphinx's linkcheck builder
	$(BIN)/jupyter-book build . --builder linkcheck

serve:  ## serve the built site on http://127.0.0.1:8000
	$(PY) -m http.server 8000 --bind 127.0.0.1 --directory _build/html

lint:  ## ruff over the package, tests and tools
	$(BIN)/ruff check pt20 tests tools bench _ext conftest.py book/scripts

check:  ## before every commit (about a minute): lint, fast tests, md/ipynb pairing, generated pages, translations
	$(MAKE) lint
	$(PYTEST) tests -m "not site and not execution" -n 2 -q
	$(PY) -m tools.notebooks check
	$(PY) -m tools.pages --check
	$(PY) -m tools.i18n pages --check
	$(MAKE) translations-check

test:  ## everything CI checks: make check, execution tests, nbval, both sites, browser test (GPU run when CUDA exists)
	$(MAKE) check
	$(PYTEST) tests -m "execution" -n 2
	$(MAKE) nbval-offline
	$(MAKE) site-test
	@if $(PY) -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then $(MAKE) nbval-gpu; \
	else echo "no CUDA device: GPU lax run skipped"; fi

nbval-offline:  ## nbval with no network, PT20_OFFLINE set and deprecation warnings as errors
	$(call compare_notebooks,$(STRICT_KERNEL))

nbval-gpu:  ## run every notebook on the GPU in lax mode (errors and self-checks, not golden outputs)
	@echo "GPU run: every chapter on CUDA; errors and self-checks only, outputs are not compared"
	PT20_DEVICE=cuda $(PYTEST) -p no:cacheprovider --nbval-lax notebooks/

site-test:  ## build the site from a clean _build, then check it in headless Chromium
	rm -rf _build
	$(MAKE) book
	$(PYTEST) tests -m site

check-determinism:  ## execute a few chapters twice and compare every checked output
	$(PYTEST) tests/test_determinism.py

bench:  ## execute every chapter fresh, record time, memory and metrics in bench/ (ARGS="--seeds 3 --chapters 1-2")
	$(PY) -m bench.run $(ARGS)

clean:  ## remove build outputs and chapter scratch files (keeps the verified datasets)
	rm -rf _build bench/runs data/work
