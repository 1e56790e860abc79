"""Figures every chapter reuses: rate-distortion curves, side-by-side crops, bit-allocation maps.

Every codec keeps one colour and one marker in every figure of the book: :data:`STYLES`.
"""
from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch

from .data import to_uint8

#: codec name -> (colour, marker), the same in every chapter
STYLES: dict[str, tuple[str, str]] = {
    "jpeg": ("#1f77b4", "o"),
    "jpeg-scratch": ("#17becf", "v"),
    "jpeg-scratch-ac": ("#9edae5", "^"),
    "jpeg2000": ("#ff7f0e", "s"),
    "webp": ("#2ca02c", "D"),
    "avif": ("#bcbd22", "P"),
    "hevc": ("#7f7f7f", "X"),
    "conv-ae": ("#8c564b", "h"),
    "balle2017": ("#d62728", "o"),
    "modulated": ("#9467bd", "*"),
    # Chapter 4, luminance only: the greyscale baselines keep their colour codec's colour
    "jpeg-grey": ("#1f77b4", "p"),
    "jpeg2000-grey": ("#ff7f0e", "<"),
    "hevc-grey": ("#7f7f7f", ">"),
    "dumas2018": ("#e377c2", "d"),  # case 2; cases 3 and 1 of the paper:
    "dumas2018-fixed": ("#8c6d31", "H"),
    "dumas2018-per-rate": ("#393b79", "8"),
    "ashok2019": ("#17a768", "v"),
    "minnen2018": ("#7b4173", "D"),  # Chapter 5: the "Original", and its checkerboard variant
    "minnen2018-checkerboard": ("#7b4173", "d"),
    "wen2019": ("#111111", "s"),
}
_FALLBACK_COLOURS = ("#e377c2", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173")
_FALLBACK_MARKERS = ("p", "<", ">", "d", "H", "8")


def style(label: str) -> tuple[str, str]:
    """The colour and marker of a codec; any other label gets a fixed pair chosen from its name."""
    if label in STYLES:
        return STYLES[label]
    k = zlib.crc32(label.encode())
    return _FALLBACK_COLOURS[k % len(_FALLBACK_COLOURS)], _FALLBACK_MARKERS[(k // 7) % len(_FALLBACK_MARKERS)]


_LABELS = {"psnr": "RGB PSNR (dB)", "ms_ssim": "MS-SSIM", "bpp": "bits per pixel (from bytes)"}


def rd_curves(
    curves: Mapping[str, Sequence[Mapping[str, float]]],
    metric: str = "psnr",
    ax: plt.Axes | None = None,
    title: str | None = None,
    highlight: Sequence[str] = (),
) -> plt.Axes:
    """Plot ``metric`` against bpp for each codec; ``curves`` maps a label to rows of
    :func:`lic.evaluate.mean_curve`. Codecs named in ``highlight`` are drawn thicker. Each codec
    has its colour and marker from :func:`style`."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, rows in curves.items():
        rows = sorted(rows, key=lambda r: r["bpp"])
        bold = label in highlight
        colour, marker = style(label)
        ax.plot([r["bpp"] for r in rows], [r[metric] for r in rows], marker=marker, color=colour,
                markersize=4 if not bold else 5, linewidth=2.4 if bold else 1.3, label=label)
    ax.set_xlabel(_LABELS["bpp"])
    ax.set_ylabel(_LABELS.get(metric, metric))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def show_crops(
    images: Mapping[str, torch.Tensor],
    box: tuple[int, int, int, int] | None = None,
    ncols: int | None = None,
    size: float = 3.0,
) -> plt.Figure:
    """Show images side by side, each cropped to ``box = (top, left, height, width)``."""
    ncols = ncols or len(images)
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (label, img) in zip(axes.flat, images.items()):
        if box is not None:
            top, left, h, w = box
            img = img[:, top : top + h, left : left + w]
        ax.imshow(to_uint8(img), interpolation="nearest")
        ax.set_title(label, fontsize="small")
    fig.tight_layout()
    return fig


def bit_map(bits: torch.Tensor, ax: plt.Axes | None = None, title: str = "bits") -> plt.Axes:
    """Show a 2-D map of bits (e.g. per latent position or per 8x8 block) with a colour bar."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    im = ax.imshow(bits.detach().cpu().float().numpy(), cmap="magma")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title, fontsize="small")
    ax.axis("off")
    return ax
