# Two entry points, both self-contained on a machine with only python3 and make:
#   make demo   a tour: a local receiver, every documented event, and the deliveries to refuse
#   make test   lint, format check, mypy --strict, the docs build and the whole pytest suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck docs pytest bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@

demo: $(STAMP)
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
	$(BIN)/python -m benchmarks.parse --save
	$(BIN)/python -m benchmarks.stores --save
	$(BIN)/python -m benchmarks.plot

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis site
