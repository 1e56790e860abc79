"""Command line: ``python -m lic codecs | compress | decompress | truncate | eval | train``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .codec import BitstreamError


def _codecs(args: argparse.Namespace) -> None:
    from .registry import available, describe

    if args.json:
        print(json.dumps(describe(), indent=1))
        return
    rows = describe() if args.verbose else [{"name": n, "description": d} for n, d in available().items()]
    for row in rows:
        print(f"{row['name']:<18} {row['description']}")
        if args.verbose:
            print(f"{'':<18} qualities {row['qualities']} (accepts {row['quality_range'][0]}-{row['quality_range'][1]})")


def _compress(args: argparse.Namespace) -> None:
    from .data import load_image
    from .registry import get_codec
    from .metrics import bpp

    codec = get_codec(args.codec)
    image = load_image(args.input)
    data = codec.compress(image, codec.check_quality(args.quality))
    Path(args.output).write_bytes(data)
    h, w = image.shape[-2:]
    print(f"{args.output}: {len(data)} bytes, {bpp(data, h, w):.4f} bpp ({args.codec}, quality {args.quality})")


def _decompress(args: argparse.Namespace) -> None:
    from .codec import sniff
    from .data import save_image
    from .registry import decode_any

    data = Path(args.input).read_bytes()
    image = decode_any(data)
    save_image(image, args.output)
    print(f"{args.output}: {image.shape[2]}x{image.shape[1]} decoded with {sniff(data)}")


def _truncate(args: argparse.Namespace) -> None:
    from .progressive_codec import ProgressiveCodec

    data = Path(args.input).read_bytes()
    prefix = ProgressiveCodec.truncate(data, args.rounds)
    Path(args.output).write_bytes(prefix)
    print(f"{args.output}: the first {args.rounds} round(s), {len(prefix)} of {len(data)} bytes")


def _eval(args: argparse.Namespace) -> None:
    from .evaluate import evaluate, images_from_folder, mean_curve, save_json

    points = evaluate(args.codec, args.quality, images_from_folder(args.images), progress=not args.quiet)
    print(f"{'quality':>8} {'bpp':>8} {'PSNR':>8} {'MS-SSIM':>8} {'enc s':>7} {'dec s':>7}")
    for row in mean_curve(points):
        print(f"{row['quality']:>8} {row['bpp']:>8.4f} {row['psnr']:>8.3f} {row['ms_ssim']:>8.5f} "
              f"{row['encode_s']:>7.3f} {row['decode_s']:>7.3f}")
    if args.json:
        save_json(points, args.json)
        print(f"wrote {args.json}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("codecs", help="list the registered codecs")
    p.add_argument("-v", "--verbose", action="store_true", help="also show each codec's default qualities")
    p.add_argument("--json", action="store_true", help="name, description and qualities of each codec as JSON")
    p.set_defaults(func=_codecs)

    p = sub.add_parser("compress", help="compress an image file")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--codec", required=True)
    p.add_argument("--quality", type=int, required=True)
    p.set_defaults(func=_compress)

    p = sub.add_parser("decompress", help="decompress a file written by `compress` (format read from the bytes)")
    p.add_argument("input")
    p.add_argument("output", help="decoded image, e.g. REC.png")
    p.set_defaults(func=_decompress)

    p = sub.add_parser("truncate", help="cut a progressive stream (e.g. ashok2019) after its first rounds")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--rounds", type=int, required=True, help="how many rounds of codewords to keep (>= 1)")
    p.set_defaults(func=_truncate)

    p = sub.add_parser("eval", help="rate-distortion points of a codec over a folder of images")
    p.add_argument("--codec", required=True)
    p.add_argument("--quality", type=int, nargs="+", required=True)
    p.add_argument("--images", required=True, help="folder of images, e.g. data/eval")
    p.add_argument("--json", help="write per-image and mean results here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval)

    p = sub.add_parser("train", help="train a model from a TOML config under configs/")
    from .train.cli import add_train_arguments, run_train

    add_train_arguments(p)
    p.set_defaults(func=run_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; errors in the input become one readable line and exit status 1 or 2."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except BitstreamError as err:
        where = getattr(args, "input", None)
        print(f"error: {where}: {err}" if where else f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
