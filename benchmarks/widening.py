"""Widening the latent for a high rate, against keeping it, at equal CPU minutes.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/widening.py --minutes 15

Both runs start from the shipped ``balle2017-q3`` (M = 96 latent channels) and fine-tune it to
quality 7's λ with ``configs/balle2017-q7.toml`` for the same CPU minutes: one keeps M = 96, the
other widens the latent to M = 192 first (:func:`lic.models.widening.widen_latent`; it starts as
the same function). Each result is measured on the whole evaluation set, as in
``benchmarks/train_ablations.py``: estimated bpp, RGB PSNR, and the PSNR gain over JPEG at the same
rate. Results go to ``<out>/<variant>.json`` (finished variants are not rerun) and, with
``--json``, into one file for the book's "Training on a CPU" page.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from train_ablations import jpeg_curve, psnr_over_jpeg, variant_config

from lic.checkpoints import load_checkpoint, weights_dir
from lic.data import evaluation_set
from lic.train import evaluate_model, load_config, train

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "balle2017-q7.toml"
START = "balle2017-q3"
#: name -> (what changes, latent channels M)
VARIANTS = {"keep-M96": ("M = 96, as the starting model", 96), "widen-M192": ("M = 192, widened", 192)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0, help="CPU-minute budget of each run")
    parser.add_argument("--out", default="runs/widening", help="folder for checkpoints and results")
    parser.add_argument("--json", type=Path, help="also write both results into this file")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base, images = load_config(CONFIG), evaluation_set()
    jpeg = jpeg_curve(out)
    start = weights_dir() / START
    before = evaluate_model(load_checkpoint(start), images)
    results = [{"variant": "start", "change": f"{START}, untrained at this λ", "steps": 0,
                "bpp": before["eval_bpp"], "psnr": before["eval_psnr"],
                "db_over_jpeg": psnr_over_jpeg(before["eval_bpp"], before["eval_psnr"], jpeg)}]
    for name in VARIANTS:
        result_path = out / f"{name}.json"
        if not result_path.exists():
            config = variant_config(base, f"widening-{name}", {"M": VARIANTS[name][1]})
            started = time.perf_counter()
            model, history = train(config, minutes=args.minutes, clock="cpu", init=start, out_dir=out,
                                   overwrite=True, progress=False)
            measured = evaluate_model(model, images)
            result = {"variant": name, "change": VARIANTS[name][0], "minutes": args.minutes,
                      "threads": torch.get_num_threads(), "steps": history[-1]["step"],
                      "wall_s": round(time.perf_counter() - started, 1), "cpu_s": history[-1]["cpu_s"],
                      "bpp": measured["eval_bpp"], "psnr": measured["eval_psnr"],
                      "db_over_jpeg": psnr_over_jpeg(measured["eval_bpp"], measured["eval_psnr"], jpeg)}
            result_path.write_text(json.dumps(result, indent=1))
        results.append(json.loads(result_path.read_text()))
    for r in results:
        print(f"{r['variant']:<11} {r['steps']:>6} {r['bpp']:>6.3f} bpp {r['psnr']:>6.2f} dB "
              f"{r['db_over_jpeg']:>+6.2f} dB vs JPEG  {r['change']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
