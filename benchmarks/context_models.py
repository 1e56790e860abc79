"""Chapter 5's targets, measured: Minnen et al. 2018 and Wen et al. 2019 on the book's protocol.

    .venv/bin/python benchmarks/context_models.py [--threads 2] [--json out.json]

Prints (and optionally writes), on the evaluation set with RGB PSNR and bpp from the bytes:
- BD-rates of ``wen2019`` and ``minnen2018`` against JPEG, JPEG 2000, WebP, HEVC intra and
  Chapter 3's ``balle2017``;
- the ablation (Wen et al.'s Table 2) at λ = 0.013: each variant's point, and its PSNR minus the
  Original's curve at the same rate; its encode and decode time relative to the Original (Table 3);
- the checkerboard context against the serial one (PSNR at equal rate, decode time);
- decode time of a 768x512 image and whether 1 and 2 threads decode identical pixels;
- the largest gap between payload and estimate; per-image model selection under a rate budget
  (Table 5); the CPU-hours of every checkpoint;
- what storing the entropy-parameter networks in 8 bits costs: each shipped rate against its fp32
  training state, where ``runs/ch5`` has it.
The ablation, the bases and the MS-SSIM model are not shipped: they are read from ``runs/ch5``, where
``lic train ... --out runs/ch5`` writes them.
Targets (Chapter 5 issue): wen2019 vs JPEG <= -45 %, vs balle2017 <= -15 %, better than JPEG 2000
and WebP (stretch: HEVC); decode <= 10 s serial, <= 2 s checkerboard; identical decodes; gap <= 1 %.
"""
from __future__ import annotations

import statistics

from pathlib import Path

import torch
from safetensors.torch import load_file

from lic.checkpoints import import_weights, load_checkpoint, read_provenance, weights_dir
from lic.compare import bd, quality_at_rate
from lic.data import evaluation_set, pad_to_multiple
from lic.entropy import estimate_bits
from lic.evaluate import evaluate, mean_curve
from lic.learned_codec import LearnedCodec
from lic.metrics import psnr
from lic.models import MODELS
from lic.models.base import LAMBDAS
from lic.models.minnen2018 import QUALITIES
from lic.models.minnen2018 import SPEC as MINNEN
from lic.models.registry import CodecSpec
from lic.models.wen2019 import SPEC as WEN

from _shared import arguments, estimate_gap, report, timing, training_cost

BASELINES = {"jpeg": (10, 20, 30, 50, 75, 90), "jpeg2000": (10, 25, 50, 100, 200), "webp": (10, 30, 50, 75, 90),
             "hevc": (20, 30, 40, 50, 60)}
ABLATION = ("original", "separate", "multiscale", "residual", "all")


TRAINED = Path(__file__).resolve().parents[1] / "runs" / "ch5"


def folder(stem: str) -> Path:
    """Where a checkpoint is: shipped, or in ``runs/ch5``."""
    return weights_dir() if (weights_dir() / f"{stem}.json").exists() else TRAINED


def single(stem: str) -> LearnedCodec:
    """One checkpoint as a one-quality codec (quality 1)."""
    return LearnedCodec(CodecSpec(stem, {1: (stem, 0)}), folder=folder(stem), name=stem)


def eight_bit_cost(stem: str, images: list) -> dict | None:
    """Mean estimated bpp and PSNR of a shipped checkpoint (8-bit entropy networks) against the
    same model with the fp32 weights of its training state; ``None`` without that state."""
    state = TRAINED / f"{stem}.state.safetensors"
    if not state.exists():
        return None
    shipped, provenance = load_checkpoint(weights_dir() / stem), read_provenance(weights_dir() / stem)
    full = MODELS[provenance["model"]](**provenance["model_args"])
    import_weights(full, {k[6:]: v for k, v in load_file(state).items() if k.startswith("model.")})
    full.eval().update()
    rows = {}
    for label, model in (("fp32", full), ("shipped", shipped)):
        bpp, quality = [], []
        for _, image in images:
            x = pad_to_multiple(image, model.stride)[None]
            with torch.inference_mode():
                out = model(x)
            h, w = image.shape[-2:]
            bpp.append(float(estimate_bits(out["likelihoods"])) / (h * w))
            quality.append(psnr(image, out["x_hat"][0, :, :h, :w].clamp(0, 1)))
        rows[label] = (statistics.mean(bpp), statistics.mean(quality))
    return {"bpp_change_percent": 100 * (rows["shipped"][0] / rows["fp32"][0] - 1),
            "psnr_change_db": rows["shipped"][1] - rows["fp32"][1]}


def selection(points: list, budget: float) -> dict:
    """Table 5: per image, the best quality whose rate fits ``budget`` bpp (else the lowest)."""
    chosen = []
    for name in sorted({p.image for p in points}):
        mine = sorted((p for p in points if p.image == name), key=lambda p: p.bpp)
        fitting = [p for p in mine if p.bpp <= budget]
        chosen.append(fitting[-1] if fitting else mine[0])
    return {"bpp": statistics.mean(p.bpp for p in chosen), "psnr": statistics.mean(p.psnr for p in chosen),
            "ms_ssim": statistics.mean(p.ms_ssim for p in chosen), "qualities": [p.quality for p in chosen]}


def main() -> None:
    args = arguments(__doc__)
    images = evaluation_set()
    codecs = {"minnen2018": LearnedCodec(MINNEN, name="minnen2018"), "wen2019": LearnedCodec(WEN, name="wen2019")}
    points = {c: evaluate(c, q, images) for c, q in BASELINES.items()}
    points["balle2017"] = evaluate("balle2017", QUALITIES, images)
    points |= {name: evaluate(codec, None, images) for name, codec in codecs.items()}
    curves = {c: mean_curve(p) for c, p in points.items()}
    results: dict = {"bd_rate_psnr": {f"{t} vs {a}": bd(curves[a], curves[t])
                                      for t in codecs for a in (*BASELINES, "balle2017")}}
    results["bd_rate_psnr"]["wen2019 vs minnen2018"] = bd(curves["minnen2018"], curves["wen2019"])
    kodim = dict(images)["kodim23"]
    reference = timing(single("wen2019-ablation-original"), kodim, 1)
    ablation = {}
    for variant in ABLATION:
        codec = single(f"wen2019-ablation-{variant}")
        point = mean_curve(evaluate(codec, None, images))[0]
        at_rate = quality_at_rate(curves["minnen2018"], point["bpp"])
        speed = timing(codec, kodim, 1)
        ablation[variant] = {**point, "psnr_vs_original_curve": None if at_rate is None else point["psnr"] - at_rate,
                             "encode_percent": 100 * speed["encode_s"] / reference["encode_s"],
                             "decode_percent": 100 * speed["decode_s"] / reference["decode_s"]}
    results["ablation_lambda_0.013"] = ablation
    board = single("minnen2018-checkerboard")
    board_point = mean_curve(evaluate(board, None, images))[0]
    at_rate = quality_at_rate(curves["minnen2018"], board_point["bpp"])
    results["checkerboard"] = {**board_point, "psnr_vs_serial_curve": None if at_rate is None else board_point["psnr"] - at_rate,
                               "speed": timing(board, kodim, 1)}
    results["speed_768x512"] = {name: timing(codec, kodim, 3) for name, codec in codecs.items()}
    results["estimate_gap_percent"] = {name: estimate_gap(codec, images) for name, codec in codecs.items()}
    budget = statistics.mean(p.bpp for p in points["wen2019"] if p.quality == 3)
    results["selection_table_5"] = {"budget_bpp": budget, "fixed_quality_3": mean_curve([p for p in points["wen2019"] if p.quality == 3])[0],
                                    "selected": selection(points["wen2019"], budget)}
    stems = [s for spec in (MINNEN, WEN) for s, _ in spec.qualities.values()] + \
            [f"wen2019-ablation-{v}" for v in ABLATION] + ["minnen2018-base", "wen2019-base", "minnen2018-checkerboard", "wen2019-msssim-q3"]
    results["training"] = training_cost(stems, {s: folder(s) for s in stems})
    results["eight_bit_entropy_networks"] = {s: eight_bit_cost(s, images) for spec in (MINNEN, WEN)
                                             for s, _ in spec.qualities.values()}
    results["lambda_of_quality"] = {q: LAMBDAS[q - 1] for q in QUALITIES}
    results["curves"] = curves
    report(results, args.json)


if __name__ == "__main__":
    main()
