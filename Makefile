# Two entry points on a fresh machine with Python 3.11+ and make:
#   make demo   -- create .venv, build the embedded sample pair, fuse it, write results to demo-output/
#   make test   -- create .venv and run the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch: the CPU build by default; set TORCH_SPEC to a CUDA build's requirement to get one.
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/burstcap demo --out demo-output

test: venv
	$(PY) -m pytest -q -ra

bench: venv
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
