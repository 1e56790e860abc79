"""What the benchmark scripts share: the command line, the rate-estimate gap of a learned codec, timings, the training cost of shipped checkpoints, and the report."""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from lic.checkpoints import distinct_runs, read_provenance, weights_dir
from lic.codec import Codec
from lic.data import pad_to_multiple
from lic.learned_codec import LearnedCodec


def estimate_gap(codec: LearnedCodec, images: list) -> float:
    """Largest |payload bits / estimated bits - 1| over ``images`` and the codec's qualities, in per cent."""
    worst = 0.0
    for q in codec.qualities:
        model, rate = codec.model(q), codec.rate(q)
        for _, image in images:
            x = pad_to_multiple(image, model.stride)[None]
            with torch.inference_mode():
                payload = 8 * len(model.compress(x, rate))
            worst = max(worst, abs(payload / model.estimate_bits(x, rate) - 1))
    return 100 * worst


def report(results: dict, path: str | None) -> None:
    """Print every result but the curves, and write them all as JSON to ``path`` if given."""
    for key, value in results.items():
        if key != "curves":
            print(f"{key}: {json.dumps(value, indent=2)}")
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=2)


def arguments(doc: str, extra: dict[str, dict] | None = None) -> argparse.Namespace:
    """The command line of a benchmark: ``--threads`` (set here), ``--json``, and ``extra`` options."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, options in (extra or {}).items():
        parser.add_argument(name, **options)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def timing(codec: Codec, image: torch.Tensor, quality: int) -> dict:
    """Median encode and decode seconds of 3 runs (after a warm-up that loads the checkpoint), and
    whether decoding with 1 and 2 threads gives identical pixels."""
    data = codec.compress(image, quality)
    codec.decompress(data)
    enc, dec = [], []
    for _ in range(3):
        t0 = time.perf_counter(); data = codec.compress(image, quality)
        t1 = time.perf_counter(); codec.decompress(data); t2 = time.perf_counter()
        enc.append(t1 - t0); dec.append(t2 - t1)
    threads = torch.get_num_threads()
    decoded = []
    for n in (1, 2):
        torch.set_num_threads(n)
        decoded.append(codec.decompress(data))
    torch.set_num_threads(threads)
    return {"encode_s": statistics.median(enc), "decode_s": statistics.median(dec),
            "identical_1_2_threads": bool(torch.equal(*decoded))}


def training_cost(stems: list[str], folders: dict[str, Path] | None = None) -> dict:
    """Distinct training runs behind ``stems`` (shared ancestors once) and their CPU-hours; a stem's
    provenance is read from ``folders[stem]``, else from the shipped checkpoints."""
    runs = distinct_runs(read_provenance((folders or {}).get(stem, weights_dir()) / stem) for stem in stems)
    return {"runs": len(runs), "steps": sum(r.get("steps") or 0 for r in runs),
            "cpu_hours": round(sum(r.get("cpu_hours") or 0 for r in runs), 3)}
