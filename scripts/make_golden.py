"""Write the golden bitstreams: one small stream per codec and quality of the book's own codecs.

    .venv/bin/python scripts/make_golden.py

Each stream codes the same 45x70 crop of an evaluation image (odd sides, a multiple of no block
size or stride, so padding and cropping are exercised). ``tests/golden/manifest.json`` records, per stream, the
sha256 of the stream and of its decoded pixels (8-bit RGB). ``tests/test_golden.py`` decodes every
stream and compares bit-exactly. Rerun this script only when a checkpoint or the format changes on
purpose, and say so in the commit.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from lic.registry import get_codec
from lic.data import evaluation_set

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"
CODECS = ("jpeg-scratch", "jpeg-scratch-ac", "conv-ae", "balle2017", "modulated", "dumas2018", "ashok2019", "minnen2018",
          "wen2019")
IMAGE, TOP, LEFT, HEIGHT, WIDTH = "kodim23", 200, 300, 45, 70


def crop() -> torch.Tensor:
    """The golden crop of the evaluation image."""
    image = dict(evaluation_set())[IMAGE]
    return image[:, TOP:TOP + HEIGHT, LEFT:LEFT + WIDTH].contiguous()


def pixels_sha256(image: torch.Tensor) -> str:
    """sha256 of a decoded image as 8-bit RGB (what a PNG of it would hold)."""
    values = torch.round(image.clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).contiguous()
    return hashlib.sha256(values.numpy().tobytes()).hexdigest()


def main() -> None:
    torch.set_num_threads(1)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for old in GOLDEN.glob("*.bin"):
        old.unlink()
    image, manifest = crop(), {}
    for name in CODECS:
        codec = get_codec(name)
        for quality in codec.qualities:
            data = codec.compress(image, quality)
            path = GOLDEN / f"{name}-q{quality}.bin"
            path.write_bytes(data)
            manifest[path.name] = {"codec": name, "quality": quality,
                                   "stream_sha256": hashlib.sha256(data).hexdigest(),
                                   "pixels_sha256": pixels_sha256(codec.decompress(data))}
    source = {"image": IMAGE, "top": TOP, "left": LEFT, "height": HEIGHT, "width": WIDTH}
    (GOLDEN / "manifest.json").write_text(json.dumps({"crop": source, "streams": manifest}, indent=1) + "\n")
    print(f"{len(manifest)} golden streams in {GOLDEN}")


if __name__ == "__main__":
    main()
