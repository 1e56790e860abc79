"""Codecs on the validation split, where every choice is made: mean curves, BD-rate against HEVC
intra and JPEG with a bootstrap interval over the photos, and per-photo BD-rate against HEVC.

    python benchmarks/validation.py --codec wen2019 minnen2018 balle2017 --json benchmarks/results/validation.json
    python benchmarks/validation.py --codec wen2019 --use 5=runs/s12/wen2019-q5-s101 --label s101 \
        --shipped benchmarks/results/validation.json

``--use Q=STEM`` evaluates checkpoint STEM (e.g. a run under ``runs/``) in place of the shipped
checkpoint of quality Q (a new Q adds a quality to the codec's sweep), so a candidate is judged on
the same photos as what it would replace: the JSON also gives, for each such quality, the PSNR gained
at equal rate against the curve of the shipped checkpoints. The classical baselines are measured once
and kept in ``benchmarks/results/validation_baselines.json`` (``--refresh`` measures them again).
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

from _shared import arguments

from lic.checkpoints import weights_dir
from lic.compare import bd, bootstrap_bd, quality_at_rate
from lic.data import validation_set
from lic.evaluate import evaluate, mean_curve
from lic.learned_codec import LearnedCodec
from lic.models import CODECS
from lic.registry import get_codec

BASELINES = ("jpeg", "webp", "hevc")
BASELINE_FILE = Path(__file__).parent / "results" / "validation_baselines.json"


def points_of(codec, images, qualities=None) -> list[dict]:
    return [dataclasses.asdict(p) for p in evaluate(codec, qualities, images, progress=False)]


def baselines(images, refresh: bool) -> dict[str, list[dict]]:
    """Per-photo points of the classical codecs at their default qualities (cached)."""
    names = sorted(name for name, _ in images)
    if BASELINE_FILE.exists() and not refresh:
        cached = json.loads(BASELINE_FILE.read_text())
        if cached["images"] == names:
            return cached["points"]
    points = {name: points_of(get_codec(name), images) for name in BASELINES}
    BASELINE_FILE.write_text(json.dumps({"images": names, "points": points}, indent=1) + "\n")
    return points


def codec_with(name: str, overrides: dict[int, str], folder: Path) -> LearnedCodec:
    """Codec ``name`` reading its checkpoints from ``folder``: the shipped ones, with quality Q's
    checkpoint replaced by (or, for a new Q, extended with) the checkpoint ``overrides[Q]``."""
    _, spec = CODECS[name]
    for path in weights_dir().iterdir():
        (folder / path.name).symlink_to(path)
    qualities = dict(spec.qualities)
    for q, stem in overrides.items():
        target = f"{name}-candidate-q{q}"
        for suffix in (".safetensors", ".json"):
            (folder / (target + suffix)).symlink_to(Path(stem + suffix).resolve())
        qualities[q] = (target, 0)
    return LearnedCodec(dataclasses.replace(spec, qualities=dict(sorted(qualities.items()))), folder, name)


def summary(points: list[dict], base: dict[str, list[dict]]) -> dict:
    """Mean curve, BD-rate (PSNR) vs HEVC and JPEG with 95 % bootstrap intervals, and per photo vs HEVC."""
    per_photo = {}
    for image in sorted({p["image"] for p in points}):
        mine = [p for p in points if p["image"] == image]
        hevc = [p for p in base["hevc"] if p["image"] == image]
        per_photo[image] = bd(sorted(hevc, key=lambda p: p["bpp"]), sorted(mine, key=lambda p: p["bpp"]))
    return {
        "mean": mean_curve([_point(p) for p in points]),
        "bd_vs_hevc": bootstrap_bd(base["hevc"], points),
        "bd_vs_jpeg": bootstrap_bd(base["jpeg"], points),
        "bd_vs_webp": bootstrap_bd(base["webp"], points),
        "bd_vs_hevc_per_photo": per_photo,
    }


def _point(row: dict):
    from lic.evaluate import Point

    return Point(**row)


def main() -> None:
    args = arguments(__doc__, {
        "--codec": dict(nargs="+", default=["wen2019"], help="learned codecs to evaluate"),
        "--use": dict(nargs="*", default=[], metavar="Q=STEM", help="candidate checkpoints of the first codec"),
        "--label": dict(default="", help="a name for the candidate set, recorded in the JSON"),
        "--refresh": dict(action="store_true", help="measure the classical baselines again"),
        "--shipped": dict(help="a JSON this script wrote for the shipped checkpoints: with --use, only the "
                               "candidates' qualities are measured, the others are read from it"),
    })
    images = validation_set()
    base = baselines(images, args.refresh)
    results = {"images": [name for name, _ in images], "label": args.label,
               "baselines": {name: summary(points, base) for name, points in base.items() if name != "hevc"}}
    overrides = {int(q): stem for q, stem in (item.split("=", 1) for item in args.use)}
    with tempfile.TemporaryDirectory() as tmp:
        for i, name in enumerate(args.codec):
            folder = Path(tmp) / name
            folder.mkdir()
            codec = codec_with(name, overrides if i == 0 else {}, folder)
            known = json.loads(Path(args.shipped).read_text())[name]["points"] if args.shipped else None
            if i == 0 and overrides and known:
                points = [p for p in known if p["quality"] not in overrides] + points_of(codec, images, list(overrides))
            else:
                points = points_of(codec, images)
            results[name] = summary(points, base) | {"points": points}
            if i == 0 and overrides:
                replaced = [q for q in overrides if q in dict(CODECS[name][1].qualities)]
                shipped = [p for p in points if p["quality"] not in overrides]
                if known:
                    shipped += [p for p in known if p["quality"] in replaced]
                elif replaced:
                    shipped += points_of(get_codec(name), images, replaced)
                reference = mean_curve([_point(p) for p in shipped])
                results[name]["candidates"] = {
                    q: {"stem": stem, "mean": row, "psnr_gain_at_equal_rate": _gain(reference, row)}
                    for q, stem in overrides.items()
                    for row in results[name]["mean"] if row["quality"] == q}
                results[name]["shipped"] = summary(shipped, base)
            shutil.rmtree(folder)
    for name in [*results["baselines"], *args.codec]:
        entry = results["baselines"].get(name) or results[name]
        h, j = entry["bd_vs_hevc"], entry["bd_vs_jpeg"]
        top = max(entry["mean"], key=lambda r: r["bpp"])
        print(f"{name:<12} vs HEVC {_fmt(h)}   vs JPEG {_fmt(j)}   top {top['bpp']:.2f} bpp {top['psnr']:.2f} dB")
    if overrides:
        print(f"{'(shipped)':<12} vs HEVC {_fmt(results[args.codec[0]]['shipped']['bd_vs_hevc'])}")
    for q, c in results.get(args.codec[0], {}).get("candidates", {}).items():
        print(f"  candidate q{q} {c['stem']}: {c['mean']['bpp']:.4f} bpp {c['mean']['psnr']:.3f} dB, "
              f"gain at equal rate {c['psnr_gain_at_equal_rate']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


def _gain(reference: list[dict], row: dict) -> float | None:
    """PSNR of ``row`` minus the reference curve's PSNR at the same rate (None outside its range)."""
    at = quality_at_rate(reference, row["bpp"])
    return None if at is None else round(row["psnr"] - at, 4)


def _fmt(b: dict) -> str:
    if b["bd"] is None:
        return "   n/a           "
    interval = "" if b["low"] is None else f" [{b['low']:+.1f}, {b['high']:+.1f}]"
    return f"{b['bd']:+6.1f} %{interval}"


if __name__ == "__main__":
    main()
