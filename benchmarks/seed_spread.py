"""The seed spread: how far apart checkpoints trained the same way, with different seeds, land on the
validation split. Chapters and issues compare two checkpoints against it.

    python benchmarks/validation.py --codec wen2019 --use 5=runs/s12/wen2019-q5-s101 \
        --shipped benchmarks/results/validation.json --json runs/s12/val/wen2019-q5-s101.json   # per seed
    python benchmarks/seed_spread.py runs/s12/val/wen2019-q5-s10[123].json --json benchmarks/seed_spread.json

Each input is what ``validation.py --use Q=STEM`` wrote for one seed of the same fine-tune; the
output lists, per run, its ``seed`` (read from the checkpoint's provenance), the candidate's mean
``bpp`` and ``psnr`` on the validation photos, its PSNR gain at equal rate over the shipped curve,
and the BD-rate against JPEG and HEVC of the codec's curve with that checkpoint in place; then the
spread (max - min) of each.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from _shared import arguments

from lic.checkpoints import read_provenance


def run_of(path: Path) -> dict:
    result = json.loads(path.read_text())
    (codec,) = [k for k, v in result.items() if isinstance(v, dict) and "candidates" in v]
    (quality, candidate), = result[codec]["candidates"].items()
    provenance = read_provenance(candidate["stem"])
    return {"checkpoint": Path(candidate["stem"]).name, "codec": codec, "quality": int(quality),
            "seed": provenance["config"]["train"]["seed"], "steps": provenance["steps"],
            "init": provenance.get("init", {}).get("checkpoint"),
            "bpp": candidate["mean"]["bpp"], "psnr": candidate["mean"]["psnr"],
            "psnr_gain_at_equal_rate": candidate["psnr_gain_at_equal_rate"],
            "bd_rate_vs_jpeg": result[codec]["bd_vs_jpeg"]["bd"], "bd_rate_vs_hevc": result[codec]["bd_vs_hevc"]["bd"]}


def main() -> None:
    args = arguments(__doc__, {"results": dict(nargs="+", type=Path, help="validation.py JSONs, one per seed")})
    runs = [run_of(p) for p in args.results]
    keys = ("bpp", "psnr", "psnr_gain_at_equal_rate", "bd_rate_vs_jpeg", "bd_rate_vs_hevc")
    spread = {k: max(r[k] for r in runs) - min(r[k] for r in runs) for k in keys}
    out = {"about": "the same fine-tune with different seeds, measured on data/validation (13 photos)",
           "runs": runs, "spread": spread}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
