"""Classical codecs as baselines: JPEG, JPEG 2000, WebP, AVIF and HEVC intra (HEIF), all via Pillow.

Each codec writes its standard file format, so :func:`lic.codec.sniff` recognises the bytes and any
viewer opens them, and the rate counts **the whole file**: headers, colour boxes and container
included (at 768x512, a 500-byte header costs 0.01 bpp; on a 64x48 crop it costs 1.3 bpp).

Decoding never returns a silently damaged image for a cut-off file: before Pillow sees the bytes we
check that the file is complete (JPEG ends with its EOI marker, a WebP file is as long as its RIFF
header says, the boxes of JPEG 2000/AVIF/HEIF files add up to the file length). Pillow alone
decodes cut-off JPEG, JPEG 2000 and HEIF files without complaint once
``ImageFile.LOAD_TRUNCATED_IMAGES`` is set anywhere in the process. Flipped bits inside the entropy-coded data cannot always be detected:
these formats carry no checksum, and AVIF or JPEG 2000 may decode such data to a wrong image.

``quality`` follows each library's own scale (larger = more bits), except JPEG 2000, whose
encoder takes a compression ratio: there ``quality`` is the target rate in bpp times 100.
"""
from __future__ import annotations

import functools
import io
import struct
from abc import abstractmethod
from typing import Any

import numpy as np
import torch
from PIL import Image, features

from .codec import BitstreamError, Codec, check_image_size, register
from .data import from_uint8, to_uint8


class PillowCodec(Codec):
    """A codec that writes one of Pillow's image formats (``pil_format``) with chosen save options."""

    pil_format: str = ""
    quality_bounds: tuple[int, int] = (0, 100)  # the qualities the library accepts
    grey: bool = False  # code the luminance only (Pillow's "L" mode); decoding gives a grey image

    def quality_range(self) -> tuple[int, int]:
        return self.quality_bounds

    @abstractmethod
    def save_options(self, quality: int) -> dict[str, Any]:
        """Keyword arguments for ``PIL.Image.save`` at this quality."""

    @abstractmethod
    def check_complete(self, data: bytes) -> None:
        """Raise :class:`BitstreamError` unless ``data`` looks like a whole file of this format."""

    def require(self) -> None:
        """Raise ``RuntimeError`` if this Pillow cannot read and write the format."""

    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        """Encode the image as a complete file of this format."""
        quality = self.check_quality(quality)
        pixels = to_uint8(image)  # also checks the image
        if self.grey:
            pixels = np.asarray(Image.fromarray(pixels).convert("L"))
        self.require()
        buffer = io.BytesIO()
        try:
            Image.fromarray(pixels).save(buffer, self.pil_format, **self.save_options(quality))
        except (OSError, ValueError, RuntimeError) as err:   # pillow-heif reports x265 failures as RuntimeError
            height, width = pixels.shape[:2]
            raise ValueError(f"{self.name}: cannot encode a {height}x{width} image: {err}") from err
        return buffer.getvalue()

    def decompress(self, data: bytes) -> torch.Tensor:
        """Decode a complete file of this format into a ``[3, H, W]`` image."""
        data = bytes(data)
        self.require()
        self.check_complete(data)
        try:
            with Image.open(io.BytesIO(data), formats=[self.pil_format]) as img:
                check_image_size(img.height, img.width)   # read from the header; nothing decoded yet
                rgb = np.asarray(img.convert("RGB"))
        except BitstreamError:
            raise
        except Exception as err:  # Pillow and its plugins raise OSError, SyntaxError, ValueError, ...
            raise BitstreamError(
                f"{self.name}: cannot decode {len(data)} bytes as {self.pil_format}: {err}"
            ) from err
        return from_uint8(rgb)


def _check_boxes(data: bytes, codec: str, first_box: bytes) -> None:
    """Check that the top-level boxes of an ISO-BMFF/JP2 file (AVIF, HEIF, JP2) tile it exactly.

    Each box starts with a 32-bit big-endian size (1: a 64-bit size follows the type; 0: the box
    runs to the end of the file) and a 4-character type (ISO/IEC 14496-12, section 4.2); the
    first box has type ``first_box``.
    """
    if data[4:8] != first_box:
        raise BitstreamError(f"{codec}: not a {codec} file (first box is not {first_box!r})")
    pos = 0
    while pos < len(data):
        if len(data) - pos < 8:
            raise BitstreamError(f"{codec}: truncated file: {len(data) - pos} stray bytes after the last box")
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if size == 1:
            if len(data) - pos < 16:
                raise BitstreamError(f"{codec}: truncated file inside the header of box {kind!r}")
            size, header = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            return
        if size < header:
            raise BitstreamError(f"{codec}: corrupt file: box {kind!r} claims {size} bytes")
        if pos + size > len(data):
            raise BitstreamError(
                f"{codec}: truncated file: box {kind!r} needs {size} bytes, only {len(data) - pos} left"
            )
        pos += size


@register("jpeg", "JPEG (libjpeg-turbo via Pillow), 4:2:0, quality 1-100: the book's anchor")
class JPEG(PillowCodec):
    """Baseline JPEG (ITU-T T.81) as Pillow writes it: libjpeg-turbo, 4:2:0 chroma, standard tables.

    ``quality`` is libjpeg's quality factor 1-100 (it scales the example quantisation tables of
    T.81 Annex K); no Huffman optimisation, no progressive mode, as most software writes JPEG.
    """

    name = "jpeg"
    pil_format = "JPEG"
    qualities = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90)  # the default sweep
    quality_bounds = (1, 100)

    def save_options(self, quality: int) -> dict[str, Any]:
        return {"quality": quality, "subsampling": "4:2:0", "optimize": False}

    def check_complete(self, data: bytes) -> None:
        if data[:3] != b"\xff\xd8\xff":
            raise BitstreamError("jpeg: not a JPEG file (no SOI marker)")
        if data[-2:] != b"\xff\xd9":
            raise BitstreamError("jpeg: truncated file (does not end with the EOI marker FFD9)")


def jpeg_scan_bytes(data: bytes) -> int:
    """The size of a baseline JPEG file's entropy-coded data: the bytes after the SOS header and
    before EOI. On a tiny image (a 28×28 digit) the headers, quantization and Huffman tables are
    most of the file; this is what is left without them (Chapter 6 compares both)."""
    JPEG().check_complete(data)
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise BitstreamError(f"jpeg: no marker at byte {pos}")
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker == 0xDA:  # start of scan: the entropy-coded data follows its header
            return len(data) - (pos + 2 + length) - 2
        pos += 2 + length
    raise BitstreamError("jpeg: no start-of-scan marker")


@register("jpeg2000", "JPEG 2000 (OpenJPEG via Pillow), 9/7 wavelet + colour transform; quality = bpp x 100")
class JPEG2000(PillowCodec):
    """JPEG 2000 (ITU-T T.800) in a JP2 file, written by OpenJPEG through Pillow.

    Irreversible 9/7 wavelet, one quality layer, and the irreversible colour transform (``mct=1``,
    RGB to YCbCr). Pillow's default is ``mct=0``, which codes R, G and B separately and loses about
    2.7 dB of RGB PSNR at 1 bpp on photos. OpenJPEG's rate control takes a compression ratio
    relative to 24 bpp, so ``quality`` q asks for ``q / 100`` bpp (ratio ``2400 / q``); the sweep
    spans 0.1-2 bpp and every image lands within a few bytes of its target (grey: relative to 8 bpp).
    """

    name = "jpeg2000"
    pil_format = "JPEG2000"
    qualities = (10, 15, 25, 40, 60, 80, 100, 150, 200)  # the default sweep
    quality_bounds = (1, 2400)

    def save_options(self, quality: int) -> dict[str, Any]:
        return {
            "quality_mode": "rates",
            "quality_layers": [(800 if self.grey else 2400) / quality],  # ratio to 8 bits per sample
            "irreversible": True,
            "mct": 1,
        }

    def check_complete(self, data: bytes) -> None:
        if data[:4] != b"\xff\x4f\xff\x51":  # not a raw codestream: a JP2 file
            _check_boxes(data, "jpeg2000", b"jP  ")
        elif data[-2:] != b"\xff\xd9":  # a raw codestream ends with the EOC marker
            raise BitstreamError("jpeg2000: truncated codestream (does not end with the EOC marker FFD9)")


@register("webp", "WebP (libwebp via Pillow), lossy VP8 intra, method 6, quality 0-100")
class WebP(PillowCodec):
    """Lossy WebP: a VP8 key frame in a RIFF container, written by libwebp through Pillow.

    ``method=6`` is libwebp's slowest, best-compressing effort; 4:2:0 chroma is fixed by VP8.
    Sides are limited to 16383 px by the format.
    """

    name = "webp"
    pil_format = "WEBP"
    qualities = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90)  # the default sweep
    quality_bounds = (0, 100)

    def save_options(self, quality: int) -> dict[str, Any]:
        return {"quality": quality, "method": 6, "lossless": False}

    def check_complete(self, data: bytes) -> None:
        if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
            raise BitstreamError("webp: not a WebP file (no RIFF/WEBP header)")
        riff_size = struct.unpack("<I", data[4:8])[0] + 8
        if riff_size != len(data):
            raise BitstreamError(
                f"webp: truncated or padded file: RIFF header says {riff_size} bytes, got {len(data)}"
            )


@register("avif", "AVIF (libavif/aom via Pillow >= 11.3), AV1 intra, 4:2:0, quality 0-100")
class AVIF(PillowCodec):
    """AVIF: an AV1 intra frame in a HEIF (ISO-BMFF) container, written by libavif through Pillow.

    Pillow's defaults otherwise: 4:2:0 chroma, encoder speed 6 (of 0-10).
    Needs a Pillow built with AVIF support (wheels from 11.3 on); without it, use raises ``RuntimeError``.
    """

    name = "avif"
    pil_format = "AVIF"
    qualities = (0, 10, 20, 30, 40, 50, 60, 70, 80, 90)  # the default sweep
    quality_bounds = (0, 100)

    def require(self) -> None:
        if not features.check("avif"):
            raise RuntimeError(
                "avif: this Pillow has no AVIF support; install Pillow >= 11.3 (pip install -U pillow)"
            )

    def save_options(self, quality: int) -> dict[str, Any]:
        return {"quality": quality}

    def check_complete(self, data: bytes) -> None:
        _check_boxes(data, "avif", b"ftyp")


@functools.cache
def _register_heif() -> None:
    """Teach Pillow to read and write HEIF (idempotent)."""
    import pillow_heif

    pillow_heif.register_heif_opener()


@register("hevc", "HEVC intra (x265 via pillow-heif, the codec inside BPG), 4:4:4, quality 0-100")
class HEVC(PillowCodec):
    """HEVC intra coding (the codec of BPG) in a HEIF file, encoded by x265 through libheif/pillow-heif.

    BPG (Bellard) itself is not packaged; HEIF holds the same kind of HEVC intra bitstream, with
    about 380 bytes of boxes and parameter sets (VPS/SPS/PPS) around it, counted in the rate.
    libheif maps ``quality`` q to x265's constant rate factor ``crf = (100 - q) / 2`` and already
    drops x265's settings SEI (``info=0``; see libheif's ``encoder_x265.cc``). Chroma is 4:4:4 (BPG's
    ``-f 444``, the setting most learned-compression papers report); libheif's other x265 defaults
    stay: preset ``slow``, tune ``ssim`` (bpgenc tunes for SSIM too), full-range BT.601 YCbCr.
    ``tune=psnr`` would save another 5-8 % BD-rate in RGB PSNR on photos. Images are coded whole
    (``tile_size=0``), never as a grid of tiles. libheif pads sides below 64 px to 64 (x265 cannot
    code a picture smaller than a coding tree unit) and stores the crop in the file: tiny images
    work, but pay for the padded area.
    """

    name = "hevc"
    pil_format = "HEIF"
    qualities = (10, 20, 30, 35, 40, 45, 50, 55, 60)  # the default sweep
    quality_bounds = (0, 100)

    def require(self) -> None:
        try:
            _register_heif()
        except ImportError as err:
            raise RuntimeError("hevc: needs the pillow-heif package (pip install pillow-heif)") from err

    def save_options(self, quality: int) -> dict[str, Any]:
        return {"quality": quality, "chroma": 444, "tile_size": 0}

    def check_complete(self, data: bytes) -> None:
        _check_boxes(data, "hevc", b"ftyp")


# ------------------------------------------------------------------------- greyscale (Chapter 4)
@register("jpeg-grey", "Greyscale JPEG of the luminance (libjpeg-turbo via Pillow), quality 1-100")
class JPEGGrey(JPEG):
    """:class:`JPEG` on the luminance only (one component): Chapter 4's anchor for luma codecs."""

    name = "jpeg-grey"
    grey = True


@register("jpeg2000-grey", "Greyscale JPEG 2000 of the luminance (OpenJPEG via Pillow); quality = bpp x 100")
class JPEG2000Grey(JPEG2000):
    """:class:`JPEG2000` on the luminance only; ``quality`` q still asks for ``q / 100`` bpp."""

    name = "jpeg2000-grey"
    grey = True


@register("hevc-grey", "HEVC intra of the luminance (x265 via pillow-heif, monochrome), quality 0-100")
class HEVCGrey(HEVC):
    """:class:`HEVC` on the luminance only (a monochrome HEIF image)."""

    name = "hevc-grey"
    grey = True
