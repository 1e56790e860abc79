# The two commands: `make book` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test unit nbval notebooks clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[book,dev]"
	touch $(STAMP)

book: $(STAMP)
	rm -rf _build/html
	$(BIN)/jupyter-book build --all -W -n --keep-going .

test: unit nbval

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

nbval: $(STAMP)
	$(BIN)/python -m pytest -q --nbval --nbval-current-env \
	    --nbval-sanitize-with notebooks/sanitize.cfg notebooks

# Re-execute every notebook in place, exactly as CI checks them (stored outputs + counts).
notebooks: $(STAMP)
	for nb in notebooks/*.ipynb; do \
	    $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	        --ExecutePreprocessor.timeout=1200 --ExecutePreprocessor.record_timing=False $$nb || exit 1; \
	done

clean:
	rm -rf _build .pytest_cache
