"""What a chapter needs from the environment it runs in: the book build, Jupyter, or Colab.

:func:`glue` is MyST-NB's ``glue`` when MyST-NB is installed (the book build and ``make test``),
so the prose can quote the value; elsewhere (Colab, a plain Jupyter) MyST-NB is absent and the
value is simply shown, or kept quiet with ``display=False``, as MyST-NB does.
"""
from __future__ import annotations

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
