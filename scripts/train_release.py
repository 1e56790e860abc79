"""Train every shipped checkpoint at once: one ``python -m lic train`` process per config.

    python scripts/train_release.py --minutes 20                 # every configs/*.toml, 20 min each
    python scripts/train_release.py --steps 200000 configs/balle2017-q*.toml

All processes start together and share the machine (on one GPU they share it too: the book's
models are small, and an 80 GB card holds all ten). Each process uses one data-loading worker and
its share of the CPU cores; its output goes to ``<out>/logs/<config>.log``. Checkpoints are written to ``--out`` (default: the
shipped weights' folder, ``src/lic/weights``), replacing the ones there unless ``--resume`` continues them. At the
end a table lists each checkpoint's steps, minutes, device and evaluation bpp/PSNR, read from its
provenance JSON; the exit status is 1 if any run failed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def commands(args: argparse.Namespace) -> list[tuple[Path, list[str]]]:
    """``(config, command line)`` of every run."""
    budget = ["--minutes", str(args.minutes)] if args.minutes is not None else ["--steps", str(args.steps)]
    extra = ["--resume"] if args.resume else ["--overwrite"]
    if args.device:
        extra += ["--device", args.device]
    return [(config, [args.python, "-m", "lic", "train", str(config), *budget, "--out", str(args.out),
                      "--workers", str(args.workers), "--quiet", *extra])
            for config in args.configs]


def summary(configs: list[Path], out: Path) -> list[str]:
    """One line per config: name, steps, minutes, device, eval bpp and PSNR (from the JSON)."""
    lines = [f"{'checkpoint':<16} {'steps':>7} {'min':>6} {'bpp':>7} {'PSNR':>7}  device"]
    for config in configs:
        path = out / f"{_name(config)}.json"
        if not path.is_file():
            lines.append(f"{_name(config):<16} (no checkpoint)")
            continue
        p = json.loads(path.read_text())
        m = p.get("metrics", {})
        bpp = f"{m['eval_bpp']:.3f}" if "eval_bpp" in m else "-"
        lines.append(f"{_name(config):<16} {p['steps']:>7} {p['wall_time_s'] / 60:>6.1f} {bpp:>7} "
                     f"{m.get('eval_psnr', float('nan')):>7.2f}  {p['device']}")
    return lines


def _name(config: Path) -> str:
    """The ``[output] name`` of a config (the checkpoint's stem); the file's stem if it has none."""
    try:
        return tomllib.loads(config.read_text(encoding="utf-8"))["output"]["name"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return config.stem  # a broken config: its run failed, and its log says why


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", type=Path, help="configs to train (default: configs/*.toml)")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--minutes", type=float, help="wall-clock minutes per run (all runs at once)")
    budget.add_argument("--steps", type=int, help="steps per run")
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "lic" / "weights", help="checkpoint folder")
    parser.add_argument("--device", help="cpu, cuda ... (default: cuda if available)")
    parser.add_argument("--resume", action="store_true", help="continue the runs saved in --out")
    parser.add_argument("--workers", type=int, default=1, help="data-loading processes per run")
    parser.add_argument("--python", default=sys.executable, help="the Python that has lic installed")
    args = parser.parse_args(argv)
    args.configs = args.configs or sorted((ROOT / "configs").glob("*.toml"))
    logs = args.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Share the CPU cores between the runs (unless OMP_NUM_THREADS says otherwise).
    env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // len(args.configs))), **os.environ}
    running = []
    for config, command in commands(args):
        log = (logs / f"{config.stem}.log").open("w")
        running.append((config, log, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                                      env=env)))
        print(f"started {config.name}: {' '.join(command[1:])}", flush=True)
    failed = []
    for config, log, process in running:
        if process.wait() != 0:
            failed.append(config)
        log.close()
    print("\n".join(summary(args.configs, args.out)))
    for config in failed:
        tail = (logs / f"{config.stem}.log").read_text(errors="replace").splitlines()[-15:]
        print(f"\n{config.name} FAILED; end of its log:\n" + "\n".join(tail), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
