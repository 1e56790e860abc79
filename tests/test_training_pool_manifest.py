"""The committed manifest of the larger CPU training pool (``data/training-pool.json``).

The pool itself is built into the git-ignored ``.cache/training-pool`` by
``scripts/build_training_pool.py``; these checks read only the manifest (and the committed
``SOURCES.md`` files), so they run offline and fast.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "data" / "training-pool.json"
POOL = ROOT / ".cache" / "training-pool"
FIELDS = {"file": str, "package": str, "version": str, "kind": str, "member": str, "resource": str,
          "licence": str, "author": str, "width": int, "height": int, "source_width": int,
          "source_height": int, "source_format": str, "source_bpp": float, "scale": int, "tag": str,
          "sha256": str, "pixels_sha256": str, "dhash": str, "note": str}
TAGS = {"face", "indoor", "text", "texture", "sky", "water", "building", "animal", "nature"}
FORBIDDEN_PACKAGES = {"lomiri-wallpapers-16.04", "pyiqa", "opencv-doc", "mahotas", "librust-tiff-dev",
                      "sporco", "scikit-image",
                      # the validation split's other sources
                      "librust-jpeg-decoder-dev", "golang-github-disintegration-imaging-dev",
                      "golang-github-disintegration-gift-dev", "scipy"}
FORBIDDEN_WORDS = re.compile(r"kodim|tid2013|DepartmentStore|astronaut|chelsea|coffee|motorcycle|monarch|"
                             r"sail\.|tulips", re.IGNORECASE)


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def photos(manifest) -> list[dict]:
    return manifest["photos"]


def test_every_entry_has_its_fields(photos):
    assert photos
    for p in photos:
        for key, kind in FIELDS.items():
            assert isinstance(p[key], kind), (p["file"], key)
        assert p["kind"] in ("deb", "wheel")
        assert p["tag"] in TAGS
        assert p["licence"].strip() and not p["licence"].startswith("?"), p["file"]
        assert re.fullmatch(r"[0-9a-f]{64}", p["sha256"]) and re.fullmatch(r"[0-9a-f]{64}", p["pixels_sha256"])
        assert re.fullmatch(r"[A-Za-z0-9_.+-]+\.png", p["file"])


def test_names_and_hashes_are_unique(photos):
    for key in ("file", "sha256", "pixels_sha256", "dhash"):
        counts = Counter(p[key] for p in photos)
        assert not [v for v, n in counts.items() if n > 1], key


def test_no_near_duplicates(manifest, photos):
    limit = manifest["rules"]["near_duplicate_hamming"]
    hashes = [(int(p["dhash"], 16), p["file"]) for p in photos]
    for i, (a, name_a) in enumerate(hashes):
        for b, name_b in hashes[i + 1:]:
            assert bin(a ^ b).count("1") > limit, (name_a, name_b)


def test_no_forbidden_source(photos):
    for p in photos:
        assert p["package"] not in FORBIDDEN_PACKAGES, p["file"]
        assert not FORBIDDEN_WORDS.search(p["member"] + " " + p["resource"] + " " + p["file"]), p["file"]


def test_nothing_that_eval_or_validation_lists(photos):
    listed = set()
    for role in ("eval", "validation"):
        sources = ROOT / "data" / role / "SOURCES.md"
        if sources.exists():
            listed |= set(re.findall(r"`([^`\s]+/[^`\s]+\.\w+)`", sources.read_text(encoding="utf-8")))
    assert listed
    for p in photos:
        assert p["member"] not in listed and p["resource"] not in listed, p["file"]


def test_sizes_and_scale(manifest, photos):
    rules = manifest["rules"]
    for p in photos:
        w, h = p["width"], p["height"]
        assert w * h >= rules["min_pixels"] and min(w, h) >= rules["min_side"], p["file"]
        assert p["scale"] in (1, 2)
        sw, sh = p["source_width"], p["source_height"]
        if "rotated 90" in p["note"] or "rotated 270" in p["note"]:
            sw, sh = sh, sw
        assert abs(w - sw / p["scale"]) <= 1 and abs(h - sh / p["scale"]) <= 1, p["file"]
        assert (p["scale"] == 2) == (max(sw, sh) > rules["halve_if_longer_than"] or (
            p["source_format"] in ("JPEG", "WEBP") and p["source_bpp"] < rules["halve_lossy_below_bpp"]
            and (sw // 2) * (sh // 2) >= rules["min_pixels"] and min(sw, sh) // 2 >= rules["min_side"])), p["file"]


def test_totals_are_as_reported(manifest, photos):
    totals = manifest["totals"]
    assert totals["photos"] == len(photos)
    assert totals["megapixels"] == pytest.approx(sum(p["width"] * p["height"] for p in photos) / 1e6, abs=0.01)
    assert totals["per_package"] == dict(Counter(p["package"] for p in photos))
    assert totals["per_tag"] == dict(Counter(p["tag"] for p in photos))
    archives = " ".join(a["file"] for a in manifest["archives"]).lower()
    for package in totals["per_package"]:
        assert package.replace("-", "_").lower() in archives.replace("-", "_"), package
    assert totals["megapixels"] >= 150  # the aim; the photo count is reported, see the manifest


@pytest.mark.skipif(not POOL.is_dir(), reason="pool not built here (scripts/build_training_pool.py)")
def test_built_pool_matches_the_manifest(photos):
    for p in photos:
        path = POOL / p["file"]
        if not path.exists():
            pytest.skip(f"{path} missing: rebuild the pool")
        with Image.open(path) as im:
            assert im.size == (p["width"], p["height"]) and im.mode == "RGB", p["file"]
