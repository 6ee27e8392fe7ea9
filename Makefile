# The two commands of the README: `make demo` and `make test`. `make setup` is their shared step.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
EXTRAS := onnx,tflite,report,micro,sweep,dev

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
# sshd for the ssh target's loopback tests, qemu-user and mmdebstrap for the emulated Pi, g++ for
# the syntax check of the c-array export's C++.
SYSTEM_PACKAGES := openssh-server openssh-client qemu-user-static mmdebstrap g++
system-deps:
	@if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$(SYSTEM_PACKAGES) >/dev/null; \
	fi

# The emulated Raspberry Pi userland in ~/.cache/edgegru/qemu-aarch64 (built once, then cached).
targets-setup: setup system-deps
	$(BIN)/edgegru targets setup qemu-aarch64

# The main job on the built-in default: train on `watch`, export every format and form, check
# every file on this machine (and on the emulated Pis once `make targets-setup` has built them),
# report into runs/demo/report.md. A re-run skips the stages that did not change.
demo: setup
	$(BIN)/edgegru pipeline -o runs/demo

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
