"""Chapter 3's targets, measured: BD-rates, rate-estimate gap, speed and thread-determinism.

    .venv/bin/python benchmarks/end_to_end.py [--threads 2] [--json out.json]

Prints (and optionally writes) for the shipped `balle2017` and `modulated` checkpoints:
- BD-rate (PSNR) against JPEG, JPEG 2000, WebP and HEVC intra on the offline evaluation set, and
  of the modulated model against the single-rate models;
- the largest gap between the real payload and the entropy estimate over all images and qualities;
- encode and decode seconds of a 768x512 image (median of 3), and whether decoding with 1 and 2
  threads gives identical images.
Targets (CPU-training issue): balle2017 BD-rate vs JPEG <= -25 % and better than WebP (stretch:
<= -35 % and better than JPEG 2000); modulated within +10 % of the single-rate models over their
bpp range; gap <= 1 %; encode + decode <= 1 s on 2 cores; identical decodes.
"""
from __future__ import annotations

from lic.compare import bd
from lic.data import evaluation_set
from lic.evaluate import evaluate, mean_curve
from lic.models.balle2017 import QUALITIES as BALLE2017_QUALITIES
from lic.registry import get_codec

from _shared import arguments, estimate_gap, report, timing

BASELINES = {"jpeg": (10, 20, 30, 50, 75, 90), "jpeg2000": (10, 25, 50, 100, 200), "webp": (10, 30, 50, 75, 90),
             "hevc": (30, 50, 70, 85)}


def _bd(anchor: list[dict], test: list[dict]) -> float | str:
    """BD-rate (PSNR) in per cent, or BD-PSNR in dB when the curves share no quality range."""
    rate = bd(anchor, test)
    if rate is not None:
        return rate
    gain = bd(anchor, test, kind="quality")
    return "n/a" if gain is None else f"n/a (BD-PSNR {gain:+.2f} dB)"


def main() -> None:
    args = arguments(__doc__)
    images = evaluation_set()
    curves = {c: mean_curve(evaluate(c, q, images)) for c, q in BASELINES.items()}
    for c in ("balle2017", "modulated"):
        curves[c] = mean_curve(evaluate(c, BALLE2017_QUALITIES, images))
    results: dict = {"bd_rate_psnr": {}, "curves": curves}
    for test in ("balle2017", "modulated"):
        for anchor in BASELINES:
            results["bd_rate_psnr"][f"{test} vs {anchor}"] = _bd(curves[anchor], curves[test])
    results["bd_rate_psnr"]["modulated vs balle2017"] = _bd(curves["balle2017"], curves["modulated"])
    results["estimate_gap_percent"] = {c: estimate_gap(get_codec(c), images) for c in ("balle2017", "modulated")}
    kodim = next(img for name, img in images if name == "kodim23")
    results["speed_768x512"] = {c: timing(get_codec(c), kodim, BALLE2017_QUALITIES[1]) for c in ("balle2017", "modulated")}
    report(results, args.json)


if __name__ == "__main__":
    main()
