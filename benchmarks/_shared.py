"""What the benchmark scripts share: the command line, the rate-estimate gap of a learned codec, and the report."""
from __future__ import annotations

import argparse
import json

import torch

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
