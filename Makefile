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
LOCKS := requirements/prod.txt requirements/dev.txt
PYTEST_ARGS ?=

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(STAMP)  ## Create .venv and install the pinned requirements (fast when nothing changed).

$(STAMP): $(LOCKS) setup.cfg
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements/prod.txt -r requirements/dev.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

test: install  ## Install if needed, then run the test suite.
	WANDB_MODE=disabled $(PYTHON) -m pytest $(PYTEST_ARGS)

lint: install  ## Static checks: ruff and mypy.
	$(PYTHON) -m ruff check text_recognizer training tests
	$(PYTHON) -m mypy text_recognizer training

demo: install  ## Build the offline data, train briefly, select the run and read test paragraphs.
	$(PYTHON) training/demo.py

pip-tools: install  ## Recompile requirements/*.txt from requirements/*.in.
	cd requirements && env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null ../$(VENV)/bin/pip-compile -q --strip-extras prod.in -o prod.txt
	cd requirements && env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null ../$(VENV)/bin/pip-compile -q --strip-extras dev.in -o dev.txt

.PHONY: help install test lint demo pip-tools
