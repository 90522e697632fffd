# The two commands: `make run` and `make test`. Both go through `make install`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench bench-peers bench-front-ends

install: $(STAMP)

# Re-installs only when pyproject.toml changed. torch is pinned to the CPU build this machine
# class carries; the web/inference images in docker/ install without it.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[convert,dev]'
	@touch $@

run: install
	$(BIN)/python manage.py runstack

# lint-imports first: the dependency contracts in .importlinter (issue #17) keep the direction one way.
# pytest exits 5 when it collected nothing: that must fail, not pass silently.
test: install
	$(BIN)/lint-imports --no-cache
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Optional, never part of install or test: each peer server (BentoML, PyTriton, KServe) in its own
# venv under bench/.venvs (git-ignored), then Modelbay against them (bench/peers/run.py).
PEERS := bentoml pytriton kserve
bench-peers: install $(PEERS:%=bench/.venvs/%/.installed)
	$(BIN)/python bench/peers/run.py $(BENCH_ARGS)

# The front ends alone (gunicorn gthread, uvicorn, grpcio), from the KServe venv, which has all three.
bench-front-ends: install bench/.venvs/kserve/.installed
	bench/.venvs/kserve/bin/python bench/peers/front_ends.py $(BENCH_ARGS)

bench/.venvs/%/.installed: bench/peers/requirements-%.txt
	@test -x bench/.venvs/$*/bin/python || $(PYTHON) -m venv bench/.venvs/$*
	bench/.venvs/$*/bin/python -m pip install --quiet -r $<
	@touch $@
