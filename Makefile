# text_recognizer: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PYTHON := $(VENV)/bin/python
# This machine's pip configuration (PIP_FIND_LINKS and /etc/pip.conf) points at a CPU-only
# torch wheel; pip would prefer it over the pinned PyPI build, whose torchvision then fails to
# import. The project's own pip calls therefore ignore every pip configuration file.
PIP := env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(PYTHON) -m pip
STAMP := $(VENV)/.installed
SCHEMAS := $(VENV)/schemas
OCRD_VALIDATORS := 2.67.1
LOCKS := requirements/prod.txt requirements/dev.txt
PYTEST_ARGS ?=

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP)  ## Create .venv and install the pinned requirements (fast when nothing changed).

$(STAMP): $(LOCKS) pyproject.toml
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements/prod.txt -r requirements/dev.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@# PAGE 2019's published XSD, which the tests validate PAGE output against: the ocrd-validators wheel ships
	@# it, but its dependencies pin pydantic 1, which FastAPI cannot share; so the wheel is kept, not installed.
	$(PIP) download --quiet --no-deps --dest $(SCHEMAS) ocrd-validators==$(OCRD_VALIDATORS)
	@touch $(STAMP)

# The web page's test drives Debian's chromium through its chromedriver (selenium, headless). As root
# (CI on a fresh machine) they are installed with apt when missing; otherwise the test says what is missing.
browser:  ## Install chromium and chromium-driver with apt when missing (root only).
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver; \
	else echo "note: chromium and chromium-driver are missing (sudo apt-get install chromium chromium-driver): the browser test will skip, and fail under CI"; fi

test: install browser  ## Install if needed (the browser too), then run the test suite.
	WANDB_MODE=disabled $(PYTHON) -m pytest $(PYTEST_ARGS)

lint: install  ## Static checks: ruff and mypy.
	$(PYTHON) -m ruff check text_recognizer training tests
	$(PYTHON) -m mypy text_recognizer training

serve: install  ## Serve the API and web page on 127.0.0.1:8000 (ARGS="--backend=onnx --port=8001 ...").
	$(PYTHON) -m text_recognizer.api_server $(ARGS)

export: install  ## Export the shipped model to ONNX beside it (ARGS="--model_path ...").
	$(PYTHON) training/export_model.py $(ARGS)

demo: install  ## Build the offline data, train briefly, select the run and read test paragraphs.
	$(PYTHON) training/demo.py

# The notebooks import this clone's text_recognizer (PYTHONPATH), also when .venv is another clone's.
NOTEBOOK_ENV := PYTHONPATH=$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH}

# Jupyter refuses to start as root unless told (a container, CI): told only then.
notebook: install  ## Start Jupyter on 127.0.0.1 in notebooks/ (ARGS="--port=8889 ...").
	$(NOTEBOOK_ENV) $(PYTHON) -m jupyter notebook --ip=127.0.0.1 --no-browser --ServerApp.root_dir=notebooks \
		$$([ "$$(id -u)" = 0 ] && echo --allow-root) $(ARGS)

notebooks-run: install  ## Re-execute every notebook in place, outputs stored (nbconvert; a few minutes).
	cd notebooks && $(NOTEBOOK_ENV) MPLBACKEND=Agg $(abspath $(PYTHON)) -m jupyter nbconvert --to notebook --execute --inplace \
		--ExecutePreprocessor.timeout=900 --ExecutePreprocessor.kernel_name=python3 *.ipynb

pip-tools: install  ## Recompile requirements/*.txt from requirements/*.in.
	cd requirements && env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null ../$(VENV)/bin/pip-compile -q --strip-extras prod.in -o prod.txt
	cd requirements && env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null ../$(VENV)/bin/pip-compile -q --strip-extras dev.in -o dev.txt

.PHONY: help install browser test lint serve export demo notebook notebooks-run pip-tools
