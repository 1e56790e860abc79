"""Chapter 6's targets, measured: Ashok & Palani's recurrent attention codec on MNIST and on photos.

    .venv/bin/python benchmarks/recurrent_attention.py [--digits 200] [--threads 2] [--json out.json]

Prints (and optionally writes):
- MNIST (the first test digits): mean PSNR and bpp after 1, 2, ... codewords (each stream cut after
  that round), next to greyscale JPEG, counting whole files and counting only the entropy-coded data
  (JPEG's scan; our rounds), and the bpp range where our PSNR is above JPEG's;
- whether PSNR ever falls when a round is added, on every digit and every evaluation photo;
- photos: BD-rate (PSNR) of ``ashok2019`` against JPEG, and Chapter 3's ``balle2017`` PSNR at the
  same rates;
- the largest gap between the payload and the entropy estimate;
- encode and decode seconds per digit and per photo, and whether 1 and 2 threads decode the same
  pixels; the CPU-hours of the checkpoints.
Targets (Chapter 6 issue): better PSNR than JPEG on MNIST over a stated low-rate range; PSNR never
decreases with codewords; gap <= 1 %; <= 3 CPU-hours.
"""
from __future__ import annotations

import statistics

import torch

from lic.baselines import jpeg_scan_bytes
from lic.checkpoints import read_provenance, training_cost, weights_dir
from lic.codec import unpack_progressive
from lic.compare import bd, quality_at_rate
from lic.data import evaluation_set, pad_to_multiple
from lic.data.mnist import mnist_evaluation_set
from lic.evaluate import evaluate, mean_curve
from lic.metrics import psnr
from lic.models.ashok2019 import tile
from lic.progressive_codec import ProgressiveCodec
from lic.registry import get_codec

from _shared import arguments, report, timing

JPEG_QUALITIES = (1, 2, 3, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90)


def progressive_curve(codec: ProgressiveCodec, images: list, quality: int = 99) -> tuple[list[dict], bool]:
    """Mean bpp (file and rounds only) and PSNR after each round, over every image (a stream that
    ended earlier counts with all it has, as in Chapter 6); and whether PSNR ever fell."""
    streams: list[list[tuple[float, float, float]]] = []
    monotone = True
    for _, image in images:
        data = codec.compress(image, quality)
        _, _, rounds = unpack_progressive(data)
        pixels = image.shape[1] * image.shape[2]
        previous, points = -1.0, []
        for r in range(1, len(rounds) + 1):
            prefix = ProgressiveCodec.truncate(data, r)
            quality_r = psnr(image, codec.decompress(prefix))
            monotone &= quality_r >= previous - 1e-9
            previous = quality_r
            payload = sum(len(c) for c in rounds[:r])
            points.append((8 * len(prefix) / pixels, 8 * payload / pixels, quality_r))
        streams.append(points)
    curve = []
    for r in range(1, max(len(p) for p in streams) + 1):
        vals = [p[min(r, len(p)) - 1] for p in streams]
        curve.append({"codewords": r, "bpp": statistics.mean(v[0] for v in vals),
                      "payload_bpp": statistics.mean(v[1] for v in vals), "psnr": statistics.mean(v[2] for v in vals)})
    return curve, monotone


def jpeg_curve(images: list) -> list[dict]:
    """Greyscale JPEG: mean file bpp, scan-only bpp and PSNR per quality."""
    codec, rows = get_codec("jpeg-grey"), []
    for q in JPEG_QUALITIES:
        vals = []
        for _, image in images:
            data = codec.compress(image, q)
            pixels = image.shape[1] * image.shape[2]
            vals.append((8 * len(data) / pixels, 8 * jpeg_scan_bytes(data) / pixels, psnr(image, codec.decompress(data))))
        rows.append({"quality": q, "bpp": statistics.mean(v[0] for v in vals),
                     "payload_bpp": statistics.mean(v[1] for v in vals), "psnr": statistics.mean(v[2] for v in vals)})
    return rows


def advantage(ours: list[dict], jpeg: list[dict], key: str) -> list[dict]:
    """At each of our rates (by ``key``), our PSNR minus JPEG's interpolated PSNR (None outside JPEG's range)."""
    anchor = [{"bpp": r[key], "psnr": r["psnr"]} for r in jpeg]
    return [{"bpp": r[key], "gain_db": None if (q := quality_at_rate(anchor, r[key])) is None else r["psnr"] - q}
            for r in ours]


def estimate_gap(codec: ProgressiveCodec, images: list) -> float:
    """Largest |round bits / estimated bits - 1| over images (every codeword the encoder sends), in per cent."""
    model, worst = codec.model(), 0.0
    for _, image in images:
        tiles = tile(pad_to_multiple(image, model.size)[None], model.size)
        with torch.inference_mode():
            counts, rounds = model.compress_tiles(tiles)
        real = 8 * sum(len(r) for r in rounds)
        worst = max(worst, abs(real / sum(model.estimated_bits(counts, rounds)) - 1))
    return 100 * worst


def main() -> None:
    args = arguments(__doc__, {"--digits": {"type": int, "default": 200}})
    digits = mnist_evaluation_set(args.digits)
    photos = evaluation_set()
    mnist_codec = ProgressiveCodec("ashok2019-mnist", name="ashok2019-mnist")
    photo_codec = get_codec("ashok2019")
    ours, digits_monotone = progressive_curve(mnist_codec, digits)
    jpeg = jpeg_curve(digits)
    photo_progressive, photos_monotone = progressive_curve(photo_codec, photos)
    curves = {c: mean_curve(evaluate(c, q, photos)) for c, q in (("jpeg", (1, 2, 3, 5, 10, 20, 30, 50)),
                                                                 ("ashok2019", None), ("balle2017", None))}
    results = {
        "mnist": {"ours": ours, "jpeg_grey": jpeg, "gain_over_jpeg_files": advantage(ours, jpeg, "bpp"),
                  "gain_over_jpeg_payloads": advantage(ours, jpeg, "payload_bpp")},
        "psnr_never_falls": {"digits": digits_monotone, "photos": photos_monotone},
        "photos": {"progressive": photo_progressive, "bd_rate_vs_jpeg": bd(curves["jpeg"], curves["ashok2019"]),
                   "balle2017_at_our_rates": [{"bpp": r["bpp"], "ours": r["psnr"],
                                               "balle2017": quality_at_rate(curves["balle2017"], r["bpp"])}
                                              for r in curves["ashok2019"]]},
        "estimate_gap_percent": {"mnist": estimate_gap(mnist_codec, digits[:50]), "photos": estimate_gap(photo_codec, photos)},
        "timing": {"digit": timing(mnist_codec, digits[0][1], 99),
                   "photo_768x512": timing(photo_codec, dict(photos)["kodim23"], photo_codec.qualities[2])},
        "training_cpu_hours": {s: training_cost(read_provenance(weights_dir() / s))["cpu_hours"]
                               for s in ("ashok2019-mnist", "ashok2019")},
        "curves": curves,
    }
    report(results, args.json)


if __name__ == "__main__":
    main()
