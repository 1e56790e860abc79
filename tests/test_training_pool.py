"""The committed training pool (``data/train``) and the parts of ``scripts/build_data.py`` that read it.

The builder itself needs the network (Debian and PyPI archives); these tests check what it wrote
and its offline pieces: the Qt resource reader (GCompris ships its photos inside ``.rcc`` files),
the GCompris credits parser, and the colour/alpha clean-up.
"""
from __future__ import annotations

import importlib.util
import re
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from lic import data

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("build_data", ROOT / "scripts" / "build_data.py")
build_data = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("build_data", build_data)  # dataclasses look their module up there
_spec.loader.exec_module(build_data)


def _rows() -> list[dict[str, str]]:
    """The image table of data/train/SOURCES.md, one dict per row."""
    lines = (data.TRAIN_DIR / "SOURCES.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| file |"))
    header = [c.strip() for c in lines[start].strip("|").split(" | ")]
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in re.split(r"(?<!\\) \| ", line.strip()[2:-2])]
        assert len(cells) == len(header), line
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def test_every_training_photo_has_an_origin_an_author_and_a_licence():
    rows = _rows()
    assert {r["file"] for r in rows} == {p.name for p in data.TRAIN_DIR.glob("*.png")}
    for r in rows:
        assert r["origin (package, path)"] and r["author / copyright"] and r["licence"], r["file"]


def test_training_pool_keeps_reserved_and_evaluation_sources_out():
    text = " ".join(r["origin (package, path)"] for r in _rows())
    for banned in ("lomiri-wallpapers-16.04", "pyiqa", "tid2013", "librust-tiff-dev", "sporco", "skimage/data",
                   "kodim", "rocket"):
        assert banned not in text.lower(), banned
    # and no training photo is an evaluation photo in disguise (same picture, downscaled)
    def thumb(path: Path) -> np.ndarray:
        with Image.open(path) as img:
            a = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.BOX), dtype=float)
        a -= a.mean()
        return a.ravel() / (np.linalg.norm(a) + 1e-9)

    train = np.stack([thumb(p) for p in sorted(data.TRAIN_DIR.glob("*.png"))])
    evals = np.stack([thumb(p) for p in sorted(data.EVAL_DIR.glob("*.png"))])
    assert (train @ evals.T).max() < 0.95


def test_training_photos_need_no_padding_for_the_default_256_px_crops():
    for p in data.TRAIN_DIR.glob("*.png"):
        with Image.open(p) as img:
            assert min(img.size) >= 256, p.name


# --- offline pieces of the builder -------------------------------------------------------------


def _rcc(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A version-2 Qt resource file holding ``dir/name`` -> (bytes, zlib-compressed?) entries."""
    dirs: dict[str, list[str]] = {}
    for path in files:
        folder, name = path.split("/")
        dirs.setdefault(folder, []).append(name)
    names, name_offsets = b"", {}

    def add_name(n: str) -> int:
        nonlocal names
        if n not in name_offsets:
            name_offsets[n] = len(names)
            names += struct.pack(">HI", len(n), 0) + n.encode("utf-16-be")
        return name_offsets[n]

    payload, nodes = b"", []
    nodes.append(("dir", 0, len(dirs), 1))  # root; its children are nodes 1..len(dirs)
    first = 1 + len(dirs)
    children = []
    for folder, entries in dirs.items():
        nodes.append(("dir", add_name(folder), len(entries), first))
        first += len(entries)
        children += [(f"{folder}/{e}", e) for e in entries]
    for path, name in children:
        body, compressed = files[path]
        stored = struct.pack(">I", len(body)) + zlib.compress(body) if compressed else body
        nodes.append(("file", add_name(name), int(compressed), len(payload)))
        payload += struct.pack(">I", len(stored)) + stored
    tree = b""
    for kind, name_offset, a, b in nodes:
        if kind == "dir":
            tree += struct.pack(">IHII", name_offset, 2, a, b) + bytes(8)
        else:
            tree += struct.pack(">IHHHI", name_offset, a, 0, 0, b) + bytes(8)
    head = 20
    return (b"qres" + struct.pack(">IIII", 2, head, head + len(tree), head + len(tree) + len(payload))
            + tree + payload + names)


def test_qt_resources_reads_plain_and_zlib_compressed_files_in_folders():
    files = {"a/README": (b"hello", False), "a/photo.webp": (b"x" * 300, True), "b/c.txt": (b"", False)}
    assert build_data.qt_resources(_rcc(files)) == {k: v for k, (v, _) in files.items()}
    with pytest.raises(ValueError, match="Qt resource"):
        build_data.qt_resources(b"PK\x03\x04" + bytes(20))


def test_gcompris_credits_reads_both_ways_of_listing_files():
    readme = """Copyright: Timothee Giet, 2018
License: CC-BY-SA 4.0
Files:
question.svg

Copyright: Kurt Kaiser
License: CC0-1.0
Source: https://commons.wikimedia.org/wiki/File:American_Bison_9.jpg
Files:
bison.webp

Copyright: Sergio Cambelo
Files: giraffe.webp
Source: https://commons.wikimedia.org/wiki/File:Giraffe.JPG
License: Public domain
Comments: cropping, sharpening
"""
    credits = build_data.gcompris_credits(readme)
    assert set(credits) == {"question.svg", "bison.webp", "giraffe.webp"}
    assert credits["bison.webp"]["Copyright"] == "Kurt Kaiser"
    assert credits["bison.webp"]["Source"].endswith("American_Bison_9.jpg")
    assert credits["giraffe.webp"] == {"Copyright": "Sergio Cambelo", "Source": "https://commons.wikimedia.org/wiki/"
                                       "File:Giraffe.JPG", "License": "Public domain",
                                       "Comments": "cropping, sharpening"}


def test_clean_rgb_drops_an_opaque_alpha_channel_and_refuses_a_transparent_one():
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3] = np.arange(60, dtype=np.uint8).reshape(4, 5, 3)
    rgba[..., 3] = 255
    out = build_data.clean_rgb(Image.fromarray(rgba, "RGBA"))
    assert out.mode == "RGB" and np.array_equal(np.asarray(out), rgba[..., :3])
    rgba[0, 0, 3] = 254
    with pytest.raises(ValueError, match="RGBA"):
        build_data.clean_rgb(Image.fromarray(rgba, "RGBA"))


def test_to_srgb_leaves_untagged_and_srgb_tagged_sources_alone():
    img = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3), "RGB")
    assert build_data.to_srgb(img, None) == (img, "")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out, note = build_data.to_srgb(img, srgb)
    assert out is img and note == ""
