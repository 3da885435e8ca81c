# cliniloop — two commands for a new machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DEFAULT_GOAL := help

# Python 3.12 is required (medspacy + spaCy 3.8 + label-studio-sdk 2.1.2 resolve only there).
export PYENV_VERSION ?= 3.12.1
PYTHON ?= python3.12
VENV := .venv
LS_VENV := .venv-ls
LABEL_STUDIO_VERSION := 1.23.2
# pip prints one harmless warning per package for this machine's local index mirrors: hide them.
QUIET_PIP := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help install install-test label-studio system-packages demo test clean

help:
	@echo "make demo         install, start Label Studio + cliniloop API locally, run one round on data_samples/notes, serve until Ctrl-C"
	@echo "make demo ONCE=1  the same, then stop both servers and exit"
	@echo "make test         install with test extras, Label Studio, Chromium and PostgreSQL, run the whole test suite"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip $(QUIET_PIP)
	$(VENV)/bin/python -m pip install -q -e ".[postgres]" $(QUIET_PIP)
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(VENV)/bin/python -m pip install -q -e ".[test,postgres]" $(QUIET_PIP)
	touch $@

# Label Studio lives in its own environment, as in a real deployment: cliniloop talks to it over HTTP.
$(LS_VENV)/.installed:
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -q "label-studio==$(LABEL_STUDIO_VERSION)" $(QUIET_PIP)
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
label-studio: $(LS_VENV)/.installed

# Debian packages the tests use: headless Chromium for the browser test (never a downloaded
# browser build) and a PostgreSQL server for the store tests on PostgreSQL.
system-packages:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	  fi

demo: install label-studio
	$(VENV)/bin/cliniloop demo $(if $(ONCE),--once)

test: install-test label-studio system-packages
	$(VENV)/bin/python -m pytest -q

clean:
	rm -rf var .pytest_cache
