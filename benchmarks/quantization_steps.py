"""Chapter 4's targets, measured: Dumas et al. 2018's three cases on the luminance of the evaluation set.

    .venv/bin/python benchmarks/quantization_steps.py [--threads 2] [--json out.json]

Prints (and optionally writes), with luma PSNR on the 8-bit grey versions of the evaluation images:
- BD-rate of case 2 (the codec ``dumas2018``, all nine β) against greyscale JPEG, JPEG 2000 and
  HEVC intra, and of case 3 against JPEG;
- case 2 and case 3 against case 1 (one model per λ) over case 1's rate range, and case 2 against
  case 3;
- the largest gap between the real payload and the entropy estimate, over every image and β;
- the training cost of the shipped checkpoints, read from their provenance.
Targets (Chapter 4 issue): case 2 vs JPEG <= -20 %; case 2 within 5 % of case 1; gap <= 1 % on
every image at every β; <= 4 CPU-hours.
"""
from __future__ import annotations


import torch

from lic.compare import bd
from lic.data import evaluation_set, to_grey
from lic.evaluate import evaluate, mean_curve
from lic.learned_codec import LearnedCodec
from lic.models.dumas2018 import CASES

from _shared import arguments, estimate_gap, report, training_cost

BASELINES = {"jpeg-grey": (5, 10, 20, 30, 50, 75, 90), "jpeg2000-grey": (10, 25, 50, 100, 200),
             "hevc-grey": (20, 30, 40, 50, 60)}
#: The paper's cases under the labels of the book's figures (lic.plots.STYLES).
CASE_LABELS = {1: "dumas2018-per-rate", 2: "dumas2018", 3: "dumas2018-fixed"}


def case_codecs() -> dict[str, LearnedCodec]:
    """The three cases as codecs, under their figure labels."""
    return {CASE_LABELS[k]: LearnedCodec(spec, name=CASE_LABELS[k]) for k, spec in CASES.items()}


def main() -> None:
    args = arguments(__doc__)
    images = [(name, to_grey(image)) for name, image in evaluation_set()]
    cases = case_codecs()
    curves = {c: mean_curve(evaluate(c, q, images)) for c, q in BASELINES.items()}
    curves |= {label: mean_curve(evaluate(codec, None, images)) for label, codec in cases.items()}
    pairs = [("jpeg-grey", "dumas2018"), ("jpeg2000-grey", "dumas2018"), ("hevc-grey", "dumas2018"),
             ("jpeg-grey", "dumas2018-fixed"), ("jpeg-grey", "dumas2018-per-rate"),
             ("dumas2018-per-rate", "dumas2018"), ("dumas2018-per-rate", "dumas2018-fixed"),
             ("dumas2018-fixed", "dumas2018")]
    results: dict = {"bd_rate_luma_psnr": {f"{t} vs {a}": bd(curves[a], curves[t]) for a, t in pairs},
                     "bd_psnr_db": {f"{t} vs {a}": bd(curves[a], curves[t], kind="quality") for a, t in pairs},
                     "estimate_gap_percent": {label: estimate_gap(codec, images) for label, codec in cases.items()},
                     "training": training_cost(sorted({stem for spec in CASES.values()
                                                       for stem, _ in spec.qualities.values()})),
                     "curves": curves}
    report(results, args.json)


if __name__ == "__main__":
    main()
