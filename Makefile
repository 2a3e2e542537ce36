# Two commands: `make run` trains the flagship example, `make test` runs lint and every test.
# Both set everything up from nothing: a virtualenv in .venv, tinynn, and the Fashion-MNIST data.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DATA   := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz

.PHONY: run test lint data bench clean

run: $(VENV)/.installed data
	$(PY) examples/fashion.py

# The suite on the default (numba) backend, then on the NumPy reference, then the kernel
# equality tests with the JIT off, so the kernels' Python source itself is exercised; beside
# them, on the other core, the parity suite against Keras (its output, kept in .parity.log, is
# printed when both are done). Either failing fails the target.
test: $(VENV)/.installed-test data
	$(VENV)/bin/ruff check .
	@$(PY) -m pytest parity/ > .parity.log 2>&1 & parity=$$!; \
	  $(PY) -m pytest tests/ && TINYNN_BACKEND=numpy $(PY) -m pytest -q tests/ \
	    && NUMBA_DISABLE_JIT=1 $(PY) -m pytest -q tests/test_kernels.py; tests=$$?; \
	  wait $$parity; parity=$$?; echo "== parity/ (beside tests/)"; cat .parity.log; \
	  echo "== tests/: $$([ $$tests = 0 ] && echo passed || echo FAILED)," \
	       "parity/: $$([ $$parity = 0 ] && echo passed || echo FAILED)"; \
	  [ $$tests = 0 ] && [ $$parity = 0 ]

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed-test data
	$(PY) benchmarks/train_speed.py

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(VENV)/.installed: $(VENV)/bin/python pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[test]"
	touch $@

# The Debian package when we can install it (root on Debian/Ubuntu); otherwise tinynn's loader
# downloads the files on first use.
data:
	@if [ ! -f $(DATA) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing dataset-fashion-mnist"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis .parity.log
