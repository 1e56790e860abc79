"""One protocol for every codec in the book, how codecs register, and our container header.

The codecs themselves live in :mod:`lic.baselines`, :mod:`lic.jpeg` and :mod:`lic.models`; use
them by name through :mod:`lic.registry` (``get_codec("jpeg")``).

Data flows one way: image -> ``Codec.compress`` -> bytes -> ``Codec.decompress`` -> image.
Images are float tensors ``[3, H, W]`` in [0, 1] (see :mod:`lic.data`).

Standard formats (JPEG, JPEG 2000, WebP, AVIF, HEIF) are written as they are, so any viewer
opens them. Our learned codecs wrap their entropy-coded payload in a small container::

    offset  size  field
    0       3     magic b"LIC"
    3       1     container version (1)
    4       1     length n of the codec name
    5       n     codec name, ASCII
    5+n     2     quality (uint16)
    7+n     2     height  (uint16)
    9+n     2     width   (uint16)
    11+n    4     payload length (uint32)
    15+n    4     CRC-32 of bytes 0..15+n and the payload (header fields and data)
    19+n    ...   payload

All fields are big-endian. The header's bytes count in the rate like every other byte.
Every malformed input raises :class:`BitstreamError`, never a crash or silent garbage.
"""
from __future__ import annotations

import struct
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

MAGIC = b"LIC"
VERSION = 1
_FIXED = struct.Struct(">HHHII")  # quality, height, width, payload length, crc32
MAX_SIDE = 65535


class BitstreamError(ValueError):
    """A bitstream that cannot be decoded: truncated, corrupt, or of an unknown format."""


class Codec(ABC):
    """A lossy image codec: ``compress(image, quality) -> bytes`` and ``decompress(bytes) -> image``.

    ``qualities`` is the default rate sweep (low rate first); ``quality`` means whatever the codec
    documents (a JPEG quality factor, a model's rate index, ...).
    """

    name: str = ""
    qualities: Sequence[int] = ()
    description: str = ""

    @abstractmethod
    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        """Encode a ``[3, H, W]`` image in [0, 1] at ``quality``."""

    @abstractmethod
    def decompress(self, data: bytes) -> torch.Tensor:
        """Decode bytes written by :meth:`compress` into a ``[3, H, W]`` image in [0, 1]."""

    def check_quality(self, quality: int) -> int:
        """Return ``quality`` as an int, or raise ``ValueError`` naming the valid range."""
        allowed = self.quality_range()
        if int(quality) != quality or not allowed[0] <= quality <= allowed[1]:
            raise ValueError(
                f"codec {self.name!r}: quality must be an integer in [{allowed[0]}, {allowed[1]}], "
                f"got {quality!r}"
            )
        return int(quality)

    def quality_range(self) -> tuple[int, int]:
        """Smallest and largest accepted quality (defaults to the sweep's ends)."""
        return (min(self.qualities), max(self.qualities))


# ----------------------------------------------------------------------------- registration
@dataclass(frozen=True)
class Registration:
    """A codec's factory (called lazily, on first use) and its one-line description."""

    factory: Callable[[], Codec]
    description: str


#: name -> registration; filled by the ``@register`` decorators of the implementations, read by
#: :mod:`lic.registry` (which imports them all). This module imports no implementation.
REGISTERED: dict[str, Registration] = {}


def register(name: str, description: str) -> Callable:
    """Class or factory decorator: ``@register("jpeg", "libjpeg via Pillow")``.

    Factories run lazily, on first use, so listing codecs never loads a checkpoint.
    """

    def deco(factory: Callable[[], Codec]) -> Callable[[], Codec]:
        if name in REGISTERED:
            raise ValueError(f"codec {name!r} is registered twice")
        REGISTERED[name] = Registration(factory, description)
        return factory

    return deco


# ----------------------------------------------------------------------------- container
@dataclass(frozen=True)
class Header:
    """The fields of our container header (see the module docstring)."""

    codec: str
    quality: int
    height: int
    width: int


def pack(header: Header, payload: bytes) -> bytes:
    """Prefix ``payload`` with the container header."""
    name = header.codec.encode("ascii")
    if not 0 < len(name) < 256:
        raise ValueError(f"codec name must be 1-255 ASCII characters, got {header.codec!r}")
    if not (0 < header.height <= MAX_SIDE and 0 < header.width <= MAX_SIDE):
        raise ValueError(f"image sides must be in 1..{MAX_SIDE}, got {header.height}x{header.width}")
    if not 0 <= header.quality <= 0xFFFF:
        raise ValueError(f"quality must fit 16 bits, got {header.quality}")
    head = MAGIC + bytes([VERSION, len(name)]) + name + _FIXED.pack(header.quality, header.height, header.width,
                                                                   len(payload), 0)[:-4]
    return head + struct.pack(">I", zlib.crc32(payload, zlib.crc32(head))) + payload


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Split container bytes into header and payload, checking length and checksum."""
    data = bytes(data)
    if len(data) < 5 or data[:3] != MAGIC:
        raise BitstreamError("not a lic container (bad magic number)")
    if data[3] != VERSION:
        raise BitstreamError(f"unsupported container version {data[3]} (this lic reads {VERSION})")
    n = data[4]
    start = 5 + n + _FIXED.size
    if len(data) < start:
        raise BitstreamError(f"truncated header: {len(data)} bytes, need at least {start}")
    try:
        name = data[5 : 5 + n].decode("ascii")
    except UnicodeDecodeError as err:
        raise BitstreamError("corrupt header: codec name is not ASCII") from err
    quality, height, width, length, crc = _FIXED.unpack(data[5 + n : start])
    payload = data[start:]
    if len(payload) != length:
        raise BitstreamError(
            f"truncated or padded stream: header announces {length} payload bytes, found {len(payload)}"
        )
    if zlib.crc32(payload, zlib.crc32(data[: start - 4])) != crc:
        raise BitstreamError("corrupt stream: checksum (CRC-32) does not match")
    if height == 0 or width == 0:
        raise BitstreamError("corrupt header: zero image size")
    return Header(name, quality, height, width), payload


# ----------------------------------------------------------------------------- dispatch
def sniff(data: bytes) -> str:
    """Name of the codec that can decode ``data``, judged from its first bytes."""
    head = bytes(data[:32])
    if head[:3] == MAGIC:
        return unpack(data)[0].codec
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or head[:4] == b"\xff\x4f\xff\x51":
        return "jpeg2000"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "avif"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
            return "hevc"
    raise BitstreamError("unknown bitstream format (not a lic container, JPEG, JPEG 2000, WebP, AVIF or HEIF)")
