# The README's two commands, `make demo` and `make test`, do all the set-up on a fresh machine.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYANNOTE_METRICS_ENABLED := 0
export HF_HUB_DISABLE_TELEMETRY := 1
export DO_NOT_TRACK := 1

.PHONY: install demo test bench lint fixtures clean

install: $(STAMP)

# torch first, pinned: pip takes the CPU build lying on this disk; unpinned it would pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q torch==2.13.0 -e '.[dev,pyannote]'
	$(PY) scripts/torchaudio_python_only.py  # pyannote.audio's torchaudio is a CUDA build for another torch
	touch $(STAMP)

demo: install
	$(VENV)/bin/sessioncoder code examples/supervision_session.ogg --out-dir demo-out
	@echo "Report: demo-out/supervision_session.html"

test: install
	$(PY) -m pytest -q -n 2 tests sessioncoder

bench: install
	$(PY) -m bench

lint: install
	$(VENV)/bin/ruff check sessioncoder tests scripts bench
	$(VENV)/bin/ruff format --check sessioncoder tests scripts bench

fixtures: install
	bash scripts/make_fixtures.sh

clean:
	rm -rf demo-out .pytest_cache
