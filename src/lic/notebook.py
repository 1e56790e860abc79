"""What a chapter needs from the environment it runs in: the book build, Jupyter, or Colab.

:func:`glue` is MyST-NB's ``glue`` when MyST-NB is installed (the book build and ``make test``),
so the prose can quote the value; elsewhere (Colab, a plain Jupyter) MyST-NB is absent and the
value is simply shown, or kept quiet with ``display=False``, as MyST-NB does.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

try:
    from myst_nb import glue as _myst_glue
except ImportError:  # Colab and plain Jupyter: no book build here
    _myst_glue = None


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Make ``variable`` quotable in the book's prose as ``{glue:}`name```; show it if ``display``."""
    if _myst_glue is not None:
        _myst_glue(name, variable, display=display)
    elif display:
        from IPython.display import display as show
        show(variable)


#: Where ``python scripts/colab_simulation.py --json`` records how long each chapter took.
COLAB_TIMES = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "colab.json"


def colab_minutes(notebook: str, record: Path = COLAB_TIMES) -> float:
    """Minutes that ``notebook`` took, set-up included, in the stand-in for Colab on two cores.

    A chapter missing from the record, or failed there, is an error, so that a stale record cannot
    go unnoticed.
    """
    record = json.loads(Path(record).read_text(encoding="utf-8"))
    if notebook not in record["seconds"] or notebook in record.get("failed", []):
        raise KeyError(f"{notebook}: no successful run in colab.json; run scripts/colab_simulation.py --json")
    return round(record["seconds"][notebook] / 60, 1)
