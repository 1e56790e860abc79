"""Chapter 1: baseline JPEG, encoder and decoder written from scratch in numpy.

The pipeline of ITU-T T.81 (the JPEG standard), with the choices of JFIF and of the IJG
library (libjpeg, and libjpeg-turbo behind Pillow), one small public function per step::

    RGB --rgb_to_ycbcr--> YCbCr --subsample_420--> 4:2:0 --blockify--> 8x8 blocks --dct2-->
    coefficients --quantize--> integers --zigzag, DC prediction, run_length--> symbols
    --Huffman (Annex K tables) or adaptive arithmetic coding--> bits

and the decoder runs the same steps backwards (``upsample_420`` is libjpeg's "fancy"
triangle filter). :func:`encode` writes a real baseline JFIF file that any viewer opens;
:func:`decode` reads baseline files (ours, and Pillow's standard 4:2:0 or 4:4:4 ones).

Two codecs are registered:

* ``jpeg-scratch``: :func:`encode` / :func:`decode`, a ``.jpg`` file.
* ``jpeg-scratch-ac``: the same quantised coefficients and the same symbols, but entropy-coded
  with adaptive arithmetic coding (``constriction``) instead of the fixed Huffman tables, in
  our container. The models start from the Huffman tables' probabilities and adapt after every
  symbol, in contexts the decoder can track (see :class:`AdaptiveFrequencies` and
  ``_ArithmeticContexts``); rebuilding a lazy ``constriction`` model per symbol costs about a
  microsecond, so per-symbol adaptation is fast enough. :func:`entropy_coded_bytes` compares
  what the two entropy coders spend.

Both codecs share the symbol logic (:func:`encode_blocks`, :func:`decode_blocks`); only the
coder behind :class:`SymbolWriter` / :class:`SymbolReader` differs.
"""
from __future__ import annotations

import functools
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import constriction
import numpy as np
import torch

from .codec import BitstreamError, Codec, Header, pack, register, unpack
from .data import check_image, from_uint8, to_uint8

# ============================================================================ colour (JFIF)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` RGB (0..255) -> float YCbCr, full-range BT.601 (JFIF 1.02, section 7).

    libjpeg rounds the result to 8-bit samples, as :func:`encode` does with :func:`round_samples`.
    """
    r, g, b = (np.asarray(rgb, dtype=np.float64)[..., i] for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128.0
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128.0
    return np.stack([y, cb, cr], axis=-1)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` YCbCr -> float RGB, the inverse JFIF equations (libjpeg's ``jdcolor.c``)."""
    y, cb, cr = (np.asarray(ycc, dtype=np.float64)[..., i] for i in range(3))
    r = y + 1.402 * (cr - 128.0)
    g = y - 0.344136 * (cb - 128.0) - 0.714136 * (cr - 128.0)
    b = y + 1.772 * (cb - 128.0)
    return np.stack([r, g, b], axis=-1)


def round_samples(x: np.ndarray) -> np.ndarray:
    """Round (half up) and clip to 8-bit samples, as libjpeg's fixed-point arithmetic does."""
    return np.clip(np.floor(np.asarray(x, dtype=np.float64) + 0.5), 0, 255).astype(np.uint8)


# ============================================================================ chroma subsampling


def subsample_420(channel: np.ndarray) -> np.ndarray:
    """Halve an 8-bit plane in both directions: each output sample is the mean of a 2x2 square.

    Exactly libjpeg's ``h2v2_downsample`` (``jcsample.c``): ``(a + b + c + d + bias) >> 2`` with
    ``bias`` alternating 1, 2 along the row so that rounding does not drift. Odd sides are
    padded by replicating the last row/column first.
    """
    x = np.asarray(channel, dtype=np.int32)
    x = np.pad(x, ((0, x.shape[0] % 2), (0, x.shape[1] % 2)), mode="edge")
    sums = x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2]
    bias = 1 + np.arange(sums.shape[1]) % 2
    return ((sums + bias) >> 2).astype(np.uint8)


def upsample_420(channel: np.ndarray) -> np.ndarray:
    """Double an 8-bit plane in both directions with libjpeg's "fancy" triangle filter.

    Each output sample is 9/16, 3/16, 3/16, 1/16 of its four nearest input samples
    (``h2v2_fancy_upsample`` in libjpeg-turbo's ``jdsample.c``, the decoder's default), with
    the same integer rounding and edge replication. Like libjpeg-turbo, planes at most 2 samples
    wide are simply replicated.
    """
    x = np.asarray(channel, dtype=np.int32)
    if x.shape[1] <= 2:
        return np.repeat(np.repeat(x, 2, axis=0), 2, axis=1).astype(np.uint8)
    above = np.concatenate([x[:1], x[:-1]], axis=0)
    below = np.concatenate([x[1:], x[-1:]], axis=0)
    rows = np.empty((2 * x.shape[0], x.shape[1]), dtype=np.int32)  # vertical pass, scaled by 4
    rows[0::2] = 3 * x + above
    rows[1::2] = 3 * x + below
    left = np.concatenate([rows[:, :1], rows[:, :-1]], axis=1)
    right = np.concatenate([rows[:, 1:], rows[:, -1:]], axis=1)
    out = np.empty((rows.shape[0], 2 * rows.shape[1]), dtype=np.int32)
    out[:, 0::2] = (3 * rows + left + 8) >> 4
    out[:, 1::2] = (3 * rows + right + 7) >> 4
    return out.astype(np.uint8)


# ============================================================================ blocks and the DCT


def blockify(channel: np.ndarray, multiple: int = 8) -> np.ndarray:
    """``[H, W]`` plane -> ``[H'/8, W'/8, 8, 8]`` blocks, after padding the bottom/right edges by
    replication to multiples of ``multiple`` (8, or 16 for the luma of 4:2:0 MCUs; T.81 A.2.4)."""
    x = np.asarray(channel)
    h, w = x.shape
    x = np.pad(x, ((0, -h % multiple), (0, -w % multiple)), mode="edge")
    return x.reshape(x.shape[0] // 8, 8, x.shape[1] // 8, 8).transpose(0, 2, 1, 3)


def unblockify(blocks: np.ndarray) -> np.ndarray:
    """``[by, bx, 8, 8]`` blocks -> the ``[8 by, 8 bx]`` plane (crop it to the image size)."""
    by, bx = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(8 * by, 8 * bx)


def dct_matrix() -> np.ndarray:
    """The 8x8 orthonormal DCT-II matrix ``C[u, x] = c(u) cos((2x + 1) u pi / 16)``.

    With it, T.81's FDCT (A.3.3) is ``C @ block @ C.T`` and the IDCT is ``C.T @ coeffs @ C``.
    """
    u, x = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    scale = np.where(u == 0, np.sqrt(1 / 8), np.sqrt(2 / 8))
    return scale * np.cos((2 * x + 1) * u * np.pi / 16)


_C = dct_matrix()


def dct2(blocks: np.ndarray) -> np.ndarray:
    """2-D DCT of every 8x8 block in ``[..., 8, 8]`` (T.81 A.3.3, level shift done by the caller)."""
    return _C @ np.asarray(blocks, dtype=np.float64) @ _C.T


def idct2(coeffs: np.ndarray) -> np.ndarray:
    """Inverse 2-D DCT of every 8x8 block in ``[..., 8, 8]`` (T.81 A.3.3)."""
    return _C.T @ np.asarray(coeffs, dtype=np.float64) @ _C


def dct_basis() -> np.ndarray:
    """The 64 DCT basis images, ``[8, 8, 8, 8]``: ``basis[u, v]`` is the block whose DCT is a single 1
    at frequency ``(u, v)`` (u vertical, v horizontal)."""
    return np.einsum("ux,vy->uvxy", _C, _C)


# ============================================================================ quantisation

# T.81 Annex K.1, Tables K.1 (luminance) and K.2 (chrominance), natural (row-major) order.
LUMA_QTABLE = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
], dtype=np.int32)  # fmt: skip
CHROMA_QTABLE = np.array([
    [17, 18, 24, 47, 99, 99, 99, 99],
    [18, 21, 26, 66, 99, 99, 99, 99],
    [24, 26, 56, 99, 99, 99, 99, 99],
    [47, 66, 99, 99, 99, 99, 99, 99],
    *[[99] * 8] * 4,
], dtype=np.int32)  # fmt: skip


def quant_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """Luma and chroma 8x8 tables for an IJG quality factor 1..100 (libjpeg ``jcparam.c``).

    The Annex K tables are scaled by ``5000 / q`` percent below 50 and by ``200 - 2 q`` above,
    rounded, and clipped to 1..255 so that they fit baseline 8-bit DQT entries.
    """
    if int(quality) != quality or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer in [1, 100], got {quality!r}")
    quality = int(quality)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(np.clip((t * scale + 50) // 100, 1, 255) for t in (LUMA_QTABLE, CHROMA_QTABLE))


def quantize(coeffs: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Divide each coefficient by its table entry and round half away from zero (T.81 A.3.4)."""
    x = np.asarray(coeffs) / table
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int32)


def dequantize(levels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Multiply quantised levels back by the table (T.81 A.3.5)."""
    return np.asarray(levels, dtype=np.float64) * table


# ============================================================================ zig-zag and symbols


def _zigzag_order() -> np.ndarray:
    """Walk the anti-diagonals of an 8x8 block, alternating direction (T.81 Figure A.6)."""
    def key(i: int) -> tuple[int, int]:
        r, c = divmod(i, 8)
        return (r + c, r if (r + c) % 2 else c)
    return np.array(sorted(range(64), key=key))


ZIGZAG = _zigzag_order()  # ZIGZAG[k] = row-major index of the k-th coefficient in zig-zag order
UNZIGZAG = np.argsort(ZIGZAG)  # UNZIGZAG[i] = zig-zag position of row-major index i


def zigzag(blocks: np.ndarray) -> np.ndarray:
    """``[..., 8, 8]`` blocks -> ``[..., 64]`` vectors in zig-zag order (low frequencies first)."""
    b = np.asarray(blocks)
    return b.reshape(*b.shape[:-2], 64)[..., ZIGZAG]


def unzigzag(vectors: np.ndarray) -> np.ndarray:
    """``[..., 64]`` zig-zag vectors -> ``[..., 8, 8]`` blocks (inverse of :func:`zigzag`)."""
    v = np.asarray(vectors)
    return v[..., UNZIGZAG].reshape(*v.shape[:-1], 8, 8)


def dc_differences(dc: np.ndarray) -> np.ndarray:
    """DC prediction (T.81 F.1.2.1): each block's DC minus the previous block's of the same
    component, in scan order; the first is predicted from 0."""
    dc = np.asarray(dc)
    return np.diff(dc, prepend=0)


def undo_dc_differences(diffs: np.ndarray) -> np.ndarray:
    """Inverse of :func:`dc_differences`: the running sum."""
    return np.cumsum(diffs)


def magnitude_category(value: int) -> int:
    """SSSS, the number of bits of ``|value|`` (T.81 Tables F.1 and F.2); 0 for 0."""
    return abs(value).bit_length()


def amplitude_bits(value: int, size: int) -> int:
    """The ``size`` extra bits that follow a symbol (T.81 F.1.2.1): ``value`` itself if it is
    positive, else its ones' complement ``value + 2**size - 1``."""
    return value if value >= 0 else value + (1 << size) - 1


def extend(bits: int, size: int) -> int:
    """Inverse of :func:`amplitude_bits`: the EXTEND procedure of T.81 Figure F.12."""
    return bits if size == 0 or bits >> (size - 1) else bits - (1 << size) + 1


EOB = 0x00  # end of block: all remaining coefficients are zero
ZRL = 0xF0  # zero run length: sixteen zeros


def run_length(ac: Sequence[int]) -> list[tuple[int, int]]:
    """The 63 AC coefficients of a block (zig-zag order) -> ``(RS, value)`` symbols (T.81 F.1.2.2).

    ``RS = (run << 4) | size`` says how many zeros precede the next nonzero ``value`` and how many
    amplitude bits it takes. Runs over 15 emit ``ZRL`` symbols; trailing zeros become one ``EOB``.
    """
    symbols: list[tuple[int, int]] = []
    run = 0
    for value in ac:
        if value == 0:
            run += 1
            continue
        while run > 15:
            symbols.append((ZRL, 0))
            run -= 16
        symbols.append(((run << 4) | magnitude_category(value), value))
        run = 0
    if run:
        symbols.append((EOB, 0))
    return symbols


# ============================================================================ Huffman coding

# T.81 Annex K.3, Tables K.3-K.6: BITS (how many codes of each length 1..16) and HUFFVAL.
DC_LUMA_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
DC_CHROMA_BITS = (0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0)
DC_VALUES = tuple(range(12))
AC_LUMA_BITS = (0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D)
AC_LUMA_VALUES = bytes.fromhex(
    "01020300041105122131410613516107227114328191a1082342b1c11552d1f0"
    "2433627282090a161718191a25262728292a3435363738393a434445464748494a"
    "535455565758595a636465666768696a737475767778797a838485868788898a"
    "92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9ca"
    "d2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa"
)
AC_CHROMA_BITS = (0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77)
AC_CHROMA_VALUES = bytes.fromhex(
    "000102031104052131061241510761711322328108144291a1b1c109233352f0"
    "156272d10a162434e125f11718191a262728292a35363738393a434445464748494a"
    "535455565758595a636465666768696a737475767778797a82838485868788898a"
    "92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9ca"
    "d2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9fa"
)
# (class, id, BITS, HUFFVAL): class 0 = DC, 1 = AC; id 0 = luma, 1 = chroma.
STANDARD_HUFFMAN_TABLES = (
    (0, 0, DC_LUMA_BITS, DC_VALUES),
    (0, 1, DC_CHROMA_BITS, DC_VALUES),
    (1, 0, AC_LUMA_BITS, tuple(AC_LUMA_VALUES)),
    (1, 1, AC_CHROMA_BITS, tuple(AC_CHROMA_VALUES)),
)


def huffman_codes(bits: Sequence[int], values: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Canonical Huffman codes from a DHT table (T.81 Annex C): ``{symbol: (code, length)}``.

    Codes of each length are consecutive integers, shortest first; going one bit longer
    appends a 0 to the next free code. Raises :class:`BitstreamError` if ``bits`` asks for more
    codes than fit or ``values`` is too short.
    """
    if len(bits) != 16 or sum(bits) > len(values):
        raise BitstreamError("corrupt Huffman table: BITS and HUFFVAL disagree")
    codes: dict[int, tuple[int, int]] = {}
    code, i = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            if code >= 1 << length:
                raise BitstreamError("corrupt Huffman table: more codes than fit in 16 bits")
            codes[values[i]] = (code, length)
            code, i = code + 1, i + 1
        code <<= 1
    return codes


class BitWriter:
    """Collects variable-length bit fields, most significant bit first (T.81 F.1.2.3)."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def write(self, value: int, nbits: int) -> None:
        """Append the ``nbits`` low bits of ``value``."""
        if nbits:
            self._parts.append(format(value, f"0{nbits}b"))

    def getvalue(self) -> bytes:
        """The bytes so far: padded with 1-bits to a whole byte (F.1.2.3), and every 0xFF byte
        followed by a stuffed 0x00 so that it cannot be mistaken for a marker (B.1.1.5)."""
        bits = "".join(self._parts)
        bits += "1" * (-len(bits) % 8)
        data = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
        return data.replace(b"\xff", b"\xff\x00")


class BitReader:
    """Reads bit fields from entropy-coded data whose stuffed zero bytes are already removed."""

    _PAD = 32  # 1-bits appended so that a peek near the end never runs short

    def __init__(self, data: bytes) -> None:
        self.nbits = 8 * len(data)
        self.pos = 0
        bits = format(int.from_bytes(data, "big"), f"0{self.nbits}b") if data else ""
        self._bits = bits + "1" * self._PAD

    def peek16(self) -> int:
        """The next 16 bits as an integer, without consuming them."""
        return int(self._bits[self.pos : self.pos + 16], 2)

    def skip(self, nbits: int) -> None:
        """Consume ``nbits`` bits; raise :class:`BitstreamError` when the data runs out."""
        self.pos += nbits
        if self.pos > self.nbits:
            raise BitstreamError("truncated JPEG: entropy-coded data ended in the middle of a block")

    def read(self, nbits: int) -> int:
        """Consume and return the next ``nbits`` bits (0 if ``nbits`` is 0)."""
        if nbits == 0:
            return 0
        value = int(self._bits[self.pos : self.pos + nbits], 2)
        self.skip(nbits)
        return value


class HuffmanTable:
    """One Huffman table, ready for encoding (``codes``) and for decoding by 16-bit lookup."""

    def __init__(self, bits: Sequence[int], values: Sequence[int]) -> None:
        self.bits = tuple(bits)
        self.values = tuple(values)
        self.codes = huffman_codes(self.bits, self.values)
        # Every 16-bit window that starts with a code maps to (symbol, code length).
        self._symbol = [0] * 65536
        self._length = [0] * 65536
        for symbol, (code, length) in self.codes.items():
            start, count = code << (16 - length), 1 << (16 - length)
            self._symbol[start : start + count] = [symbol] * count
            self._length[start : start + count] = [length] * count

    def decode(self, reader: BitReader) -> int:
        """Read one symbol (T.81 F.2.2.3, with a lookup table instead of the bit-serial loop)."""
        window = reader.peek16()
        length = self._length[window]
        if length == 0:
            raise BitstreamError("corrupt JPEG: invalid Huffman code in the entropy-coded data")
        reader.skip(length)
        return self._symbol[window]


@functools.cache
def standard_huffman_tables() -> dict[tuple[int, int], HuffmanTable]:
    """The four Annex K.3 tables, keyed by (class, id): (0, 0) DC luma ... (1, 1) AC chroma."""
    return {(tc, th): HuffmanTable(bits, vals) for tc, th, bits, vals in STANDARD_HUFFMAN_TABLES}


# ============================================================================ scans of blocks


@dataclass
class Coefficients:
    """The quantised DCT coefficients of an image: everything the entropy coder sees.

    ``planes[i]`` is component i's ``[block rows, block cols, 64]`` int32 array in zig-zag order
    (padded to whole MCUs), ``sampling[i]`` its ``(h, v)`` sampling factors and ``qtables[i]``
    its 8x8 quantisation table (natural order).
    """

    height: int
    width: int
    planes: list[np.ndarray]
    sampling: list[tuple[int, int]]
    qtables: list[np.ndarray]


def scan_order(coefs: Coefficients) -> tuple[np.ndarray, np.ndarray]:
    """Interleave the components MCU by MCU (T.81 A.2.3) into ``[N, 64]`` blocks plus the
    ``[N]`` component index of each block. With 4:2:0 an MCU is Y Y Y Y Cb Cr."""
    if len(coefs.planes) == 1:  # a single component is not interleaved: plain raster order
        blocks = coefs.planes[0].reshape(-1, 64)
        return blocks, np.zeros(len(blocks), dtype=int)
    per_mcu, comps = [], []
    for c, (plane, (h, v)) in enumerate(zip(coefs.planes, coefs.sampling)):
        rows, cols = plane.shape[0] // v, plane.shape[1] // h
        mcu_major = plane.reshape(rows, v, cols, h, 64).transpose(0, 2, 1, 3, 4)
        per_mcu.append(mcu_major.reshape(rows * cols, v * h, 64))
        comps += [c] * (v * h)
    blocks = np.concatenate(per_mcu, axis=1)
    return blocks.reshape(-1, 64), np.tile(comps, blocks.shape[0])


def from_scan_order(blocks: np.ndarray, template: Coefficients) -> list[np.ndarray]:
    """Inverse of :func:`scan_order`: split ``[N, 64]`` blocks into planes shaped like ``template``'s."""
    if len(template.planes) == 1:
        return [blocks.reshape(template.planes[0].shape)]
    units = [h * v for h, v in template.sampling]
    mcus = blocks.reshape(-1, sum(units), 64)
    planes, start = [], 0
    for plane, (h, v), n in zip(template.planes, template.sampling, units):
        rows, cols = plane.shape[0] // v, plane.shape[1] // h
        part = mcus[:, start : start + n].reshape(rows, cols, v, h, 64).transpose(0, 2, 1, 3, 4)
        planes.append(part.reshape(plane.shape))
        start += n
    return planes


def _with_dc_differences(blocks: np.ndarray, comps: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Replace (or restore) the DC column by its per-component differences in scan order."""
    out = blocks.copy()
    for c in np.unique(comps):
        sel = comps == c
        out[sel, 0] = undo_dc_differences(blocks[sel, 0]) if inverse else dc_differences(blocks[sel, 0])
    return out


class SymbolWriter(Protocol):
    """An entropy coder as the scan sees it: symbols in a context, then their amplitude bits."""

    def put_symbol(self, comp: int, k: int, symbol: int) -> None:
        """Code ``symbol`` of component ``comp``: a DC size if ``k == 0``, else the RS symbol
        of the run that starts at zig-zag position ``k``."""

    def put_bits(self, value: int, size: int) -> None:
        """Code the ``size`` amplitude bits ``value``."""


class SymbolReader(Protocol):
    """The decoding side of :class:`SymbolWriter`."""

    def get_symbol(self, comp: int, k: int) -> int:
        """Decode one symbol (see :meth:`SymbolWriter.put_symbol`)."""

    def get_bits(self, size: int) -> int:
        """Decode ``size`` amplitude bits."""


def encode_blocks(blocks: np.ndarray, comps: np.ndarray, coder: SymbolWriter) -> None:
    """Turn each ``[64]`` zig-zag block (DC already a difference) into symbols (T.81 F.1.2)."""
    for block, comp in zip(blocks.tolist(), comps.tolist()):
        size = magnitude_category(block[0])
        coder.put_symbol(comp, 0, size)
        coder.put_bits(amplitude_bits(block[0], size), size)
        k = 1
        for rs, value in run_length(block[1:]):
            coder.put_symbol(comp, k, rs)
            size = rs & 15
            coder.put_bits(amplitude_bits(value, size), size)
            k += (rs >> 4) + 1


def decode_blocks(comps: np.ndarray, coder: SymbolReader) -> np.ndarray:
    """Decode one block per entry of ``comps`` (T.81 F.2.2): ``[N, 64]`` zig-zag blocks with DC
    differences. Symbols no baseline encoder writes raise :class:`BitstreamError`."""
    out = [0] * (64 * len(comps))
    for base, comp in zip(range(0, len(out), 64), comps.tolist()):
        size = coder.get_symbol(comp, 0)
        if size > 11:
            raise BitstreamError(f"corrupt JPEG: DC magnitude category {size} (baseline allows 0..11)")
        out[base] = extend(coder.get_bits(size), size)
        k = 1
        while k < 64:
            rs = coder.get_symbol(comp, k)
            run, size = rs >> 4, rs & 15
            if size == 0:
                if rs == EOB:
                    break
                if rs != ZRL:
                    raise BitstreamError(f"corrupt JPEG: invalid AC symbol 0x{rs:02X}")
                k += 16
                continue
            k += run
            if k > 63:
                raise BitstreamError(f"corrupt JPEG: AC coefficient index {k} (the last is 63)")
            if size > 10:
                raise BitstreamError(f"corrupt JPEG: AC magnitude category {size} (baseline allows 1..10)")
            out[base + k] = extend(coder.get_bits(size), size)
            k += 1
        if k > 64:
            raise BitstreamError("corrupt JPEG: a zero run goes past coefficient 63")
    return np.array(out, dtype=np.int32).reshape(-1, 64)


class HuffmanScanWriter:
    """:class:`SymbolWriter` with one (DC, AC) pair of Huffman tables per component."""

    def __init__(self, tables: Sequence[tuple[HuffmanTable, HuffmanTable]]) -> None:
        self.codes = [(dc.codes, ac.codes) for dc, ac in tables]
        self.writer = BitWriter()

    def put_symbol(self, comp: int, k: int, symbol: int) -> None:
        code, length = self.codes[comp][k > 0][symbol]
        self.writer.write(code, length)

    def put_bits(self, value: int, size: int) -> None:
        self.writer.write(value, size)


class HuffmanScanReader:
    """:class:`SymbolReader` over a :class:`BitReader`."""

    def __init__(self, data: bytes, tables: Sequence[tuple[HuffmanTable, HuffmanTable]]) -> None:
        self.tables = tables
        self.reader = BitReader(data)

    def get_symbol(self, comp: int, k: int) -> int:
        return self.tables[comp][k > 0].decode(self.reader)

    def get_bits(self, size: int) -> int:
        return self.reader.read(size)


# ============================================================================ the encoder


SAMPLING_420 = [(2, 2), (1, 1), (1, 1)]  # (h, v) of Y, Cb, Cr: chroma at half resolution both ways


def quantized_coefficients(image: torch.Tensor, quality: int) -> Coefficients:
    """Steps 1-4 of the encoder: colour transform, 4:2:0 subsampling, DCT and quantisation."""
    check_image(image)
    _, height, width = image.shape
    luma_q, chroma_q = quant_tables(quality)
    ycc = round_samples(rgb_to_ycbcr(to_uint8(image)))
    ycc = np.pad(ycc, ((0, -height % 16), (0, -width % 16), (0, 0)), mode="edge")  # whole MCUs
    planes = [ycc[..., 0], subsample_420(ycc[..., 1]), subsample_420(ycc[..., 2])]
    levels = [
        zigzag(quantize(dct2(blockify(p).astype(np.float64) - 128.0), q))
        for p, q in zip(planes, (luma_q, chroma_q, chroma_q))
    ]
    return Coefficients(height, width, levels, SAMPLING_420, [luma_q, chroma_q, chroma_q])


# Marker codes (T.81 Table B.1); each marker is the byte 0xFF followed by one of these.
SOI, EOI, SOF0, DHT, DQT, DRI, SOS, APP0, COM = 0xD8, 0xD9, 0xC0, 0xC4, 0xDB, 0xDD, 0xDA, 0xE0, 0xFE


def _segment(marker: int, payload: bytes) -> bytes:
    """A marker segment: 0xFF, the marker code, a 2-byte length that counts itself, the payload."""
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def huffman_scan(coefs: Coefficients) -> bytes:
    """Entropy-code the blocks with the standard Huffman tables (luma: tables 0, chroma: 1)."""
    tables = standard_huffman_tables()
    per_comp = [(tables[0, min(c, 1)], tables[1, min(c, 1)]) for c in range(len(coefs.planes))]
    blocks, comps = scan_order(coefs)
    coder = HuffmanScanWriter(per_comp)
    encode_blocks(_with_dc_differences(blocks, comps), comps, coder)
    return coder.writer.getvalue()


def encode(image: torch.Tensor, quality: int) -> bytes:
    """Encode a ``[3, H, W]`` image in [0, 1] as a baseline JFIF file (4:2:0, Annex K tables).

    Segments: SOI, APP0 "JFIF" 1.01, DQT (both tables, zig-zag order), SOF0 (Y 2x2, Cb 1x1,
    Cr 1x1), DHT (the four Annex K.3 tables), SOS (one interleaved scan), the entropy-coded
    data, EOI. Any size from 1x1 to 65535x65535.
    """
    check_image(image)
    height, width = image.shape[1:]
    if height > 65535 or width > 65535:
        raise ValueError(f"JPEG sides are at most 65535, got {height}x{width}")
    coefs = quantized_coefficients(image, quality)
    jfif = b"JFIF\x00" + bytes([1, 1, 0]) + struct.pack(">HH", 1, 1) + bytes([0, 0])
    dqt = b"".join(bytes([t]) + bytes(zigzag(q).astype(np.uint8)) for t, q in enumerate(coefs.qtables[:2]))
    sof = struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
    dht = b"".join(bytes([tc << 4 | th, *bits, *vals]) for tc, th, bits, vals in STANDARD_HUFFMAN_TABLES)
    sos = bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])
    return b"".join([
        bytes([0xFF, SOI]),
        _segment(APP0, jfif),
        _segment(DQT, dqt),
        _segment(SOF0, sof),
        _segment(DHT, dht),
        _segment(SOS, sos),
        huffman_scan(coefs),
        bytes([0xFF, EOI]),
    ])  # fmt: skip


# ============================================================================ the decoder


def reconstruct(coefs: Coefficients) -> np.ndarray:
    """Decoder steps after entropy decoding: dequantise, IDCT, upsample, YCbCr -> RGB.

    Returns the ``[H, W, 3]`` uint8 RGB image (grey for a single component).
    """
    hmax = max(h for h, _ in coefs.sampling)
    vmax = max(v for _, v in coefs.sampling)
    channels = []
    for plane, (h, v), q in zip(coefs.planes, coefs.sampling, coefs.qtables):
        samples = round_samples(idct2(dequantize(unzigzag(plane), q)) + 128.0)
        x = unblockify(samples)[: -(-coefs.height * v // vmax), : -(-coefs.width * h // hmax)]
        if (h, v) != (hmax, vmax):
            x = upsample_420(x)
        channels.append(x[: coefs.height, : coefs.width])
    if len(channels) == 1:
        return np.repeat(channels[0][..., None], 3, axis=2)
    return round_samples(ycbcr_to_rgb(np.stack(channels, axis=-1)))


class _Cursor:
    """Reads one marker segment's payload, raising :class:`BitstreamError` on overrun."""

    def __init__(self, payload: bytes, name: str) -> None:
        self.payload, self.name, self.pos = payload, name, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.payload):
            raise BitstreamError(f"corrupt JPEG: {self.name} segment is too short")
        self.pos += n
        return self.payload[self.pos - n : self.pos]

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def left(self) -> int:
        return len(self.payload) - self.pos


_UNSUPPORTED_SOF = {
    0xC1: "extended sequential", 0xC2: "progressive", 0xC3: "lossless", 0xC5: "differential sequential",
    0xC6: "differential progressive", 0xC7: "differential lossless", 0xC9: "arithmetic-coded",
    0xCA: "arithmetic-coded progressive", 0xCB: "arithmetic-coded lossless", 0xCD: "arithmetic-coded",
    0xCE: "arithmetic-coded", 0xCF: "arithmetic-coded",
}  # fmt: skip
_END_OF_SCAN = re.compile(rb"\xff[^\x00]")  # any marker: 0xFF not followed by a stuffed 0x00


@dataclass
class _Frame:
    height: int
    width: int
    ids: list[int]
    sampling: list[tuple[int, int]]
    qtable_ids: list[int]


def _parse_sof(cur: _Cursor) -> _Frame:
    precision, height, width, ncomp = cur.u8(), cur.u16(), cur.u16(), cur.u8()
    if precision != 8:
        raise BitstreamError(f"unsupported JPEG: {precision}-bit samples (baseline is 8-bit)")
    if height == 0 or width == 0:
        raise BitstreamError("unsupported JPEG: zero image size (or height defined by a DNL marker)")
    if ncomp not in (1, 3):
        raise BitstreamError(f"unsupported JPEG: {ncomp} components (this decoder reads 1 or 3)")
    ids, sampling, tq = [], [], []
    for _ in range(ncomp):
        ids.append(cur.u8())
        hv = cur.u8()
        sampling.append((hv >> 4, hv & 15))
        tq.append(cur.u8())
    if len(set(ids)) != ncomp or max(tq) > 3:
        raise BitstreamError("corrupt JPEG: bad component ids or quantisation table ids in SOF0")
    if ncomp == 1:
        sampling = [(1, 1)]  # a single component's sampling factors do not matter (A.2.2)
    elif sampling[1:] != [(1, 1), (1, 1)] or sampling[0] not in ((1, 1), (2, 2)):
        raise BitstreamError(f"unsupported JPEG: sampling factors {sampling} (this reads 4:2:0, 4:4:4)")
    return _Frame(height, width, ids, sampling, tq)


def _parse_dht(cur: _Cursor, tables: dict[tuple[int, int], HuffmanTable]) -> None:
    while cur.left():
        tc_th = cur.u8()
        tc, th = tc_th >> 4, tc_th & 15
        if tc > 1 or th > 3:
            raise BitstreamError(f"corrupt JPEG: Huffman table class {tc} id {th}")
        bits = tuple(cur.take(16))
        tables[tc, th] = HuffmanTable(bits, tuple(cur.take(sum(bits))))


def _parse_dqt(cur: _Cursor, tables: dict[int, np.ndarray]) -> None:
    while cur.left():
        pq_tq = cur.u8()
        if pq_tq >> 4 != 0:
            raise BitstreamError("unsupported JPEG: 16-bit quantisation table (not baseline)")
        if pq_tq & 15 > 3:
            raise BitstreamError(f"corrupt JPEG: quantisation table id {pq_tq & 15}")
        tables[pq_tq & 15] = unzigzag(np.frombuffer(cur.take(64), dtype=np.uint8).astype(np.int32))


def _decode_scan(cur: _Cursor, frame: _Frame, qtables: dict[int, np.ndarray],
                 htables: dict[tuple[int, int], HuffmanTable], data: bytes) -> Coefficients:
    """Parse an SOS header, then entropy-decode ``data`` (stuffing removed) into coefficients."""
    ncomp = cur.u8()
    selectors = [(cur.u8(), cur.u8()) for _ in range(ncomp)]
    ss, se, ahal = cur.u8(), cur.u8(), cur.u8()
    if (ss, se, ahal) != (0, 63, 0):
        raise BitstreamError("unsupported JPEG: scan is not baseline sequential (Ss, Se, Ah/Al)")
    if [cid for cid, _ in selectors] != frame.ids:
        raise BitstreamError("unsupported JPEG: the scan does not hold all components in frame order")
    try:
        tables = [(htables[0, t >> 4], htables[1, t & 15]) for _, t in selectors]
        qt = [qtables[t] for t in frame.qtable_ids]
    except KeyError as err:
        raise BitstreamError(f"corrupt JPEG: scan uses an undefined table {err}") from None
    hmax = max(h for h, _ in frame.sampling)
    vmax = max(v for _, v in frame.sampling)
    if ncomp == 1:
        rows, cols = -(-frame.height // 8), -(-frame.width // 8)
    else:
        rows, cols = -(-frame.height // (8 * vmax)), -(-frame.width // (8 * hmax))
    shapes = [(rows * v, cols * h, 64) for h, v in frame.sampling]
    nblocks = sum(s[0] * s[1] for s in shapes)
    if 2 * nblocks > 8 * len(data):  # every block costs at least two codes (DC and EOB) of >= 1 bit
        raise BitstreamError(f"truncated JPEG: {len(data)} bytes cannot hold {nblocks} blocks")
    planes = [np.empty(s, np.int32) for s in shapes]
    coefs = Coefficients(frame.height, frame.width, planes, frame.sampling, qt)
    comps = scan_order(coefs)[1]
    blocks = decode_blocks(comps, HuffmanScanReader(data, tables))
    coefs.planes = from_scan_order(_with_dc_differences(blocks, comps, inverse=True), coefs)
    return coefs


def parse_jpeg(data: bytes) -> Coefficients:
    """Read a baseline JFIF/JPEG file up to its quantised coefficients (T.81 Annex B).

    APPn and COM segments are skipped; DRI with a nonzero interval, progressive, 12-bit,
    arithmetic-coded, multi-scan files and sampling other than 4:2:0/4:4:4 raise
    :class:`BitstreamError`, as does any truncation or malformed segment.
    """
    data = bytes(data)
    if data[:2] != b"\xff\xd8":
        raise BitstreamError("not a JPEG file (no SOI marker)")
    qtables: dict[int, np.ndarray] = {}
    htables: dict[tuple[int, int], HuffmanTable] = {}
    frame: _Frame | None = None
    pos = 2
    while True:
        if pos + 4 > len(data):
            raise BitstreamError("truncated JPEG: no scan before the end of the file")
        if data[pos] != 0xFF:
            raise BitstreamError(f"corrupt JPEG: expected a marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (SOI, EOI, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a segment
            raise BitstreamError(f"corrupt JPEG: unexpected marker 0x{marker:02X} before the scan")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            raise BitstreamError(f"truncated JPEG: segment 0x{marker:02X} at byte {pos} runs past the end")
        cur = _Cursor(data[pos + 4 : pos + 2 + length], f"0x{marker:02X}")
        pos += 2 + length
        if marker == SOF0:
            if frame is not None:
                raise BitstreamError("corrupt JPEG: two SOF markers")
            frame = _parse_sof(cur)
        elif marker in _UNSUPPORTED_SOF:
            raise BitstreamError(f"unsupported JPEG: {_UNSUPPORTED_SOF[marker]} (not baseline)")
        elif marker == DHT:
            _parse_dht(cur, htables)
        elif marker == DQT:
            _parse_dqt(cur, qtables)
        elif marker == DRI:
            if cur.u16() != 0:
                raise BitstreamError("unsupported JPEG: restart intervals (DRI)")
        elif 0xE0 <= marker <= 0xEF or marker == COM:
            continue
        elif marker == SOS:
            break
        else:
            raise BitstreamError(f"corrupt or unsupported JPEG: unexpected marker 0x{marker:02X}")
    if frame is None:
        raise BitstreamError("corrupt JPEG: scan before any SOF0 frame header")
    end = _END_OF_SCAN.search(data, pos)
    if end is None:
        raise BitstreamError("truncated JPEG: entropy-coded data without an EOI marker")
    marker_at = end.start() + 1
    while marker_at < len(data) and data[marker_at] == 0xFF:  # fill bytes before the marker
        marker_at += 1
    if marker_at >= len(data) or data[marker_at] != EOI:
        found = f"0x{data[marker_at]:02X}" if marker_at < len(data) else "nothing"
        raise BitstreamError(f"unsupported or truncated JPEG: expected EOI after the scan, found {found}")
    entropy = data[pos : end.start()].replace(b"\xff\x00", b"\xff")
    return _decode_scan(cur, frame, qtables, htables, entropy)


def decode(data: bytes) -> torch.Tensor:
    """Decode a baseline JPEG file into a ``[3, H, W]`` image in [0, 1]."""
    return from_uint8(reconstruct(parse_jpeg(data)))


# ============================================================================ arithmetic coding

_BAND = np.array([0, 1, 2, 3, 3, 3, 4, 4, 4, 4, *[5] * 5, *[6] * 13, *[7] * 36])  # zig-zag k -> band


def huffman_prior(table: HuffmanTable, alphabet: int) -> np.ndarray:
    """Counts that say what a Huffman table assumes: a code of length L means probability 2**-L.

    Scaled to a total of about 1024 (``2**(10 - L)``, at least 1), i.e. worth some 30 coded
    symbols, so that adaptation soon takes over; symbols without a code get count 0.
    """
    counts = np.zeros(alphabet)
    for symbol, (_, length) in table.codes.items():
        counts[symbol] = max(1, 1 << max(10 - length, 0))
    return counts


class AdaptiveFrequencies:
    """An adaptive model of one context: an integer count per symbol, grown by every symbol coded.

    Counts start from ``initial``, grow by ``increment`` per occurrence and are halved when
    their sum passes ``limit``, so the model follows the image's local statistics. Encoder and
    decoder update identical counts, and ``constriction`` (``perfect=False``) turns them into
    its 24-bit fixed-point model with a few IEEE-754 operations on these integers: the same
    model on both sides, on every machine.
    """

    def __init__(self, initial: np.ndarray, increment: int = 32, limit: int = 1 << 15) -> None:
        self.counts = np.array(initial, dtype=np.float64)
        self.total = int(self.counts.sum())
        self.increment, self.limit = increment, limit

    def model(self) -> constriction.stream.model.Categorical:
        """The current distribution (``lazy=True`` implies the reproducible ``perfect=False``)."""
        return constriction.stream.model.Categorical(self.counts, lazy=True)

    def update(self, symbol: int) -> None:
        """Count one occurrence of ``symbol``."""
        self.counts[symbol] += self.increment
        self.total += self.increment
        if self.total > self.limit:
            self.counts = np.ceil(self.counts / 2)
            self.total = int(self.counts.sum())


class _ArithmeticContexts:
    """The context models shared by encoder and decoder.

    DC sizes: one model for luma, one for chroma. AC (run, size) symbols: one model per
    luma/chroma, frequency band of the zig-zag position ``k`` where the run starts, and size of
    the block's previous AC coefficient (0 at the start of a block, capped at 3): all things
    the decoder already knows when it decodes the symbol. Every model starts from the standard
    Huffman table's probabilities (:func:`huffman_prior`). Amplitude bits are nearly uniform
    and are coded with uniform models.
    """

    def __init__(self) -> None:
        tables = standard_huffman_tables()
        self.dc = [AdaptiveFrequencies(huffman_prior(tables[0, cls], 12)) for cls in range(2)]
        self.ac = [[[AdaptiveFrequencies(huffman_prior(tables[1, cls], 256)) for _ in range(4)]
                    for _ in range(_BAND.max() + 1)] for cls in range(2)]
        self.uniform = [None] + [constriction.stream.model.Uniform(1 << s) for s in range(1, 12)]
        self.previous_size = 0

    def context(self, comp: int, k: int) -> AdaptiveFrequencies:
        """The model for the next symbol (see :meth:`SymbolWriter.put_symbol`)."""
        return self.dc[min(comp, 1)] if k == 0 else self.ac[min(comp, 1)][_BAND[k]][self.previous_size]

    def update(self, context: AdaptiveFrequencies, k: int, symbol: int) -> None:
        """Adapt ``context`` to ``symbol`` and remember the size for the next symbol's context."""
        context.update(symbol)
        self.previous_size = 0 if k == 0 else min(symbol & 15, 3)


class ArithmeticScanWriter(_ArithmeticContexts):
    """:class:`SymbolWriter` that range-codes with adaptive context models (``constriction``)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = constriction.stream.queue.RangeEncoder()

    def put_symbol(self, comp: int, k: int, symbol: int) -> None:
        context = self.context(comp, k)
        self.encoder.encode(symbol, context.model())
        self.update(context, k, symbol)

    def put_bits(self, value: int, size: int) -> None:
        if size:
            self.encoder.encode(value, self.uniform[size])


class ArithmeticScanReader(_ArithmeticContexts):
    """:class:`SymbolReader` mirroring :class:`ArithmeticScanWriter` step by step."""

    def __init__(self, words: np.ndarray) -> None:
        super().__init__()
        self.decoder = constriction.stream.queue.RangeDecoder(words)

    def get_symbol(self, comp: int, k: int) -> int:
        context = self.context(comp, k)
        symbol = self.decoder.decode(context.model())
        self.update(context, k, symbol)
        return symbol

    def get_bits(self, size: int) -> int:
        return self.decoder.decode(self.uniform[size]) if size else 0


def arithmetic_scan(coefs: Coefficients) -> bytes:
    """Entropy-code the same symbols as :func:`huffman_scan` with adaptive arithmetic coding."""
    blocks, comps = scan_order(coefs)
    coder = ArithmeticScanWriter()
    encode_blocks(_with_dc_differences(blocks, comps), comps, coder)
    return coder.encoder.get_compressed().astype("<u4").tobytes()


def entropy_coded_bytes(image: torch.Tensor, quality: int) -> dict[str, int]:
    """Bytes each entropy coder spends on the same quantised coefficients of ``image``:
    ``{"huffman": ..., "arithmetic": ...}`` (headers excluded)."""
    coefs = quantized_coefficients(image, quality)
    return {"huffman": len(huffman_scan(coefs)), "arithmetic": len(arithmetic_scan(coefs))}


AC_CODEC = "jpeg-scratch-ac"


def encode_arithmetic(image: torch.Tensor, quality: int) -> bytes:
    """``jpeg-scratch-ac``: the coefficients of :func:`encode`, arithmetic-coded, in our container.

    The payload holds the range coder's 32-bit words (the container's checksum covers them and the
    header). The quantisation tables follow from the quality; the sampling is always 4:2:0.
    """
    check_image(image)
    height, width = image.shape[1:]
    coded = arithmetic_scan(quantized_coefficients(image, quality))
    return pack(Header(AC_CODEC, quality, height, width), coded)


def decode_arithmetic(data: bytes) -> torch.Tensor:
    """Decode a ``jpeg-scratch-ac`` container into a ``[3, H, W]`` image in [0, 1]."""
    header, payload = unpack(data)
    if header.codec != AC_CODEC:
        raise BitstreamError(f"not a {AC_CODEC} stream (container says {header.codec!r})")
    if len(payload) % 4:
        raise BitstreamError("corrupt payload: not a whole number of 32-bit words")
    if not 1 <= header.quality <= 100:
        raise BitstreamError(f"corrupt header: quality {header.quality} out of 1..100")
    rows, cols = -(-header.height // 16), -(-header.width // 16)
    luma_q, chroma_q = quant_tables(header.quality)
    shapes = [(2 * rows, 2 * cols, 64), (rows, cols, 64), (rows, cols, 64)]
    template = Coefficients(header.height, header.width, [np.zeros(s, np.int32) for s in shapes],
                            SAMPLING_420, [luma_q, chroma_q, chroma_q])
    comps = scan_order(template)[1]
    reader = ArithmeticScanReader(np.frombuffer(payload, dtype="<u4").astype(np.uint32))
    try:
        decoded = decode_blocks(comps, reader)
    except BitstreamError:
        raise
    except (AssertionError, ValueError, RuntimeError) as err:  # constriction rejects the data
        raise BitstreamError(f"corrupt payload: {err}") from err
    if not reader.decoder.maybe_exhausted():
        raise BitstreamError("corrupt payload: data left over after the last block")
    template.planes = from_scan_order(_with_dc_differences(decoded, comps, inverse=True), template)
    return from_uint8(reconstruct(template))


# ============================================================================ registered codecs

JPEG_QUALITIES = (10, 20, 30, 40, 50, 60, 75, 85, 90, 95)


@register("jpeg-scratch", "Baseline JPEG (4:2:0, Annex K tables) written from scratch in numpy")
class ScratchJPEG(Codec):
    """Chapter 1's JPEG: :func:`encode` / :func:`decode`, real ``.jpg`` files."""

    qualities = JPEG_QUALITIES

    def quality_range(self) -> tuple[int, int]:
        return (1, 100)

    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        return encode(image, self.check_quality(quality))

    def decompress(self, data: bytes) -> torch.Tensor:
        return decode(data)


@register(AC_CODEC, "Chapter 1's JPEG coefficients with adaptive arithmetic coding instead of Huffman")
class ScratchJPEGArithmetic(ScratchJPEG):
    """The same quantised coefficients as ``jpeg-scratch``, entropy-coded by :func:`arithmetic_scan`."""

    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        return encode_arithmetic(image, self.check_quality(quality))

    def decompress(self, data: bytes) -> torch.Tensor:
        return decode_arithmetic(data)
