"""Serve MathJax from the book itself, so that formulas render without a network.

Sphinx loads MathJax from a CDN by default: a reader who opens the built book offline sees raw
``\\(\\hat x\\)``. This module is a Sphinx extension (listed under ``sphinx.local_extensions`` in
``_config.yml``) that

1. fetches the ``mathjax`` package (pinned version, sha512 checked) from the npm registry once and
   caches its ``es5/`` folder under ``.cache/`` at the repository root (ignored by git), so every
   later build is offline;
2. adds that folder to ``html_static_path`` (the build gets ``_static/mathjax/es5/…``) and points
   ``mathjax_path`` at ``mathjax/es5/tex-chtml.js``.

The download is :func:`lic.data.npm.fetch_package` (the registry via the standard library, or
``npm pack``). If it fails the build warns (an error under ``-W``) and falls back to the CDN.

Run it as a script to fill the cache ahead of time::

    python scripts/offline_mathjax.py          # prints the cached folder
"""
from __future__ import annotations

import io
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from lic.data.npm import fetch_package

MATHJAX_VERSION = "3.2.2"
# dist.integrity of https://registry.npmjs.org/mathjax/3.2.2 (what `npm install` checks).
MATHJAX_INTEGRITY = (
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
)
# The component Sphinx loads by default (TeX input, CommonHTML output), relative to _static/.
MATHJAX_ENTRY = "mathjax/es5/tex-chtml.js"

ROOT = Path(__file__).resolve().parents[1]
# One folder per version; its content is copied into the build's _static/.
CACHE = ROOT / ".cache" / f"mathjax-{MATHJAX_VERSION}"


def _extract(data: bytes, dest: Path) -> None:
    """Unpack package/es5/** plus the licence and package.json into dest/mathjax/."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = []
        for m in tar.getmembers():
            name = m.name
            if not name.startswith("package/") or not m.isfile() or ".." in Path(name).parts:
                continue
            rel = name[len("package/"):]
            if rel.startswith("es5/") or rel in ("LICENSE", "package.json"):
                m.name = "mathjax/" + rel
                members.append(m)
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
            tar.extractall(dest, members=members, filter="data")
        else:
            tar.extractall(dest, members=members)
    if not (dest / MATHJAX_ENTRY).is_file():
        raise RuntimeError(f"the mathjax-{MATHJAX_VERSION} package has no {MATHJAX_ENTRY}")


def ensure_mathjax(cache: Path = CACHE) -> Path:
    """Return the folder to add to html_static_path, downloading MathJax into it if needed."""
    if (cache / MATHJAX_ENTRY).is_file():
        return cache
    data = fetch_package("mathjax", MATHJAX_VERSION, MATHJAX_INTEGRITY)
    cache.parent.mkdir(parents=True, exist_ok=True)
    # Unpack next to the cache and rename: an interrupted fetch never leaves half a cache.
    tmp = Path(tempfile.mkdtemp(prefix=cache.name + ".", dir=cache.parent))
    try:
        _extract(data, tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private
        if cache.exists():
            shutil.rmtree(cache)
        tmp.rename(cache)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return cache


def _use_local_mathjax(app, config) -> None:
    from sphinx.util import logging

    try:
        static = ensure_mathjax()
    except Exception as exc:  # noqa: BLE001
        logging.getLogger(__name__).warning(
            "%s; the book will load MathJax from the CDN, so math needs a network to render. "
            "Fetch it once with `python scripts/offline_mathjax.py` where registry.npmjs.org "
            "(or $NPM_CONFIG_REGISTRY) is reachable.", exc)
        return
    config.html_static_path = [*config.html_static_path, str(static)]
    config.mathjax_path = MATHJAX_ENTRY


def setup(app):
    app.connect("config-inited", _use_local_mathjax)
    return {"version": MATHJAX_VERSION, "parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    try:
        print(ensure_mathjax())
    except RuntimeError as exc:
        sys.exit(f"offline_mathjax: {exc}")
