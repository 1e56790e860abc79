"""Chapter 7's protocol: every registered codec on the evaluation set, and what each one costs.

    .venv/bin/python benchmarks/capstone.py --json benchmarks/results/capstone.json   # all of it
    .venv/bin/python benchmarks/capstone.py --only points --codec wen2019 --json ...   # one part, one codec

Writes (merging into an existing file, so that one codec or one part can be measured again):

- ``points``: every codec that ``lic codecs`` lists, at its default qualities, on ``data/eval``:
  per image and quality the stream's bytes, bpp, RGB PSNR and MS-SSIM (:func:`lic.evaluate.evaluate`).
  Codecs that code the luminance only (``dumas2018`` and the ``-grey`` baselines) code the grey
  version of each photo (:func:`lic.data.to_grey`), so that they are compared with each other only.
- ``cost``: for each learned codec, its parameters and weights on disk (all checkpoints of its
  default qualities), and the decoder's multiply-accumulates per pixel on the first 768×512 evaluation
  photo at its middle quality, counted by :class:`torch.utils.flop_counter.FlopCounterMode` while the codec
  decodes (MACs = FLOPs / 2; the range coder's integer work is not counted); and the training
  CPU-hours of its checkpoints (shared runs counted once).
- ``seconds``: encode and decode seconds of that photo at the middle quality for every codec, the
  median of three runs on ``--threads`` threads, and whether 1 and 2 threads decode the same pixels
  (time it on an idle machine).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from _shared import timing, training_cost

from lic.checkpoints import weights_dir
from lic.data import evaluation_set, to_grey
from lic.evaluate import evaluate
from lic.learned_codec import LearnedCodec
from lic.progressive_codec import ProgressiveCodec
from lic.registry import available, get_codec

#: Codecs that code the luminance only: measured on grey photos, against each other.
LUMA = ("dumas2018", "hevc-grey", "jpeg-grey", "jpeg2000-grey")
PARTS = ("points", "cost", "seconds")
#: The size (height, width) of the photo that costs and times are measured on: the first such one.
TIMED_SIZE = (512, 768)


def photos_for(name: str, photos: list[tuple[str, torch.Tensor]]) -> list[tuple[str, torch.Tensor]]:
    return [(n, to_grey(x)) for n, x in photos] if name in LUMA else photos


def middle_quality(codec) -> int:
    return codec.qualities[len(codec.qualities) // 2]


def checkpoint_stems(codec) -> list[str]:
    """The checkpoints behind a learned codec's default qualities (empty for a classical codec)."""
    if isinstance(codec, LearnedCodec):
        return sorted({codec.spec[q][0] for q in codec.qualities})
    if isinstance(codec, ProgressiveCodec):
        return [codec.stem]
    return []


def models_of(codec) -> list[torch.nn.Module]:
    if isinstance(codec, LearnedCodec):
        return [codec.model(q) for q in sorted({min(q for q in codec.qualities if codec.spec[q][0] == s)
                                                for s in checkpoint_stems(codec)})]
    return [codec.model()]


def decoder_macs_per_pixel(codec, image: torch.Tensor) -> float:
    """Multiply-accumulates per pixel that ``codec``'s decoder runs on ``image`` (FLOPs / 2)."""
    data = codec.compress(image, middle_quality(codec))
    counter = FlopCounterMode(display=False)
    with counter:
        codec.decompress(data)
    return counter.get_total_flops() / 2 / (image.shape[-2] * image.shape[-1])


def cost(name: str, image: torch.Tensor) -> dict:
    codec = get_codec(name)
    stems = checkpoint_stems(codec)
    folder = weights_dir()
    models = models_of(codec)
    return {"parameters": max(sum(p.numel() for p in m.parameters()) for m in models),
            "checkpoints": len(stems),
            "weights_bytes": sum((folder / f"{s}.safetensors").stat().st_size for s in stems),
            "decoder_macs_per_pixel": decoder_macs_per_pixel(codec, image),
            "training_cpu_hours": training_cost(stems)["cpu_hours"]}


def seconds(name: str, image: torch.Tensor) -> dict:
    codec = get_codec(name)
    quality = middle_quality(codec)
    return {"quality": quality, **timing(codec, image, quality)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, required=True, help="results file (merged into if it exists)")
    parser.add_argument("--codec", nargs="*", help="default: every registered codec")
    parser.add_argument("--only", nargs="*", choices=PARTS, default=list(PARTS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.codec or sorted(available())
    photos = evaluation_set()
    stored = json.loads(args.json.read_text()) if args.json.exists() else {}
    for part in PARTS:
        stored.setdefault(part, {})
    for name in names:
        started = time.perf_counter()
        timed = photos_for(name, [next((n, x) for n, x in photos if tuple(x.shape[-2:]) == TIMED_SIZE)])[0][1]
        if "points" in args.only:
            points = evaluate(name, None, photos_for(name, photos), progress=False)
            stored["points"][name] = [dataclasses.asdict(p) for p in points]
        if "cost" in args.only and checkpoint_stems(get_codec(name)):
            stored["cost"][name] = cost(name, timed)
        if "seconds" in args.only:
            stored["seconds"][name] = seconds(name, timed)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    stored["luma"] = list(LUMA)
    stored["machine"] = {"threads": args.threads, "processor": platform.processor() or platform.machine(),
                         "torch": torch.__version__, "date": time.strftime("%Y-%m-%d")}
    args.json.write_text(json.dumps(stored, indent=1) + "\n")


if __name__ == "__main__":
    main()
