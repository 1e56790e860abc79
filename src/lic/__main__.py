"""Command line: ``python -m lic codecs | compress | decompress | truncate | eval | train``.

Exit status: 0 on success, 1 for a bad argument, input image or output path, 2 for a stream that
cannot be decoded (corrupt, truncated, of an unknown format, or larger than ``--max-pixels``).
Every error is one line on stderr. Nothing the user had is lost: an output path that is an input
is refused before any work, and output files are written to a temporary name in the same folder
and renamed only when complete, so a failed or interrupted run leaves no half-written file.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from . import codec as container
from .codec import BitstreamError


def _check_output(output: str, *inputs: str) -> Path:
    """``output`` as a Path, after checking that writing it cannot destroy an input or fail late."""
    path = Path(output)
    if path.is_dir():
        raise ValueError(f"{output} is a folder; give a file name")
    for source in map(Path, inputs):
        if path.resolve() == source.resolve() or path.exists() and source.exists() and os.path.samefile(path, source):
            raise ValueError(f"{output} is the input file; choose another output name")
    if not path.parent.is_dir():
        raise ValueError(f"cannot write {output}: no folder {path.parent}")
    return path


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _image_format(path: Path) -> str:
    """Pillow's format name for an output image path, from its suffix."""
    from PIL import Image

    known = Image.registered_extensions()
    if path.suffix.lower() not in known:
        raise ValueError(f"{path}: unknown image file type {path.suffix!r}; use .png for a lossless image")
    return known[path.suffix.lower()]


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


def _codec_with_effort(name: str, effort: int):
    """Codec ``name``; with ``effort`` N > 0, its encoder refines the latents for N steps per image."""
    from .registry import get_codec

    codec = get_codec(name)
    if effort == 0:
        return codec
    from .latent_refinement import RefinedEncoder
    from .learned_codec import LearnedCodec

    if effort < 0 or not isinstance(codec, LearnedCodec):
        raise ValueError(f"--effort must be >= 0 and is for the learned codecs of Chapters 3-5, "
                         f"got {effort} for {name}")
    return RefinedEncoder(codec, effort)


def _compress(args: argparse.Namespace) -> None:
    from .data import load_image
    from .metrics import bpp

    codec = _codec_with_effort(args.codec, args.effort)
    quality = None if args.quality is None else codec.check_quality(args.quality)
    output = _check_output(args.output, args.input)
    image = load_image(args.input)
    if quality is None:
        from .rate_target import compress_to_rate

        quality, data = compress_to_rate(codec, image, args.target_bpp)
    else:
        data = codec.compress(image, quality)
    _write_atomically(output, data)
    h, w = image.shape[-2:]
    effort = f", effort {args.effort}" if args.effort else ""
    target = f", the highest within {args.target_bpp:g} bpp" if args.target_bpp else ""
    print(f"{args.output}: {len(data)} bytes, {bpp(data, h, w):.4f} bpp ({args.codec}, quality {quality}{target}{effort})")


def _decompress(args: argparse.Namespace) -> None:
    from PIL import Image

    from .data import to_uint8
    from .registry import decoder_name, get_codec

    output = _check_output(args.output, args.input)
    pil_format = _image_format(output)
    data = Path(args.input).read_bytes()
    decoder = args.codec or decoder_name(data)
    codec = get_codec(decoder)
    image = codec.decompress(data)
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, pil_format)
    _write_atomically(output, buffer.getvalue())
    print(f"{args.output}: {image.shape[2]}x{image.shape[1]} decoded with {decoder}"
          + ("" if args.codec else " (chosen from the file's first bytes; --codec chooses another)"))
    held, written = codec.rounds(data) if hasattr(codec, "rounds") else (0, 0)
    if held < written:   # a progressive stream cut short: say so, the image is the coarser one
        print(f"note: the stream holds {held} of the {written} rounds its encoder wrote (cut short between "
              f"rounds): this is the coarser image that {held} round(s) give")


def _truncate(args: argparse.Namespace) -> None:
    from .progressive_codec import ProgressiveCodec

    output = _check_output(args.output, args.input)
    data = Path(args.input).read_bytes()
    prefix = ProgressiveCodec.truncate(data, args.rounds)
    _write_atomically(output, prefix)
    print(f"{args.output}: the first {args.rounds} round(s), {len(prefix)} of {len(data)} bytes")


def _eval(args: argparse.Namespace) -> None:
    from .evaluate import evaluate, images_from_folder, mean_curve, save_json

    codec = _codec_with_effort(args.codec, args.effort)
    if args.target_bpp:
        _eval_at_rates(codec, args)
        return
    points = evaluate(codec, args.quality, images_from_folder(args.images), progress=not args.quiet)
    print(f"{'quality':>8} {'bpp':>8} {'PSNR':>8} {'MS-SSIM':>8} {'enc s':>7} {'dec s':>7}")
    for row in mean_curve(points):
        print(f"{row['quality']:>8} {row['bpp']:>8.4f} {row['psnr']:>8.3f} {row['ms_ssim']:>8.5f} "
              f"{row['encode_s']:>7.3f} {row['decode_s']:>7.3f}")
    if args.json:
        save_json(points, args.json)
        print(f"wrote {args.json}")


def _eval_at_rates(codec, args: argparse.Namespace) -> None:  # noqa: ANN001
    from dataclasses import asdict

    import numpy as np

    from .evaluate import images_from_folder
    from .rate_target import evaluate_at_rates

    points = evaluate_at_rates(codec, args.target_bpp, images_from_folder(args.images))
    print(f"{'target':>8} {'bpp':>8} {'PSNR':>8} {'MS-SSIM':>8} {'search s':>9}  qualities")
    for target in args.target_bpp:
        rows = [p for p in points if p.target_bpp == target]
        mean = {k: float(np.mean([getattr(p, k) for p in rows])) for k in ("bpp", "psnr", "ms_ssim", "search_s")}
        print(f"{target:>8g} {mean['bpp']:>8.4f} {mean['psnr']:>8.3f} {mean['ms_ssim']:>8.5f} {mean['search_s']:>9.2f}  "
              f"{sorted({p.quality for p in rows})}")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(p) for p in points], indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


EFFORT_HELP = ("learned codecs: refine each image's latents for this many gradient steps before coding "
               "(0, the default: the plain encoder; each step costs a forward and backward pass of the model); "
               "any decoder reads the result")


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
    level = p.add_mutually_exclusive_group(required=True)
    level.add_argument("--quality", type=int)
    level.add_argument("--target-bpp", type=float, help="the highest quality whose stream has at most this many "
                                                         "bits per pixel of this image")
    p.add_argument("--effort", type=int, default=0, help=EFFORT_HELP)
    p.set_defaults(func=_compress)

    p = sub.add_parser("decompress", help="decompress a file written by `compress` (format read from the bytes)")
    p.add_argument("input")
    p.add_argument("output", help="decoded image, e.g. REC.png")
    p.add_argument("--codec", help="decode with this codec instead of the one the first bytes name (e.g. "
                                   "jpeg-scratch, the book's own JPEG decoder, for a JPEG file)")
    p.add_argument("--max-pixels", type=int, default=container.MAX_PIXELS,
                   help=f"refuse streams of larger images (default {container.MAX_PIXELS}, or LIC_MAX_PIXELS)")
    p.set_defaults(func=_decompress)

    p = sub.add_parser("truncate", help="cut a progressive stream (e.g. ashok2019) after its first rounds")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--rounds", type=int, required=True, help="how many rounds of codewords to keep (>= 1)")
    p.set_defaults(func=_truncate)

    p = sub.add_parser("eval", help="rate-distortion points of a codec over a folder of images")
    p.add_argument("--codec", required=True)
    level = p.add_mutually_exclusive_group()
    level.add_argument("--quality", type=int, nargs="+", help="default: the codec's own qualities (lic codecs -v)")
    level.add_argument("--target-bpp", type=float, nargs="+",
                       help="instead of qualities: per image, the highest quality within each of these rates")
    p.add_argument("--images", required=True, help="folder of images, e.g. data/validation")
    p.add_argument("--effort", type=int, default=0, help=EFFORT_HELP)
    p.add_argument("--json", help="write per-image and mean results here")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval)

    p = sub.add_parser("train", help="train a model from a TOML config under configs/")
    from .train.cli import add_train_arguments, run_train

    add_train_arguments(p)
    p.set_defaults(func=run_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; every error becomes one readable line and exit status 1 or 2."""
    args = build_parser().parse_args(argv)
    where = getattr(args, "input", None)
    decoding = args.command in ("decompress", "truncate")
    limit = container.MAX_PIXELS
    container.MAX_PIXELS = getattr(args, "max_pixels", limit)
    try:
        args.func(args)
    except BitstreamError as err:
        print(f"error: {where}: {err}" if where else f"error: {err}", file=sys.stderr)
        return 2
    except MemoryError:
        what = "decoding this stream" if decoding else "this command"
        print(f"error: {where or ''}: not enough memory for {what}", file=sys.stderr)
        return 2 if decoding else 1
    except KeyError as err:   # an unknown codec name: KeyError's text is the quoted message
        print(f"error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 1
    except (ValueError, OSError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        container.MAX_PIXELS = limit
    return 0


if __name__ == "__main__":
    sys.exit(main())
