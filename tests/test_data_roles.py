"""Each committed photo has exactly one role: train, validation or eval (``data/ROLES.json``).

Every model choice is made on ``data/validation`` and ``data/eval`` is only reported, so a photo
that sits in two roles (even cropped or rescaled) would leak. The check compares content, not
names: grey images shrunk so that their longer side is 64 px are searched for one another
(normalised cross-correlation over all positions; the searched image, less a 5 % margin, at 9
scales from 100 % to 50 % of the other's longer side), and every candidate pair is confirmed at
96 px on high-passed images (which ignores the sky-over-ground layout that many landscapes
share) at every size in pixels within 9 % of the best coarse scale. It finds copies, rescaled
copies and crops that keep at least half of the longer side of the photo they come from;
smaller crops go unnoticed. Leaks score above 0.95 here, distinct photos below 0.56.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from lic import data

ROLES = ("train", "validation", "eval")
COARSE_SIDE, FINE_SIDE = 64, 96
COARSE_FRACTIONS = tuple(np.geomspace(1.0, 0.5, 9))
FINE_RANGE = 0.09  # the fine stage tries every size within 9 % of the best coarse one (one grid step)
TRIM = 0.05  # margin cut off each side of the searched image, so a scale a little too large still fits
COARSE_MIN, FINE_MIN = 0.7, 0.85  # distinct photos here score at most ~0.56 at the fine stage


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _role_images(root: Path) -> dict[str, dict[str, Image.Image]]:
    images = {}
    for role in ROLES:
        images[role] = {}
        for path in sorted((root / role).glob("*.png")):
            with Image.open(path) as img:
                grey = img.convert("L")
            if max(grey.size) > 2 * FINE_SIDE:  # enough for both stages, and quick to resize again
                s = 2 * FINE_SIDE / max(grey.size)
                grey = grey.resize((round(grey.width * s), round(grey.height * s)), Image.Resampling.BOX)
            images[role][path.name] = grey
    return images


def _shrink(img: Image.Image, long_side: int, highpass: bool, border: int = 1) -> np.ndarray:
    """Grey pixels at ``long_side`` px (box filter), less ``border`` px on each side (absorbs rounding)."""
    s = long_side / max(img.size)
    small = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.Resampling.BOX)
    a = np.asarray(small, dtype=np.float32)
    if highpass:
        a = a - np.asarray(small.filter(ImageFilter.GaussianBlur(1.5)), dtype=np.float32)
    return a[border:-border, border:-border]


class _Haystacks:
    """Images at ``side`` px, searched all at once for a smaller template (FFT correlation)."""

    def __init__(self, images: dict[str, Image.Image], side: int, highpass: bool):
        self.side, self.highpass, self.names = side, highpass, list(images)
        arrays = [_shrink(images[n], side, highpass) for n in self.names]
        self.hw = np.array([a.shape for a in arrays])
        pad = np.zeros((len(arrays), side, side), dtype=np.float32)
        for i, a in enumerate(arrays):
            pad[i, : a.shape[0], : a.shape[1]] = a
        self.spec = np.fft.rfft2(pad)  # no wrap-around at the positions where the template fits
        self.s1 = np.pad(pad.cumsum(1, dtype=np.float64).cumsum(2), ((0, 0), (1, 0), (1, 0)))
        self.s2 = np.pad((pad.astype(np.float64) ** 2).cumsum(1).cumsum(2), ((0, 0), (1, 0), (1, 0)))
        self.windows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _windows(self, th: int, tw: int) -> tuple[np.ndarray, np.ndarray]:
        """Standard deviation x sqrt(size) of every ``th x tw`` window, and where the window fits."""
        if (th, tw) not in self.windows:
            ny, nx = self.side - th + 1, self.side - tw + 1

            def sums(s: np.ndarray) -> np.ndarray:  # over every window, from the summed-area table
                return (s[:, th : th + ny, tw : tw + nx] - s[:, :ny, tw : tw + nx]
                        - s[:, th : th + ny, :nx] + s[:, :ny, :nx])

            var = sums(self.s2) - sums(self.s1) ** 2 / (th * tw)
            ys, xs = np.arange(ny)[None, :, None], np.arange(nx)[None, None, :]
            fits = (ys <= (self.hw[:, 0] - th)[:, None, None]) & (xs <= (self.hw[:, 1] - tw)[:, None, None])
            self.windows[th, tw] = np.sqrt(np.maximum(var, 1e-9)), fits & (var > 1e-3 * th * tw)
        return self.windows[th, tw]

    def ncc(self, img: Image.Image, fraction: float) -> np.ndarray:
        """Best normalised correlation of ``img``, shrunk to ``fraction`` of ``side``, in each image."""
        long_side = round(fraction * self.side)
        t = _shrink(img, long_side, self.highpass, border=max(1, round(TRIM * long_side)))
        th, tw = t.shape
        ny, nx = self.side - th + 1, self.side - tw + 1
        t = t - t.mean()
        norm = np.sqrt((t**2).sum())
        if ny < 1 or nx < 1 or norm < 1e-3 * t.size:
            return np.full(len(self.names), -1.0)
        corr = np.fft.irfft2(self.spec * np.conj(np.fft.rfft2(t / norm, s=(self.side,) * 2)), s=(self.side,) * 2)
        spread, usable = self._windows(th, tw)
        return np.where(usable, corr[:, :ny, :nx] / spread, -1.0).reshape(len(self.names), -1).max(1)


def shared_photos(images: dict[str, dict[str, Image.Image]]) -> list[tuple[str, str, float]]:
    """``(a, b, score)`` for every photo ``a`` found (whole, rescaled or cropped) in ``b`` of another role."""
    found, fine = [], {}
    for role, mine in images.items():
        others = {f"{r}/{n}": img for r, theirs in images.items() if r != role for n, img in theirs.items()}
        if not mine or not others:
            continue
        coarse = _Haystacks(others, COARSE_SIDE, highpass=False)
        for name, img in mine.items():
            scores = np.array([coarse.ncc(img, f) for f in COARSE_FRACTIONS])  # (fractions, others)
            for j in np.flatnonzero(scores.max(0) >= COARSE_MIN):
                other = coarse.names[j]
                f0 = COARSE_FRACTIONS[int(scores[:, j].argmax())]
                if other not in fine:
                    fine[other] = _Haystacks({other: others[other]}, FINE_SIDE, highpass=True)
                sizes = range(int(f0 * FINE_SIDE * (1 - FINE_RANGE)), int(f0 * FINE_SIDE * (1 + FINE_RANGE)) + 2)
                best = max(float(fine[other].ncc(img, size / FINE_SIDE)[0]) for size in sizes)
                if best >= FINE_MIN:
                    found.append((f"{role}/{name}", other, round(best, 3)))
    return found


# ---------------------------------------------------------------------------------------------


def test_roles_manifest_matches_the_files_on_disk():
    root = data.REPO_DATA
    manifest = json.loads((root / "ROLES.json").read_text(encoding="utf-8"))["photos"]
    listed = [p["file"] for p in manifest]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    on_disk = {f"{role}/{p.name}" for role in ROLES for p in (root / role).glob("*.png")}
    assert set(listed) == on_disk, (sorted(on_disk - set(listed)), sorted(set(listed) - on_disk))
    for p in manifest:
        assert p["role"] in ROLES and p["file"].split("/")[0] == p["role"], p
        assert _sha256(root / p["file"]) == p["sha256"], p["file"]
    counts = {role: sum(p["role"] == role for p in manifest) for role in ROLES}
    assert counts["validation"] >= 12 and counts["eval"] >= 10 and counts["train"] >= 90, counts
    digests = [p["sha256"] for p in manifest]
    assert len(digests) == len(set(digests)), "the same PNG file sits twice"


def test_no_photo_sits_in_two_roles():
    assert shared_photos(_role_images(data.REPO_DATA)) == []


def test_the_check_catches_copies_rescales_and_crops(tmp_path):
    """The check must fail on a leaked photo, whichever way it was altered, in either direction."""
    def rgb(path: Path) -> Image.Image:
        with Image.open(path) as img:
            return img.convert("RGB")

    for role in ROLES:
        (tmp_path / role).mkdir()
    kodim, sail = rgb(data.EVAL_DIR / "kodim23.png"), rgb(data.EVAL_DIR / "sail.png")
    face = rgb(data.VALIDATION_DIR / "scipy-face.png")
    kodim.save(tmp_path / "eval" / "kodim23.png")
    sail.save(tmp_path / "eval" / "sail.png")
    face.save(tmp_path / "validation" / "scipy-face.png")
    rgb(data.TRAIN_DIR / "plasma-Kite.png").save(tmp_path / "train" / "plasma-Kite.png")
    w, h = kodim.size
    lanczos = Image.Resampling.LANCZOS
    leaks = {
        "validation/copy.png": kodim,
        "validation/half.png": sail.resize((sail.width // 2, sail.height // 2), lanczos),
        "validation/crop.png": kodim.crop((int(0.3 * w), 0, w, int(0.7 * h))).resize(
            (round(0.56 * w), round(0.56 * h)), lanczos),  # 70 % crop, then 0.8x
        "validation/square.png": sail.crop((0, 0, sail.height, sail.height)),
        "train/face-crop.png": face.crop((face.width // 4, face.height // 5, face.width, face.height)),
    }
    for name, img in leaks.items():
        img.save(tmp_path / name)
    found = shared_photos(_role_images(tmp_path))
    pairs = {frozenset((a, b)) for a, b, _ in found}
    expected = {
        frozenset(("validation/copy.png", "eval/kodim23.png")),
        frozenset(("validation/half.png", "eval/sail.png")),
        frozenset(("validation/crop.png", "eval/kodim23.png")),
        frozenset(("validation/square.png", "eval/sail.png")),
        frozenset(("train/face-crop.png", "validation/scipy-face.png")),
    }
    assert pairs == expected, found  # each leak caught, and the unrelated photos left alone


def test_validation_split_loads_and_is_documented():
    images = data.validation_set()
    assert len(images) >= 12
    for name, x in images:
        assert x.shape[0] == 3 and min(x.shape[1:]) >= 256 and x.std() > 0.05, name
    assert [p.stem for p in data.validation_paths()] == [n for n, _ in images]
    with pytest.raises(KeyError, match="lena"):
        data.validation_set(["lena"])
    text = (data.VALIDATION_DIR / "SOURCES.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\S+\.png) \|.*?`([0-9a-f]{64})`", text, flags=re.M))
    assert set(table) == {p.name for p in data.validation_paths()}
    for name, digest in table.items():
        assert _sha256(data.VALIDATION_DIR / name) == digest, name
