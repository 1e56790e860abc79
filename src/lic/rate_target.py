"""Rate targeting: the stream of the highest quality that fits a budget in bits per pixel.

``lic compress --target-bpp B`` and ``lic eval --target-bpp B`` ask every codec the same question:
which quality gives the most for at most ``B`` bits per pixel of *this* image? The size of a stream
grows with the quality, so a bisection over the qualities a codec accepts finds it in a few encodes
(about 7 for a 0-100 knob). A codec trained at a few λ has only those qualities: its answer can land
well below ``B`` (the next quality would overshoot), and the printed bpp says how far.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from .codec import Codec
from .metrics import bpp, ms_ssim, psnr


class UnreachableRate(ValueError):
    """Even the codec's lowest quality needs more bits than the target."""


def accepted_qualities(codec: Codec) -> list[int]:
    """Every quality ``codec`` accepts, in increasing order (its whole range, or its grid)."""
    low, high = codec.quality_range()
    accepted = []
    for q in range(low, high + 1):
        try:
            codec.check_quality(q)
        except ValueError:
            continue
        accepted.append(q)
    return accepted


def compress_to_rate(codec: Codec, image: torch.Tensor, target_bpp: float) -> tuple[int, bytes]:
    """``(quality, stream)``: the highest quality whose stream of ``image`` has at most
    ``target_bpp`` bits per pixel (a bisection, assuming sizes grow with the quality).

    Raises :class:`UnreachableRate`, naming the lowest reachable rate, when no quality fits.
    """
    if not target_bpp > 0:
        raise ValueError(f"the target rate must be > 0 bpp, got {target_bpp}")
    h, w = image.shape[-2:]
    qualities = accepted_qualities(codec)
    streams: dict[int, bytes] = {}

    def fits(i: int) -> bool:
        q = qualities[i]
        if q not in streams:
            streams[q] = codec.compress(image, q)
        return bpp(streams[q], h, w) <= target_bpp

    if not fits(0):
        lowest = bpp(streams[qualities[0]], h, w)
        raise UnreachableRate(f"{codec.name} cannot reach {target_bpp:g} bpp on this image: its lowest quality "
                              f"({qualities[0]}) takes {lowest:.4f} bpp")
    low, high = 0, len(qualities) - 1  # invariant: qualities[low] fits
    if fits(high):
        low = high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fits(middle) else (low, middle)
    return qualities[low], streams[qualities[low]]


@dataclass(frozen=True)
class TargetPoint:
    """One image coded at the highest quality within one target rate."""

    codec: str
    target_bpp: float
    quality: int
    image: str
    bytes: int
    bpp: float
    psnr: float
    ms_ssim: float
    search_s: float  # every encode of the search
    decode_s: float


def evaluate_at_rates(codec: Codec, targets: Sequence[float],
                      images: Iterable[tuple[str, torch.Tensor]]) -> list[TargetPoint]:
    """Every (image, target) point; an unreachable target raises :class:`UnreachableRate`."""
    points = []
    for name, image in images:
        h, w = image.shape[-2:]
        for target in targets:
            t0 = time.perf_counter()
            quality, data = compress_to_rate(codec, image, target)
            t1 = time.perf_counter()
            decoded = codec.decompress(data)
            t2 = time.perf_counter()
            points.append(TargetPoint(codec.name, float(target), quality, name, len(data), bpp(data, h, w),
                                      psnr(image, decoded), ms_ssim(image, decoded), t1 - t0, t2 - t1))
    return points
