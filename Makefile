# aasist-lightning: common tasks. `make help` lists them.
VENV   ?= .venv
PYTHON ?= $(VENV)/bin/python
ARGS   ?=

.DEFAULT_GOAL := help
.PHONY: help install train test test-all bench lint format clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(PYTHON):
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --upgrade pip

install: $(PYTHON)  ## create .venv and install the package with its dev tools (editable)
	$(PYTHON) -m pip install -e ".[dev]"

train:  ## train with the default recipe (extra Hydra overrides: make train ARGS="model.first_conv=64")
	$(PYTHON) train.py $(ARGS)

test:  ## fast test suite (< 10 min on 2 CPU cores)
	$(PYTHON) -m pytest $(ARGS)

test-all:  ## every test, including the slow end-to-end ones
	$(PYTHON) -m pytest -m "not gpu" $(ARGS)

bench:  ## speed / memory / accuracy of every inference and training path (extra options: make bench ARGS="--quick")
	$(PYTHON) -m aasist_lightning.bench --json outputs/bench.json $(ARGS)

lint:  ## ruff lint + format check, the layers' import contracts, the type check of the core layers
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(VENV)/bin/lint-imports
	$(PYTHON) -m mypy

format:  ## apply ruff fixes and formatting
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

clean:  ## remove caches and build artefacts (never outputs/ or data/: those are yours)
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -not -path "./$(VENV)/*" -exec rm -rf {} +
