"""Adaptive arithmetic coding of Chapter 1's symbols (``constriction``), in our container."""
from __future__ import annotations

import constriction
import numpy as np
import torch

from ..codec import BitstreamError, Header, pack, unpack
from ..data import check_image, from_uint8
from .dct import quant_tables
from .huffman import HuffmanTable, standard_huffman_tables
from .jfif import SAMPLING_420, huffman_scan, quantized_coefficients, reconstruct
from .scans import Coefficients, _with_dc_differences, decode_blocks, encode_blocks, from_scan_order, scan_order

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
