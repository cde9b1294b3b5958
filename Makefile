# Two entry points, both self-contained on a machine with only python3 and make:
#   make demo   a tour: a local receiver, every documented event, and the deliveries to refuse
#   make test   lint, format check, mypy --strict, the docs build and the whole pytest suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The demo needs only the core package (pydantic); everything else installs it and the extras.
CORE := $(VENV)/.installed-core
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck docs pytest bench clean

$(CORE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(STAMP): $(CORE)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@

demo: $(CORE)
	$(BIN)/python examples/demo.py

test: lint typecheck docs pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

# The documentation site (mkdocs.yml), strict: a broken link or API reference fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

pytest: $(STAMP)
	$(BIN)/pytest

# The benchmarks of docs/performance.md; their figures go to benchmarks/results/, and the page's
# plots (docs/performance/*.svg) are drawn again from them.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.verify --save
	$(BIN)/python -m benchmarks.verify_v1a
	$(BIN)/python -m benchmarks.parse --save
	$(BIN)/python -m benchmarks.stores --save
	$(BIN)/python -m benchmarks.pipeline
	$(BIN)/python -m benchmarks.cold_start
	$(BIN)/python -m benchmarks.plot

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis site
