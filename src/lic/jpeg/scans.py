"""Scans of blocks: one symbol logic for every entropy coder (Huffman here, arithmetic in :mod:`.arithmetic`)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..codec import BitstreamError
from .huffman import BitReader, BitWriter, HuffmanTable
from .symbols import EOB, ZRL, amplitude_bits, dc_differences, extend, magnitude_category, run_length, undo_dc_differences


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
