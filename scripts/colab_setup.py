"""Run by the first cell of every chapter on Colab, after it cloned the repository to /content/lic.

Installs ``lic`` without touching Colab's own torch, numpy and Pillow (``--no-deps``, plus only
those small dependencies that Colab lacks), so that no runtime restart is needed, and points
``lic`` at the repository's photos. Running it again changes nothing.
"""
import importlib
import importlib.util
import os
import subprocess
import sys

CLONE = "/content/lic"
SMALL_DEPENDENCIES = {"constriction": "constriction", "pytorch-msssim": "pytorch_msssim",
                      "pillow-heif": "pillow_heif", "safetensors": "safetensors"}  # package -> module

if importlib.util.find_spec("lic") is None:
    missing = [package for package, module in SMALL_DEPENDENCIES.items() if importlib.util.find_spec(module) is None]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", CLONE, *missing], check=True)
    importlib.invalidate_caches()
if f"{CLONE}/src" not in sys.path:
    sys.path.insert(0, f"{CLONE}/src")
os.environ["LIC_DATA"] = f"{CLONE}/data"
