"""``python -m lic train CONFIG``: the command line of the training loop."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoints import weights_dir
from .config import load_config
from .loop import CLOCKS, train

def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``python -m lic train``."""
    parser.add_argument("config", help="TOML config, e.g. configs/balle2017-q3.toml")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="total steps (default: gpu_steps on CUDA, else cpu_steps)")
    budget.add_argument("--minutes", type=float, help="total minutes instead of steps (see --clock)")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="what --minutes counts: wall-clock time, or this process's CPU time (fair on a busy machine)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--out", help="folder for the checkpoint files (default: the shipped weights' folder, src/lic/weights)")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/<name>.state.safetensors")
    parser.add_argument("--init", help="warm-start from this checkpoint's weights (same model, any λ)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint of that name")
    parser.add_argument("--workers", type=int, help="data-loading processes (default: 0 on CPU, 4 on CUDA)")
    parser.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
                        help="override one config key, e.g. --set train.seed=101 --set output.name=wen2019-q5-s101")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def run_train(args: argparse.Namespace) -> None:
    """Run ``python -m lic train`` and print where the checkpoint went and its final metrics."""
    config = load_config(args.config, args.set)
    _, history = train(config, steps=args.steps, minutes=args.minutes, clock=args.clock, device=args.device,
                       out_dir=args.out,
                       resume=args.resume, overwrite=args.overwrite, num_workers=args.workers,
                       init=args.init, progress=not args.quiet)
    stem = Path(args.out or weights_dir()) / config.name
    final = history[-1]
    metrics = ", ".join(f"{k} {final[k]:.4f}" for k in ("eval_bpp", "eval_psnr") if k in final)
    print(f"{stem}.safetensors: {final['step']} steps in {final['time_s']:.0f} s" + (f"; {metrics}" if metrics else ""))
