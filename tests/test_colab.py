"""On Colab a chapter can import only what Colab has preinstalled, what the set-up cell installs, and lic.

Colab's list is recorded in scripts/colab_packages.txt (with its date); the set-up cell installs
scripts/colab_setup.py's SMALL_DEPENDENCIES. ``make colab`` (scripts/colab_simulation.py) runs the
chapters in a stand-in for Colab; these are the fast checks behind it.
"""
from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    source = spec.loader.get_source(name).replace("\nmain()\n", "\n")   # definitions only, no install
    exec(compile(source, spec.origin, "exec"), module.__dict__)
    return module


simulation, setup = _load("colab_simulation"), _load("colab_setup")
COLAB = simulation.colab_versions()
PROVIDED = set(COLAB) | {simulation.normalise(p) for p in setup.SMALL_DEPENDENCIES}


def imported_modules(source: str) -> set[str]:
    """Top-level names of the modules that a cell's code imports (IPython syntax allowed)."""
    tree = ast.parse(TransformerManager().transform_cell(source))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@functools.cache
def _module_owners() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions(module: str) -> set[str]:
    """The installed distributions that provide a top-level module (empty for the standard library)."""
    if module in sys.stdlib_module_names:
        return set()
    found = _module_owners().get(module)
    assert found, f"no installed distribution provides the module {module!r}"
    return {simulation.normalise(d) for d in found}


def test_the_recorded_list_says_when_it_was_taken():
    head = "\n".join(l for l in simulation.COLAB_PACKAGES.read_text().splitlines() if l.startswith("#"))
    assert re.search(r"\b20\d\d-\d\d-\d\d\b", head) and "backend-info" in head
    assert {"torch", "torchvision", "numpy", "scipy", "matplotlib", "pillow", "ipykernel"} <= set(COLAB)
    assert "myst-nb" not in COLAB and "constriction" not in COLAB


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_module_a_chapter_imports_is_on_colab(path):
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    modules = set().union(*(imported_modules("".join(c["source"])) for c in cells)) - {"lic", "google"}
    missing = {m: sorted(distributions(m)) for m in sorted(modules) if not distributions(m) <= PROVIDED}
    assert not missing, f"imported by {path.name} but neither on Colab nor installed by the set-up: {missing}"


def test_every_dependency_of_lic_is_on_colab_or_installed_by_the_setup():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {simulation.normalise(re.match(r"[A-Za-z0-9_.-]+", d).group()) for d in project["dependencies"]}
    assert names - PROVIDED == set()


def test_the_stand_in_holds_only_colab_packages():
    assert {simulation.normalise(p) for p in simulation.BASE_PACKAGES} <= set(COLAB)
    assert set(simulation.ADDED_BY_SETUP) <= set(setup.SMALL_DEPENDENCIES)


def test_imports_are_found_in_ipython_syntax():
    assert imported_modules("%matplotlib inline\nimport numpy as np\nfrom scipy.stats import t\n!ls") == {"numpy", "scipy"}
    assert imported_modules("from . import x\nimport a.b, c") == {"a", "c"}


def test_glue_without_myst_nb_shows_the_value(monkeypatch):
    """On Colab there is no MyST-NB: glue shows the value (or nothing, with display=False)."""
    import IPython.display

    import lic.notebook
    shown = []
    monkeypatch.setattr(lic.notebook, "_myst_glue", None)
    monkeypatch.setattr(IPython.display, "display", shown.append)
    lic.notebook.glue("a", 1.5)
    lic.notebook.glue("b", 2.5, display=False)
    assert shown == [1.5]


def test_glue_with_myst_nb_is_myst_nbs(monkeypatch):
    import lic.notebook
    calls = []
    monkeypatch.setattr(lic.notebook, "_myst_glue", lambda *a, **k: calls.append((a, k)))
    lic.notebook.glue("a", 1.5, display=False)
    assert calls == [(("a", 1.5), {"display": False})]


def test_colab_minutes_reads_the_record_and_refuses_a_missing_or_failed_chapter(tmp_path):
    import json

    import pytest

    from lic.notebook import colab_minutes

    record = tmp_path / "colab.json"
    record.write_text(json.dumps({"seconds": {"a.ipynb": 93.0, "b.ipynb": 10.0}, "failed": ["b.ipynb"]}))
    assert colab_minutes("a.ipynb", record) == 1.6
    for missing in ("b.ipynb", "c.ipynb"):
        with pytest.raises(KeyError, match="no successful run"):
            colab_minutes(missing, record)


def test_a_partial_run_is_merged_into_the_record(tmp_path):
    """Timing one chapter again keeps the others' times, each with the date it was measured."""
    path = tmp_path / "colab.json"
    path.write_text(json.dumps({"cells": "all", "seconds": {"a.ipynb": 60.0, "b.ipynb": 10.0}, "date": "2026-12-01",
                                "failed": ["b.ipynb"]}))
    now = {"cells": "all", "seconds": {"b.ipynb": 12.0, "c.ipynb": 30.0}, "date": "2026-12-06", "failed": []}
    record = simulation.merged(path, now)
    assert record["seconds"] == {"a.ipynb": 60.0, "b.ipynb": 12.0, "c.ipynb": 30.0} and record["failed"] == []
    assert record["dates"] == {"a.ipynb": "2026-12-01", "b.ipynb": "2026-12-06", "c.ipynb": "2026-12-06"}
    assert simulation.merged(path, {**now, "cells": 3}) == {**now, "cells": 3}   # first cells only: not merged
