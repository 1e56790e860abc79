"""The CPU training recipe's ablations: each choice against the recipe, at equal CPU minutes.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_ablations.py --minutes 10 [VARIANT ...]

Every variant starts from ``configs/balle2017-base.toml`` (λ = 0.013), changes one thing, trains
from scratch for the same CPU minutes (this process's CPU time, so a busy machine does not favour
one variant over another), and is then measured on the whole
evaluation set: estimated bpp (−Σ log2 p of the rounded latents; the real stream is within 0.3 %
of it), RGB PSNR, and the PSNR gain over JPEG at the same bpp (JPEG's curve interpolated in
log-rate). Results go to ``<out>/<variant>.json``; variants already there are not rerun, so the
script can be stopped and restarted. The last line is a table for the book's "Training on a CPU" page.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from lic.compare import quality_at_rate
from lic.data import evaluation_set
from lic.evaluate import evaluate, mean_curve
from lic.train import TrainConfig, evaluate_model, load_config, train

BASE = Path(__file__).resolve().parents[1] / "configs" / "balle2017-base.toml"
JPEG_QUALITIES = (5, 10, 20, 30, 40, 50, 60, 75, 90)

#: name -> (what changes, model_args overrides, train overrides)
VARIANTS: dict[str, tuple[str, dict, dict]] = {
    "recipe": ("the recipe: warm-up + cosine, STE decoder, 8×128² crops", {}, {}),
    "no-ste": ("decoder sees noisy latents (the paper's proxy)", {"ste": False}, {}),
    "constant-lr": ("constant lr, /10 after 80 % (no warm-up)", {},
                    {"schedule": "step", "warmup_steps": 0}),
    "crops-64": ("32×64² crops (same pixels per step)", {}, {"cpu_crop": 64, "cpu_batch_size": 32}),
    "crops-256": ("2×256² crops (same pixels per step)", {}, {"cpu_crop": 256, "cpu_batch_size": 2}),
    "wide-N128": ("N = 128, M = 192 (CompressAI's width)", {"N": 128, "M": 192}, {}),
}


def variant_config(base: TrainConfig, name: str, model_args: dict | None = None,
                   train_args: dict | None = None) -> TrainConfig:
    """``base`` with a variant's overrides of ``[model_args]`` and ``[train]``, written under ``name``."""
    table = base.to_dict()
    table["model_args"].update(model_args or {})
    table["train"].update(train_args or {})
    table["output"]["name"] = name
    return TrainConfig.from_dict(table, root=base.root, source=f"variant {name}")


def jpeg_curve(out: Path) -> list[dict]:
    """JPEG's mean curve on the evaluation set (cached in ``<out>/jpeg.json``)."""
    path = out / "jpeg.json"
    if not path.exists():
        path.write_text(json.dumps(mean_curve(evaluate("jpeg", JPEG_QUALITIES, progress=False)), indent=1))
    return json.loads(path.read_text())


def psnr_over_jpeg(bpp: float, psnr: float, jpeg: list[dict]) -> float:
    """PSNR minus JPEG's PSNR at the same bpp (NaN outside JPEG's rate range)."""
    at_rate = quality_at_rate(jpeg, bpp)
    return float("nan") if at_rate is None else psnr - at_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", help=f"any of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--minutes", type=float, default=10.0, help="CPU-minute budget of each run")
    parser.add_argument("--out", default="runs/ablations", help="folder for checkpoints and results")
    args = parser.parse_args()
    if unknown := set(args.variants) - set(VARIANTS):
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base = load_config(BASE)
    images = evaluation_set()
    jpeg = jpeg_curve(out)
    for name in args.variants or VARIANTS:
        result_path = out / f"{name}.json"
        if result_path.exists():
            continue
        config = variant_config(base, f"ablation-{name}", *VARIANTS[name][1:])
        started = time.perf_counter()
        model, history = train(config, minutes=args.minutes, clock="cpu", out_dir=out, overwrite=True,
                               progress=False)
        wall = time.perf_counter() - started
        measured = evaluate_model(model, images)
        result = {"variant": name, "change": VARIANTS[name][0], "minutes": args.minutes,
                  "threads": torch.get_num_threads(), "steps": history[-1]["step"], "wall_s": round(wall, 1),
                  "cpu_s": history[-1]["cpu_s"],
                  "bpp": measured["eval_bpp"], "psnr": measured["eval_psnr"],
                  "loss": measured["eval_bpp"] + config.model_args["lmbda"] * 255**2 * measured["eval_mse"],
                  "db_over_jpeg": psnr_over_jpeg(measured["eval_bpp"], measured["eval_psnr"], jpeg)}
        result_path.write_text(json.dumps(result, indent=1))
        print(json.dumps(result), flush=True)
    print(f"{'variant':<12} {'steps':>6} {'bpp':>6} {'PSNR':>6} {'RD loss':>8} {'dB vs JPEG':>10}  change")
    for name in VARIANTS:
        if (out / f"{name}.json").exists():
            r = json.loads((out / f"{name}.json").read_text())
            print(f"{name:<12} {r['steps']:>6} {r['bpp']:>6.3f} {r['psnr']:>6.2f} {r['loss']:>8.3f} "
                  f"{r['db_over_jpeg']:>+10.2f}  {r['change']}")


if __name__ == "__main__":
    main()
