"""Training speed on this machine: kilo-pixels per second of one training step, per model and option.

    .venv/bin/python benchmarks/train_speed.py [--steps 12] [--models balle2017 modulated conv-ae]

Run it on an idle machine (no training in the background: a busy core makes every number wrong).
For each learned model (the shipped configs' model arguments) it times ``training_loss`` +
``backward`` + an Adam step on random batches, after warm-up steps, under each option:

- threads: 1 or 2 intra-op threads (``torch.set_num_threads``);
- layout: contiguous or ``channels_last``;
- ``torch.compile`` (needs a C++ compiler; its compile time is reported apart);
- crop × batch: 8×128², 32×64², 2×256² (the same pixels per step);
- two processes with DDP (``torchrun --nproc_per_node 2 -m lic train``, gloo, 1 thread each),
  measured from the checkpoint's provenance (steps per wall second × pixels per step × 2).

Throughput is kilo-pixels per second (``batch × crop² / seconds per step / 1000``), the median
of the timed steps. The last lines are a Markdown table for the README.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from lic.models import MODELS
from lic.train import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"balle2017": "balle2017-base", "modulated": "modulated", "conv-ae": "conv-ae-q2"}
SHAPES = ((8, 128), (32, 64), (2, 256))


def step_seconds(model_name: str, threads: int, channels_last: bool, compiled: bool, batch: int, crop: int,
                 steps: int) -> tuple[float, float]:
    """Median seconds per training step, and the seconds spent compiling (0 without compile)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = load_config(ROOT / "configs" / f"{CONFIGS[model_name]}.toml")
    model = MODELS[config.model](**config.model_args).train()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    loss_function = torch.compile(model.training_loss) if compiled else model.training_loss
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 3, crop, crop).contiguous(memory_format=fmt)
    started = time.perf_counter()
    loss, _ = loss_function(x)  # the first call compiles
    loss.backward()
    compile_s = time.perf_counter() - started if compiled else 0.0
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss, _ = loss_function(x)
        loss.backward()
        optimizer.step()
        if i >= 2:  # two warm-up steps
            times.append(time.perf_counter() - t0)
    return statistics.median(times), compile_s


def ddp_seconds(model_name: str) -> tuple[float, int, int]:
    """Seconds per step of two 1-thread DDP processes (torchrun, gloo), and each rank's batch and crop.

    All three come from the run's provenance: the config's CPU crop and batch apply, which may
    differ from 8×128². The run lasts three of the config's log intervals, so that two history
    entries without an evaluation bracket the timed steps.
    """
    config = ROOT / "configs" / f"{CONFIGS[model_name]}.toml"
    steps = 3 * load_config(config).train.log_every
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "lic", "train",
                        str(config), "--steps", str(steps), "--device", "cpu", "--out", out, "--quiet"],
                       check=True, env=env, capture_output=True, cwd=ROOT)
        provenance = json.loads((Path(out) / f"{load_config(config).name}.json").read_text())
        history = [h for h in provenance["history"] if "eval_psnr" not in h]
        first, last = history[0], history[-1]  # time between log entries excludes evaluation
        seconds = (last["time_s"] - first["time_s"]) / max(last["step"] - first["step"], 1)
        return seconds, provenance["batch_size"], provenance["crop"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12, help="timed steps per option (after 2 warm-up steps)")
    parser.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (no C++ compiler)")
    parser.add_argument("--no-ddp", action="store_true", help="skip the two-process run")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    rows = []
    for name in args.models:
        options = [(t, cl, False, 8, 128) for t in (1, 2) for cl in (False, True)]
        options += [(2, True, False, b, c) for b, c in SHAPES[1:]]
        if not args.no_compile:
            options.append((2, True, True, 8, 128))
        for threads, channels_last, compiled, batch, crop in options:
            seconds, compile_s = step_seconds(name, threads, channels_last, compiled, batch, crop, args.steps)
            rows.append({"model": name, "processes": 1, "threads": threads, "channels_last": channels_last,
                         "compile": compiled, "batch": batch, "crop": crop, "s_per_step": seconds,
                         "kpx_per_s": batch * crop * crop / seconds / 1000, "compile_s": compile_s})
            print(json.dumps(rows[-1]), flush=True)
        if not args.no_ddp:
            seconds, batch, crop = ddp_seconds(name)
            rows.append({"model": name, "processes": 2, "threads": 1, "channels_last": False, "compile": False,
                         "batch": batch, "crop": crop, "s_per_step": seconds,
                         "kpx_per_s": 2 * batch * crop * crop / seconds / 1000, "compile_s": 0.0})
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    print("| model | processes × threads | layout | compile | batch × crop² | s/step | kpx/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['processes']} × {r['threads']} | {'channels_last' if r['channels_last'] else 'NCHW'} "
              f"| {'yes' if r['compile'] else 'no'} | {r['batch']} × {r['crop']}² | {r['s_per_step']:.3f} "
              f"| {r['kpx_per_s']:.0f} |")


if __name__ == "__main__":
    main()
