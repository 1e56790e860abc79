# The two commands: `make book` and `make test`. Both create .venv on first use.
# `make lab` opens the chapters (notebooks/) in JupyterLab from the same .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: book test unit nbval notebooks lab colab fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[book,dev,lab]"
	touch $(STAMP)

# MathJax is served from _build/html/_static/ so that math renders offline: the first build fetches
# it from the npm registry into the ignored .cache/ folder (scripts/offline_mathjax.py).
book: $(STAMP)
	rm -rf _build/html
	$(BIN)/jupyter-book build --all -W -n --keep-going .

test: unit nbval

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

nbval: $(STAMP)
	$(BIN)/python -m pytest -q --nbval --nbval-current-env \
	    --nbval-sanitize-with notebooks/sanitize.cfg notebooks

# Re-execute every notebook in place, exactly as CI checks them (stored outputs + counts);
# LIC_REMEASURE=1 makes Chapter 7 measure its protocol again (benchmarks/capstone.py).
notebooks: $(STAMP)
	for nb in notebooks/*.ipynb; do \
	    LIC_REMEASURE=1 $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	        --ExecutePreprocessor.timeout=2400 --ExecutePreprocessor.record_timing=False $$nb || exit 1; \
	done

# Every chapter, every cell, in a stand-in for Colab: only Colab's preinstalled packages, google.colab
# importable, the clone at <tmp>/content/lic and the kernel in <tmp>/content (scripts/colab_simulation.py).
colab: $(STAMP)
	$(BIN)/python scripts/colab_simulation.py

# 10 000 damaged streams per codec through scripts/fuzz.py (about 7 minutes on one core); counts in
# benchmarks/fuzz.json. make test runs 200 per codec.
fuzz: $(STAMP)
	$(BIN)/python scripts/fuzz.py --per-codec 10000 --json benchmarks/fuzz.json

# JupyterLab rooted at notebooks/, with the project's kernel (the .venv's python3).
# Extra options: make lab LAB_ARGS="--no-browser --port 8890"
lab: $(STAMP)
	$(BIN)/jupyter lab $(LAB_ARGS) notebooks

# Keeps .cache/ (the fetched MathJax) so that the next build stays offline.
clean:
	rm -rf _build .pytest_cache
