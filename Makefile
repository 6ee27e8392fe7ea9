# The two commands of the README: `make demo` and `make test`. `make setup` is their shared step.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
EXTRAS := onnx,tflite,report,dev

.PHONY: setup system-deps targets-setup demo test test-fast lint bench clean

setup: $(STAMP)

# Idempotent: re-runs only when the project's dependency files change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $(STAMP)

# What the targets tests need from the system (root; idempotent: apt-get skips what is there):
# sshd for the ssh target's loopback tests, qemu-user and mmdebstrap for the emulated Pi.
SYSTEM_PACKAGES := openssh-server openssh-client qemu-user-static mmdebstrap
system-deps:
	@if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$(SYSTEM_PACKAGES) >/dev/null; \
	fi

# The emulated Raspberry Pi userland in ~/.cache/edgegru/qemu-aarch64 (built once, then cached).
targets-setup: setup system-deps
	$(BIN)/edgegru targets setup qemu-aarch64

# Until `edgegru pipeline` lands: train, evaluate and export every format.
demo: setup
	$(BIN)/edgegru train --dataset watch --cell gru --hidden 32 -o runs/demo
	$(BIN)/edgegru evaluate runs/demo
	$(BIN)/edgegru export runs/demo --format onnx --format ort --format tflite -o runs/demo/export

test: setup system-deps targets-setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: setup system-deps targets-setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow"

# Every side-by-side benchmark (minutes); writes bench/results/*.json and summary.md.
bench: setup
	$(BIN)/python -m bench

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build dist *.egg-info runs
