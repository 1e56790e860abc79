"""Comparing rate-distortion curves: the BD table of every chapter, a curve's point at a rate, and
verdicts that weigh a difference against the seed spread (:func:`verdict`).

A curve is a list of rows with ``bpp`` and quality measures (``psnr``, ``ms_ssim``), as
:func:`lic.evaluate.mean_curve` returns them.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator

from .metrics import bd_psnr, bd_rate
from .report import Table

Curve = Sequence[Mapping[str, float]]


def bd(anchor: Curve, test: Curve, metric: str = "psnr", kind: str = "rate") -> float | None:
    """BD-rate in % (``kind="rate"``) or BD-quality in the metric's unit (``kind="quality"``) of
    ``test`` against ``anchor``; ``None`` when the curves share no range to integrate over, or when
    a curve's quality does not rise with its rate (BD metrics need monotone curves)."""
    rates_a, rates_b = [r["bpp"] for r in anchor], [r["bpp"] for r in test]
    qual_a, qual_b = [r[metric] for r in anchor], [r[metric] for r in test]
    function = {"rate": bd_rate, "quality": bd_psnr}[kind]
    try:
        return function(rates_a, qual_a, rates_b, qual_b)
    except ValueError as err:
        if "overlap" in str(err) or "must increase strictly" in str(err):
            return None
        raise


def bd_table(curves: Mapping[str, Curve], anchor: str = "jpeg", tests: Sequence[str] | None = None,
             metrics: Sequence[str] = ("psnr", "ms_ssim"), points: Mapping[str, Sequence] | None = None) -> Table:
    """BD-rate of each codec in ``tests`` (default: all but the anchor) against ``anchor``.

    Where two curves share no quality range, the BD-rate is "n/a" and the table gives the
    BD-PSNR (average dB gained at equal rate) instead, with each codec's PSNR range. With
    ``points`` (each codec's per-image points, as :func:`lic.evaluate.evaluate` gives them), every
    BD-rate also gets its 95 % bootstrap interval over the images (:func:`bootstrap_bd`).
    """
    tests = [c for c in curves if c != anchor] if tests is None else list(tests)
    rows, columns = [], {"codec": ("codec", None), "range": ("PSNR range (dB)", None)}
    for metric in metrics:
        columns[metric] = (f"BD-rate {_NAMES.get(metric, metric)} (%)", "+.1f")
        if points is not None:
            columns[f"{metric}_ci"] = ("95 % interval", None)
    columns["bd_psnr"] = ("BD-PSNR (dB)", "+.2f")
    for name in tests:
        psnrs = [r["psnr"] for r in curves[name]]
        row = {"codec": name, "range": f"{min(psnrs):.1f}–{max(psnrs):.1f}"}
        for metric in metrics:
            value = bd(curves[anchor], curves[name], metric)
            row[metric] = "n/a" if value is None else value
            if points is not None:
                row[f"{metric}_ci"] = interval_text(bootstrap_bd(points[anchor], points[name], metric))
        value = bd(curves[anchor], curves[name], "psnr", kind="quality")
        row["bd_psnr"] = "n/a" if value is None else value
        rows.append(row)
    return Table(rows, columns, title=f"Against {anchor}: negative BD-rate = fewer bits at equal quality; "
                                      "n/a = no common range")


_NAMES = {"psnr": "PSNR", "ms_ssim": "MS-SSIM"}


def nearest_quality(curve: Curve, bpp: float) -> Mapping[str, float]:
    """The row of ``curve`` whose rate is nearest to ``bpp`` (in log-rate)."""
    if bpp <= 0:
        raise ValueError(f"bpp must be positive, got {bpp}")
    return min(curve, key=lambda r: abs(math.log(r["bpp"] / bpp)))


def quality_at_rate(curve: Curve, bpp: float, metric: str = "psnr") -> float | None:
    """``metric`` of ``curve`` interpolated at ``bpp`` (PCHIP in log-rate, as the BD metrics);
    ``None`` outside the curve's rate range."""
    rows = sorted(curve, key=lambda r: r["bpp"])
    rates = np.log10([r["bpp"] for r in rows])
    if bpp <= 0 or not rates[0] <= math.log10(bpp) <= rates[-1]:
        return None
    return float(PchipInterpolator(rates, [r[metric] for r in rows])(math.log10(bpp)))


def rate_at_quality(curve: Curve, value: float, metric: str = "psnr") -> float | None:
    """The bpp at which ``curve`` reaches ``metric == value`` (PCHIP of log-rate over quality, as
    BD-rate integrates it); ``None`` outside the curve's quality range."""
    rows = sorted(curve, key=lambda r: r[metric])
    qualities = [r[metric] for r in rows]
    if not qualities[0] <= value <= qualities[-1]:
        return None
    return float(10 ** PchipInterpolator(qualities, np.log10([r["bpp"] for r in rows]))(value))


def _as_rows(points: Sequence) -> list[Mapping]:
    """Per-image points as mappings (:class:`lic.evaluate.Point` dataclasses or stored dicts)."""
    return [dataclasses.asdict(p) if dataclasses.is_dataclass(p) else p for p in points]


def _mean_rows(points: Sequence[Mapping], images: Sequence[str], metric: str) -> list[dict[str, float]]:
    """Per quality, the mean bpp and ``metric`` over ``images`` (a name may repeat: a resample)."""
    by_key = {(p["image"], p["quality"]): p for p in points}
    qualities = sorted({p["quality"] for p in points})
    rows = []
    for q in qualities:
        chosen = [by_key[(name, q)] for name in images]
        rows.append({"bpp": sum(p["bpp"] for p in chosen) / len(chosen),
                     metric: sum(p[metric] for p in chosen) / len(chosen)})
    return sorted(rows, key=lambda r: r["bpp"])


def bootstrap_bd(anchor: Sequence[Mapping], test: Sequence[Mapping], metric: str = "psnr", *,
                 resamples: int = 2000, level: float = 0.95, seed: int = 0) -> dict[str, float | None]:
    """BD-rate (%) of ``test``'s mean curve against ``anchor``'s, with a bootstrap interval over images.

    ``anchor`` and ``test`` are per-image points (rows with ``image``, ``quality``, ``bpp`` and
    ``metric``, as :func:`lic.evaluate.evaluate` gives them) on the same images. The images are
    resampled with replacement ``resamples`` times, the same draw for both codecs (a paired
    bootstrap), and both mean curves and their BD-rate recomputed; the interval holds the central
    ``level`` of those BD-rates (percentile bootstrap). A resample whose curves share no range is
    left out; ``low``/``high`` are ``None`` when most are. Returns ``bd``, ``low``, ``high``,
    ``images`` and ``resamples``.
    """
    anchor, test = _as_rows(anchor), _as_rows(test)
    images = sorted({p["image"] for p in anchor})
    if images != sorted({p["image"] for p in test}):
        raise ValueError("anchor and test must be measured on the same images")
    estimate = bd(_mean_rows(anchor, images, metric), _mean_rows(test, images, metric), metric)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        sample = [images[i] for i in rng.integers(0, len(images), len(images))]
        value = bd(_mean_rows(anchor, sample, metric), _mean_rows(test, sample, metric), metric)
        if value is not None:
            draws.append(value)
    if len(draws) < resamples / 2:
        low = high = None
    else:
        low, high = (float(v) for v in np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]))
    return {"bd": estimate, "low": low, "high": high, "images": len(images), "resamples": len(draws)}


def interval_text(result: Mapping[str, float | None]) -> str:
    """A :func:`bootstrap_bd` result's interval as ``"[-9.1, +9.4]"`` (``"n/a"`` when it has none)."""
    if result["low"] is None or result["high"] is None:
        return "n/a"
    return f"[{result['low']:+.1f}, {result['high']:+.1f}]"


#: What :func:`verdict` can say about a measured difference.
VERDICTS = ("holds", "does not hold", "within noise")


def verdict(difference: float, noise: float, interval: tuple[float, float] | None = None, *,
            better: str = "higher", margin: float = 2.0) -> str:
    """Whether a measured ``difference`` is an effect or noise: one of :data:`VERDICTS`.

    ``difference`` is measured minus reference: 0 for "does A beat B", or a paper's claimed value
    (then "holds" means "at least as good as claimed"). ``noise`` is how much identically trained
    checkpoints differ on that measure (the seed spread, ``benchmarks/seed_spread.json``);
    ``interval`` an optional confidence interval of the difference over images (a bootstrap). The
    difference counts only beyond ``margin`` times the noise, and only if the whole interval,
    widened by as much, lies on one side of zero. ``better`` says which direction is good:
    ``"higher"`` (dB) or ``"lower"`` (BD-rate, bpp).
    """
    if better not in ("higher", "lower"):
        raise ValueError(f"better must be 'higher' or 'lower', got {better!r}")
    if noise < 0 or not math.isfinite(difference):
        raise ValueError(f"need a finite difference and a noise >= 0, got {difference}, {noise}")
    sign = 1.0 if better == "higher" else -1.0
    low, high = interval if interval is not None else (difference, difference)
    if not low <= difference <= high:
        raise ValueError(f"the interval {interval} does not contain the difference {difference}")
    worst, best = sorted((sign * low, sign * high))
    slack = margin * noise
    if worst > slack:
        return "holds"
    if best < -slack:
        return "does not hold"
    return "within noise"


#: The book's measured noise level: three seeds of one fine-tune (``benchmarks/seed_spread.py``).
SEED_SPREAD = Path(__file__).resolve().parents[2] / "benchmarks" / "seed_spread.json"


def seed_spread(path: str | Path = SEED_SPREAD) -> dict[str, float]:
    """The spread (largest minus smallest) of each measure over the seeds of ``seed_spread.json``."""
    return dict(json.loads(Path(path).read_text(encoding="utf-8"))["spread"])


def bd_verdict(anchor: Sequence, test: Sequence, noise: float, metric: str = "psnr") -> dict:
    """Is ``test`` better than ``anchor``? Its BD-rate with a bootstrap interval over the images
    (:func:`bootstrap_bd`) and the :func:`verdict` on it against ``noise`` (a BD-rate spread in %):
    ``bd``, ``low``, ``high``, ``interval`` (text) and ``verdict`` ("holds": ``test`` needs fewer bits;
    ``None`` when the curves share no range)."""
    result = bootstrap_bd(anchor, test, metric)
    if result["bd"] is None:
        return {**result, "interval": "n/a", "verdict": None}   # no common range: nothing to judge
    interval = None if result["low"] is None else (min(result["low"], result["bd"]), max(result["high"], result["bd"]))
    return {**result, "interval": interval_text(result), "verdict": verdict(result["bd"], noise, interval, better="lower")}
