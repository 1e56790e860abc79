"""Is Chapter 3's gap to WebP in the encoder? Encoder-side latent refinement, measured.

    .venv/bin/python benchmarks/latent_refinement.py [--steps 200] [--threads 2] [--json out.json]

For the shipped `balle2017` models on the offline evaluation set, each image's latents are searched
with `lic.latent_refinement` (Adam on that image's R + λD, the decoder unchanged), and the streams
are decoded by the plain codec. Prints the mean curve with and without the search, their BD-rate and
BD-PSNR against JPEG and WebP, and the encode seconds. Then the same search on the `modulated` model's
lowest rate asks for λ_min / 2: does a search below the λ set reach the single-rate models' low end?
(about 20 minutes on 2 cores)
"""
from __future__ import annotations

import torch

from lic.compare import bd
from lic.data import evaluation_set
from lic.evaluate import evaluate, mean_curve
from lic.latent_refinement import RefinedEncoder
from lic.models.balle2017 import QUALITIES
from lic.registry import get_codec

from _shared import arguments, report
from end_to_end import BASELINES

LR = 1e-3
ANCHORS = {c: BASELINES[c] for c in ("jpeg", "webp")}  # the sweeps of Chapter 3's end-to-end benchmark


def against(anchor: list[dict], test: list[dict]) -> dict:
    """BD-rate (per cent; None without a shared quality range) and BD-PSNR (dB) of ``test``."""
    return {"bd_rate": bd(anchor, test), "bd_psnr": bd(anchor, test, kind="quality")}


def below_the_set(images: list, steps: int) -> dict:
    """The modulated model's lowest-rate decoder, its latents searched for λ_min / 2."""
    codec = get_codec("modulated")
    lmbda = float(codec.model(QUALITIES[0]).lambdas[codec.rate(QUALITIES[0])]) / 2
    (point,) = mean_curve(evaluate(RefinedEncoder(codec, steps, LR, lmbda), QUALITIES[:1], images))
    return {"lambda": lmbda, "bpp": point["bpp"], "psnr": point["psnr"]}


def main() -> None:
    args = arguments(__doc__, {"--steps": {"type": int, "default": 200, "help": "Adam steps per image"}})
    images = evaluation_set()
    anchors = {c: mean_curve(evaluate(c, q, images)) for c, q in ANCHORS.items()}
    codec = get_codec("balle2017")
    curves = {"amortized": mean_curve(evaluate(codec, QUALITIES, images)),
              "refined": mean_curve(evaluate(RefinedEncoder(codec, args.steps, LR), QUALITIES, images))}
    results = {
        "steps": args.steps, "lr": LR, "threads": torch.get_num_threads(),
        "bd": {f"{k} vs {a}": against(anchors[a], c) for k, c in curves.items() for a in anchors},
        "per_quality": [{"quality": a["quality"], "gain_db": r["psnr"] - a["psnr"],
                         "rate_change_percent": 100 * (r["bpp"] / a["bpp"] - 1)}
                        for a, r in zip(*(sorted(c, key=lambda p: p["quality"]) for c in curves.values()))],
        "encode_s": {k: [p["encode_s"] for p in c] for k, c in curves.items()},
        "modulated_below_the_set": below_the_set(images, args.steps),
        "curves": {**anchors, **curves},
    }
    report(results, args.json)


if __name__ == "__main__":
    main()
