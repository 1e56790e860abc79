"""Rate-distortion points of any codec over a set of images: the one protocol of the book.

For every image and quality: compress, count the bytes, decompress, and measure RGB PSNR and
MS-SSIM against the original. The rate is always ``8 * len(bytes) / (H * W)``.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from .codec import Codec
from .registry import get_codec
from .data import load_image, list_images
from .metrics import bpp, ms_ssim, psnr


@dataclass(frozen=True)
class Point:
    """One image coded at one quality."""

    codec: str
    quality: int
    image: str
    height: int
    width: int
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float
    encode_s: float
    decode_s: float


def measure(codec: Codec, image: torch.Tensor, quality: int, name: str = "image") -> Point:
    """Compress and decompress one image, and measure what came back."""
    t0 = time.perf_counter()
    data = codec.compress(image, quality)
    t1 = time.perf_counter()
    decoded = codec.decompress(data)
    t2 = time.perf_counter()
    if decoded.shape != image.shape:
        raise RuntimeError(f"{codec.name} decoded shape {list(decoded.shape)} != input {list(image.shape)}")
    h, w = image.shape[-2:]
    return Point(
        codec=codec.name, quality=int(quality), image=name, height=h, width=w, bytes=len(data),
        bpp=bpp(data, h, w), psnr=psnr(image, decoded), ms_ssim=ms_ssim(image, decoded),
        encode_s=t1 - t0, decode_s=t2 - t1,
    )


def evaluate(
    codec: Codec | str,
    qualities: Sequence[int] | None = None,
    images: Iterable[tuple[str, torch.Tensor]] | None = None,
    progress: bool = True,
) -> list[Point]:
    """Every (image, quality) point of ``codec``; defaults: its own sweep, the evaluation set."""
    if isinstance(codec, str):
        codec = get_codec(codec)
    if images is None:
        from .data import evaluation_set

        images = evaluation_set()
    images = list(images)
    qualities = list(codec.qualities if qualities is None else qualities)
    for q in qualities:
        codec.check_quality(q)
    jobs = [(q, name, img) for q in qualities for name, img in images]
    bar = tqdm(jobs, desc=codec.name, disable=not progress, leave=False)
    return [measure(codec, img, q, name) for q, name, img in bar]


def mean_curve(points: Sequence[Point]) -> list[dict]:
    """Per quality, the mean bpp, PSNR, MS-SSIM and timings over images (sorted by rate)."""
    by_quality: dict[int, list[Point]] = {}
    for p in points:
        by_quality.setdefault(p.quality, []).append(p)
    rows = []
    for q, ps in by_quality.items():
        n = len(ps)
        rows.append({
            "codec": ps[0].codec, "quality": q, "images": n,
            **{k: sum(getattr(p, k) for p in ps) / n
               for k in ("bpp", "psnr", "ms_ssim", "encode_s", "decode_s")},
        })
    return sorted(rows, key=lambda r: r["bpp"])


def images_from_folder(folder: str | Path) -> list[tuple[str, torch.Tensor]]:
    """``(stem, image)`` pairs for every image file in ``folder``."""
    paths = list_images(folder)
    if not paths:
        raise FileNotFoundError(f"no images found in {folder}")
    return [(p.stem, load_image(p)) for p in paths]


def save_json(points: Sequence[Point], path: str | Path) -> None:
    """Write per-image points and the mean curve as JSON."""
    report = {"points": [asdict(p) for p in points], "mean": mean_curve(points)}
    Path(path).write_text(json.dumps(report, indent=2))
