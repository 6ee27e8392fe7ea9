# The two commands of the README: `make demo` and `make test`. `make setup` is their shared step.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
EXTRAS := onnx,tflite,report,dev

.PHONY: setup demo test test-fast lint bench clean

setup: $(STAMP)

# Idempotent: re-runs only when the project's dependency files change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

# Until `edgegru pipeline` lands: train, evaluate and export every format.
demo: setup
	$(BIN)/edgegru train --dataset watch --cell gru --hidden 32 -o runs/demo
	$(BIN)/edgegru evaluate runs/demo
	$(BIN)/edgegru export runs/demo --format onnx --format ort --format tflite -o runs/demo/export

test: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow"

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build dist *.egg-info runs
