# Two entry points (see README): `make demo` runs the embedded study, `make test` runs the tests.
# Both create the virtual environment first. torch is installed on its own, pinned, before
# anything that depends on it: an unpinned resolve pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= default
OUT ?= sor-study

.PHONY: venv demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/sor demo --profile $(PROFILE) --out $(OUT)

test: venv
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(OUT)
