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
Every malformed input raises :class:`BitstreamError`, never a crash or silent garbage. A header
that announces an image of more than :data:`MAX_PIXELS` pixels is refused before anything is
allocated (:func:`check_image_size`, which every decoder calls).

A *progressive* stream (version 3, Chapter 6) may be cut short and still decode to a coarser
image, so one checksum over the whole payload cannot work. Its header is followed by a
codec-specific index and then by chunks, each prefixed by its length (LEB128) and a 16-bit check::

    0 .. 10+n     as above, with version 3
    11+n    4     index length (uint32)
    15+n    4     CRC-32 of bytes 0..15+n and the index
    19+n    ...   index, then chunks: length (LEB128) + check (uint16) + bytes, until the end of the data

A chunk's check is the low 16 bits of the CRC-32 of its bytes, started from the header's CRC and
the chunk's number, so a damaged chunk, a chunk of another stream or chunks in another order are
reported (a random error passes with probability 2**-16). A stream that ends between two chunks
is valid (:func:`unpack_progressive` returns the chunks present); one that ends inside a chunk,
or holds no chunk at all, raises :class:`BitstreamError`.
"""
from __future__ import annotations

import os
import struct
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

MAGIC = b"LIC"
VERSION = 1
PROGRESSIVE = 3  # container version of progressive streams (3: every chunk has a check)
CHUNK_CHECK = struct.Struct(">H")
_FIXED = struct.Struct(">HHHII")  # quality, height, width, payload length, crc32
MAX_SIDE = 65535
#: The largest image, in pixels, that a decoder accepts from a stream: 2**26, about 67 Mpx (a
#: 24-Mpx photo passes). Raise it with the environment variable ``LIC_MAX_PIXELS`` or
#: ``lic decompress --max-pixels N`` for a file you trust; a corrupt or hostile header could
#: otherwise make a decoder allocate gigabytes.
MAX_PIXELS = int(os.environ.get("LIC_MAX_PIXELS", 1 << 26))


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


def _head(header: Header, version: int, length: int) -> bytes:
    """The header's bytes up to the checksum, for a container of ``version``."""
    name = header.codec.encode("ascii")
    if not 0 < len(name) < 256:
        raise ValueError(f"codec name must be 1-255 ASCII characters, got {header.codec!r}")
    if not (0 < header.height <= MAX_SIDE and 0 < header.width <= MAX_SIDE):
        raise ValueError(f"image sides must be in 1..{MAX_SIDE}, got {header.height}x{header.width}")
    if not 0 <= header.quality <= 0xFFFF:
        raise ValueError(f"quality must fit 16 bits, got {header.quality}")
    return MAGIC + bytes([version, len(name)]) + name + _FIXED.pack(header.quality, header.height, header.width,
                                                                   length, 0)[:-4]


def pack(header: Header, payload: bytes) -> bytes:
    """Prefix ``payload`` with the container header."""
    head = _head(header, VERSION, len(payload))
    return head + struct.pack(">I", zlib.crc32(payload, zlib.crc32(head))) + payload


def _read_header(data: bytes, version: int) -> tuple[Header, int, int, int]:
    """The header of a container of ``version``: ``(header, length field, crc field, end offset)``."""
    if len(data) < 5 or data[:3] != MAGIC:
        raise BitstreamError("not a lic container (bad magic number)")
    if data[3] != version:
        raise BitstreamError(f"unsupported container version {data[3]} (expected {version})")
    n = data[4]
    start = 5 + n + _FIXED.size
    if len(data) < start:
        raise BitstreamError(f"truncated header: {len(data)} bytes, need at least {start}")
    try:
        name = data[5 : 5 + n].decode("ascii")
    except UnicodeDecodeError as err:
        raise BitstreamError("corrupt header: codec name is not ASCII") from err
    quality, height, width, length, crc = _FIXED.unpack(data[5 + n : start])
    return Header(name, quality, height, width), length, crc, start


def check_image_size(height: int, width: int) -> None:
    """Raise :class:`BitstreamError` for a zero size or an image above :data:`MAX_PIXELS` pixels."""
    if height <= 0 or width <= 0:
        raise BitstreamError(f"corrupt header: image size {height}x{width}")
    if height * width > MAX_PIXELS:
        raise BitstreamError(
            f"the stream announces a {width}x{height} image ({height * width / 1e6:.0f} Mpx), more than the "
            f"limit of {MAX_PIXELS / 1e6:.0f} Mpx; if you trust the file, raise the limit with "
            "--max-pixels or LIC_MAX_PIXELS")


def unpack(data: bytes) -> tuple[Header, bytes]:
    """Split container bytes into header and payload, checking length and checksum."""
    data = bytes(data)
    header, length, crc, start = _read_header(data, VERSION)
    payload = data[start:]
    if len(payload) != length:
        raise BitstreamError(
            f"truncated or padded stream: header announces {length} payload bytes, found {len(payload)}"
        )
    if zlib.crc32(payload, zlib.crc32(data[: start - 4])) != crc:
        raise BitstreamError("corrupt stream: checksum (CRC-32) does not match")
    check_image_size(header.height, header.width)
    return header, payload


def _leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _chunk_check(chunk: bytes, number: int, header_crc: int) -> bytes:
    """The 16-bit check of chunk ``number`` of the stream whose header and index have ``header_crc``."""
    return CHUNK_CHECK.pack(zlib.crc32(chunk, zlib.crc32(struct.pack(">I", number), header_crc)) & 0xFFFF)


def pack_progressive(header: Header, index: bytes, chunks: Sequence[bytes]) -> bytes:
    """A progressive stream: the header, the ``index`` (checksummed with it) and the ``chunks``."""
    head = _head(header, PROGRESSIVE, len(index))
    crc = zlib.crc32(index, zlib.crc32(head))
    return head + struct.pack(">I", crc) + index + b"".join(
        _leb128(len(c)) + _chunk_check(c, i, crc) + c for i, c in enumerate(chunks))


def unpack_progressive(data: bytes) -> tuple[Header, bytes, list[bytes]]:
    """``(header, index, chunks)`` of a progressive stream, possibly cut short between two chunks."""
    data = bytes(data)
    header, length, crc, start = _read_header(data, PROGRESSIVE)
    index = data[start : start + length]
    if len(index) != length:
        raise BitstreamError(f"truncated stream: the index needs {length} bytes, found {len(index)}")
    if zlib.crc32(index, zlib.crc32(data[: start - 4])) != crc:
        raise BitstreamError("corrupt stream: checksum (CRC-32) of the header and index does not match")
    check_image_size(header.height, header.width)
    chunks, pos = [], start + length
    while pos < len(data):
        size, shift = 0, 0
        while True:
            if pos >= len(data) or shift > 28:
                raise BitstreamError("truncated or corrupt stream: a chunk length is cut off")
            byte = data[pos]
            pos += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        end = pos + CHUNK_CHECK.size + size
        if end > len(data):
            raise BitstreamError(f"truncated stream: chunk {len(chunks) + 1} needs {end - pos} bytes, has only "
                                 f"{len(data) - pos} (a progressive stream may only be cut between chunks)")
        chunk = data[pos + CHUNK_CHECK.size : end]
        if data[pos : pos + CHUNK_CHECK.size] != _chunk_check(chunk, len(chunks), crc):
            raise BitstreamError(f"corrupt stream: chunk {len(chunks) + 1} fails its check "
                                 f"(the {len(chunks)} chunk(s) before it are intact)")
        chunks.append(chunk)
        pos = end
    if not chunks:
        raise BitstreamError("a progressive stream needs at least one chunk; this one has only its header and index")
    return header, index, chunks


# ----------------------------------------------------------------------------- dispatch
def sniff(data: bytes) -> str:
    """Name of the codec that can decode ``data``, judged from its first bytes."""
    head = bytes(data[:32])
    if head[:3] == MAGIC:
        return (unpack_progressive(data) if head[3:4] == bytes([PROGRESSIVE]) else unpack(data))[0].codec
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
