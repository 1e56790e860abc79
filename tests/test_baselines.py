"""Tests of lic.baselines: the classical codecs round-trip, rank their rates, and reject bad bytes."""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from lic import baselines
from lic.codec import REGISTERED, BitstreamError, sniff
from lic.data import load_image, to_grey, to_uint8
from lic.metrics import bpp, psnr

CODECS = [baselines.JPEG(), baselines.JPEG2000(), baselines.WebP(), baselines.AVIF(), baselines.HEVC()]
IDS = [c.name for c in CODECS]


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A real photo: Grace Hopper as shipped with matplotlib (512x600 JPEG), downscaled by 2."""
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    image = load_image(path)
    return torch.nn.functional.avg_pool2d(image[None], 2)[0]  # 256x300, JPEG blocks averaged away


@pytest.fixture(scope="module")
def crop(photo: torch.Tensor) -> torch.Tensor:
    """A 128x96 (width x height) crop: face, eyes, collar. Big enough that headers don't dominate."""
    return photo[:, 40:136, 70:198].contiguous()


def test_registered() -> None:
    for codec in CODECS:
        assert REGISTERED[codec.name].factory is type(codec)


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_round_trip(codec: baselines.PillowCodec, crop: torch.Tensor) -> None:
    data = codec.compress(crop, codec.qualities[-1])
    assert sniff(data) == codec.name
    out = codec.decompress(data)
    assert out.shape == crop.shape and out.dtype == torch.float32
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert psnr(crop, out) > 30.0


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_rate_grows_with_quality(codec: baselines.PillowCodec, crop: torch.Tensor) -> None:
    qs = codec.qualities
    assert list(qs) == sorted(qs)
    rates = [bpp(codec.compress(crop, q), *crop.shape[1:]) for q in (qs[0], qs[len(qs) // 2], qs[-1])]
    assert rates[0] < rates[1] < rates[2]


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
@pytest.mark.parametrize("height, width", [(23, 37), (1, 1), (3, 1)])
def test_odd_sizes(codec: baselines.PillowCodec, photo: torch.Tensor, height: int, width: int) -> None:
    image = photo[:, 100 : 100 + height, 100 : 100 + width].contiguous()
    out = codec.decompress(codec.compress(image, codec.qualities[-1]))
    assert out.shape == image.shape


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_quality_is_checked(codec: baselines.PillowCodec, crop: torch.Tensor) -> None:
    low, high = codec.quality_range()
    with pytest.raises(ValueError, match="quality"):
        codec.compress(crop, high + 1)
    with pytest.raises(ValueError, match="quality"):
        codec.compress(crop, low - 1)


@pytest.mark.parametrize("codec", CODECS, ids=IDS)
def test_truncated_and_garbage_bytes_raise(
    codec: baselines.PillowCodec, crop: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = codec.compress(crop, codec.qualities[len(codec.qualities) // 2])
    # Pillow would fill a cut-off JPEG/JPEG 2000/HEIF with grey if this flag were set: we must not
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    for cut in (1, 2, 10, len(data) // 2, len(data) - 20):
        with pytest.raises(BitstreamError):
            codec.decompress(data[: len(data) - cut])
    broken_magic = bytes([data[0] ^ 0xFF]) + data[1:]
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    garbage = np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes()
    for bad in (b"", broken_magic, png.getvalue(), garbage, data + b"\0" * 7):
        with pytest.raises(BitstreamError):
            codec.decompress(bad)


def test_codecs_refuse_each_others_files(crop: torch.Tensor) -> None:
    files = {codec.name: codec.compress(crop, codec.qualities[0]) for codec in CODECS}
    for codec in CODECS:
        for name, data in files.items():
            if name != codec.name:
                with pytest.raises(BitstreamError):
                    codec.decompress(data)


def test_jpeg2000_quality_is_bpp_times_100(photo: torch.Tensor) -> None:
    codec = baselines.JPEG2000()
    for quality in (25, 100):
        rate = bpp(codec.compress(photo, quality), *photo.shape[1:])
        assert rate == pytest.approx(quality / 100, rel=0.05)


def test_jpeg2000_colour_transform_helps(photo: torch.Tensor) -> None:
    """mct=1 (RGB -> YCbCr before the wavelet) beats Pillow's default mct=0 at the same rate."""
    codec = baselines.JPEG2000()
    with_mct = codec.decompress(codec.compress(photo, 100))
    buffer = io.BytesIO()
    options = dict(codec.save_options(100), mct=0)
    Image.fromarray(to_uint8(photo)).save(buffer, "JPEG2000", **options)
    without_mct = codec.decompress(buffer.getvalue())
    assert len(buffer.getvalue()) == pytest.approx(len(codec.compress(photo, 100)), rel=0.02)
    assert psnr(photo, with_mct) > psnr(photo, without_mct) + 1.0


# ------------------------------------------------------------------------- greyscale (Chapter 4)
GREY = [baselines.JPEGGrey(), baselines.JPEG2000Grey(), baselines.HEVCGrey()]


@pytest.mark.parametrize("codec", GREY, ids=[c.name for c in GREY])
def test_grey_codecs_code_the_luminance(codec: baselines.PillowCodec, crop: torch.Tensor) -> None:
    """A grey codec writes a standard one-component file of the image's luma and decodes it grey."""
    grey = to_grey(crop)
    data = codec.compress(crop, codec.qualities[-1])
    assert sniff(data) == codec.name.removesuffix("-grey")  # an ordinary file of the format
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "L"
    out = codec.decompress(data)
    assert out.shape == crop.shape
    assert torch.equal(out[0], out[1]) and torch.equal(out[0], out[2])
    assert psnr(grey, out) > 35.0
    with pytest.raises(BitstreamError):
        codec.decompress(data[: len(data) // 2])


def test_grey_jpeg2000_quality_is_bpp_times_100(photo: torch.Tensor) -> None:
    codec = baselines.JPEG2000Grey()
    for quality in (25, 100):
        rate = bpp(codec.compress(photo, quality), *photo.shape[1:])
        assert rate == pytest.approx(quality / 100, rel=0.05)


def test_jpeg_scan_bytes_is_the_file_without_headers_and_tables(crop: torch.Tensor) -> None:
    for codec in (baselines.JPEG(), baselines.JPEGGrey()):
        data = codec.compress(crop, 50)
        scan = baselines.jpeg_scan_bytes(data)
        assert 0 < scan < len(data) - 300  # tables and headers are a few hundred bytes
        sos = data.index(b"\xff\xda")
        assert scan == len(data) - sos - 2 - int.from_bytes(data[sos + 2 : sos + 4], "big") - 2
    with pytest.raises(BitstreamError):
        baselines.jpeg_scan_bytes(b"\xff\xd8\xff\xd9")
