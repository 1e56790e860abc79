"""The JFIF bitstream: the baseline encoder that writes a real ``.jpg``, and a decoder for baseline files."""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import numpy as np
import torch

from ..codec import BitstreamError, check_image_size
from ..data import check_image, from_uint8, to_uint8
from .colour import blockify, rgb_to_ycbcr, round_samples, subsample_420, unblockify, upsample_420, ycbcr_to_rgb
from .dct import dct2, dequantize_coefficients, idct2, quant_tables, quantize_coefficients
from .huffman import STANDARD_HUFFMAN_TABLES, HuffmanTable, standard_huffman_tables
from .scans import Coefficients, HuffmanScanReader, HuffmanScanWriter, _with_dc_differences, decode_blocks, encode_blocks, from_scan_order, scan_order
from .symbols import unzigzag, zigzag

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
        zigzag(quantize_coefficients(dct2(blockify(p).astype(np.float64) - 128.0), q))
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




def reconstruct(coefs: Coefficients) -> np.ndarray:
    """Decoder steps after entropy decoding: dequantise, IDCT, upsample, YCbCr -> RGB.

    Returns the ``[H, W, 3]`` uint8 RGB image (grey for a single component).
    """
    hmax = max(h for h, _ in coefs.sampling)
    vmax = max(v for _, v in coefs.sampling)
    channels = []
    for plane, (h, v), q in zip(coefs.planes, coefs.sampling, coefs.qtables):
        samples = round_samples(idct2(dequantize_coefficients(unzigzag(plane), q)) + 128.0)
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
    check_image_size(height, width)
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
