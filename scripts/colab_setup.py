"""Run by the first cell of every chapter on Colab, after it cloned the repository (to /content/lic).

Installs ``lic`` from the clone without touching Colab's own torch, numpy and Pillow
(``pip install --no-deps -e``, plus only those small dependencies that Colab lacks), so that no
runtime restart is needed, and points ``lic`` at the clone's photos. Running it again installs
nothing.

"Installed" is read from the ``lic`` distribution's metadata, which must name this clone. It
cannot be a check that ``lic`` imports: Colab's working directory is /content, so the clone's
folder /content/lic is itself importable as an (empty) namespace package called ``lic``.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

CLONE = Path(__file__).resolve().parent.parent       # the clone this script belongs to
SMALL_DEPENDENCIES = {"constriction": "constriction", "pytorch-msssim": "pytorch_msssim",
                      "pillow-heif": "pillow_heif", "safetensors": "safetensors"}  # package -> module


def installed_from(clone: Path) -> bool:
    """Whether the ``lic`` distribution is installed, editable, from ``clone``."""
    try:
        direct_url = importlib.metadata.distribution("lic").read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        return False
    return direct_url is not None and json.loads(direct_url).get("url") == clone.as_uri()


def missing_packages() -> list[str]:
    """The small dependencies that this Python cannot import yet."""
    return [package for package, module in SMALL_DEPENDENCIES.items() if importlib.util.find_spec(module) is None]


def main() -> None:
    install = ([] if installed_from(CLONE) else ["-e", str(CLONE)]) + missing_packages()
    if install:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *install], check=True)
        importlib.invalidate_caches()
    source = str(CLONE / "src")   # the editable install's path hook only acts in a new process
    if source not in sys.path:
        sys.path.insert(0, source)
    if "lic" in sys.modules and getattr(sys.modules["lic"], "__file__", None) is None:
        del sys.modules["lic"]    # the clone's folder, imported as a namespace package before we ran
    os.environ["LIC_DATA"] = str(CLONE / "data")


main()
