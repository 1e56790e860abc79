"""A byte-granular range coder for short strings (Chapter 6's rounds of codewords).

``constriction``'s range coder keeps a 64-bit state and writes whole 32-bit words, so sealing a
string costs up to 64 bits. That is nothing for a photo's latents, but a codeword of 16 numbers
carries only a few dozen bits, and a progressive stream seals every round separately. This coder
codes the same integer tables (counts summing to ``2**precision``) with a 64-bit range that is
renormalised byte by byte, and ends a string with the fewest bytes that still identify its final
interval, reading missing bytes as zeros: less than 8 bits over the ideal length per string.

Encoder: ``low`` (64 bits plus a carry) and ``range`` in ``[2**48, 2**64)``; symbol ``s`` with
cumulative count ``c`` and count ``f`` of ``2**p`` maps ``low += r·c``, ``range = r·f`` with
``r = range >> p``; whenever ``range < 2**48`` the top byte of ``low`` is shifted out (with the
carry handling of the LZMA range coder: one cached byte and a run of pending ``0xFF`` bytes).
Values outside a table's support are coded as the escape symbol followed by the value's excess in
the Elias-gamma-like code of :mod:`.tables` (5 bits of length, then the digits), each bit with
probability ½. Pure Python: fine for the few thousand symbols of a round, slow for big latents.
"""
from __future__ import annotations

from bisect import bisect_right

import numpy as np

_BITS = 64
_MASK = (1 << _BITS) - 1
_BOTTOM = 1 << (_BITS - 16)  # renormalise below this range
_LENGTH_BITS = 5  # as the escape code of lic.entropy.tables


class _Encoder:
    def __init__(self, precision: int) -> None:
        self.precision = precision
        self.low, self.range = 0, _MASK
        self.out = bytearray()
        self.cache: int | None = None  # the last byte not yet written (a carry may still change it)
        self.pending = 0  # 0xFF bytes after the cache, waiting for the carry

    def _shift(self) -> None:
        """Move the top byte of ``low`` out (LZMA's ``shift_low`` with a 64-bit ``low``)."""
        top, carry = (self.low >> (_BITS - 8)) & 0xFF, self.low >> _BITS
        if top != 0xFF or carry:
            if self.cache is not None:
                self.out.append((self.cache + carry) & 0xFF)
            self.out.extend([(0xFF + carry) & 0xFF] * self.pending)
            self.pending = 0
            self.cache = top
        else:
            self.pending += 1
        self.low = (self.low << 8) & _MASK

    def encode(self, start: int, size: int) -> None:
        r = self.range >> self.precision
        self.low += r * start
        self.range = r * size
        while self.range < _BOTTOM:
            self.range <<= 8
            self._shift()

    def encode_bits(self, value: int, bits: int) -> None:
        for k in reversed(range(bits)):  # each bit with probability 1/2
            half = 1 << (self.precision - 1)
            self.encode(half * ((value >> k) & 1), half)

    def finish(self) -> bytes:
        """End with the shortest value in ``[low, low + range)`` whose lower bytes are all zero."""
        for keep in range(1, _BITS // 8 + 1):
            unit = 1 << (_BITS - 8 * keep)
            value = -(-self.low // unit) * unit  # low rounded up to a multiple of unit
            if value < self.low + self.range:
                break
        self.low = value
        for _ in range(keep):
            self._shift()
        self.low = 0
        self._shift()  # flush the cache and the pending bytes (no carry can follow)
        out = bytes(self.out)
        return out.rstrip(b"\0")  # the decoder reads missing bytes as zeros


class _Decoder:
    def __init__(self, data: bytes, precision: int) -> None:
        self.data, self.pos, self.precision = data, 0, precision
        self.range = _MASK
        self.code = 0
        for _ in range(_BITS // 8):
            self.code = (self.code << 8) | self._byte()

    def _byte(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1] if self.pos <= len(self.data) else 0

    def decode(self, cumulative: list[int]) -> int:
        """The symbol whose interval holds the code; ``cumulative`` has ``n + 1`` entries."""
        r = self.range >> self.precision
        target = min(self.code // r, (1 << self.precision) - 1)
        s = bisect_right(cumulative, target) - 1
        self.code -= r * cumulative[s]
        self.range = r * (cumulative[s + 1] - cumulative[s])
        while self.range < _BOTTOM:
            self.range <<= 8
            self.code = ((self.code << 8) | self._byte()) & _MASK
        return s

    def decode_bits(self, bits: int) -> int:
        half = [0, 1 << (self.precision - 1), 1 << self.precision]
        value = 0
        for _ in range(bits):
            value = (value << 1) | self.decode(half)
        return value


def _cumulative(counts: np.ndarray, sizes: np.ndarray) -> list[list[int]]:
    return [[0, *np.cumsum(counts[m, : sizes[m]], dtype=np.int64).tolist()] for m in range(len(sizes))]


def encode(values: np.ndarray, tables: np.ndarray, counts: np.ndarray, sizes: np.ndarray,
           offsets: np.ndarray, precision: int) -> bytes:
    """Code integer ``values`` with the integer tables (``counts``, ``sizes``, ``offsets`` as in
    :class:`lic.entropy.TableCoder`); value ``i`` uses table ``tables[i]``."""
    cumulative = _cumulative(counts, sizes)
    encoder = _Encoder(precision)
    for v, m in zip(np.asarray(values, dtype=np.int64).tolist(), np.asarray(tables, dtype=np.int64).tolist()):
        escape = int(sizes[m]) - 1
        index = v - int(offsets[m])
        cum = cumulative[m]
        if 0 <= index < escape:
            encoder.encode(cum[index], cum[index + 1] - cum[index])
            continue
        encoder.encode(cum[escape], cum[escape + 1] - cum[escape])
        below = index < 0
        excess = (int(offsets[m]) - 1 - v) if below else (index - escape)
        u = 2 * excess + below + 1
        n = u.bit_length()
        encoder.encode_bits(n - 1, _LENGTH_BITS)
        encoder.encode_bits(u - (1 << (n - 1)), n - 1)
    return encoder.finish()


def decode(data: bytes, tables: np.ndarray, counts: np.ndarray, sizes: np.ndarray,
           offsets: np.ndarray, precision: int) -> np.ndarray:
    """Inverse of :func:`encode`. A range decoder cannot tell damaged data from good data: damaged
    bytes decode to other values (the progressive container's header and index are checksummed)."""
    cumulative = _cumulative(counts, sizes)
    decoder = _Decoder(bytes(data), precision)
    out = np.empty(len(tables), dtype=np.int64)
    for i, m in enumerate(np.asarray(tables, dtype=np.int64).tolist()):
        escape = int(sizes[m]) - 1
        s = decoder.decode(cumulative[m])
        if s < escape:
            out[i] = int(offsets[m]) + s
            continue
        n = decoder.decode_bits(_LENGTH_BITS) + 1
        u = (1 << (n - 1)) + decoder.decode_bits(n - 1)
        excess, below = (u - 1) >> 1, (u - 1) & 1
        out[i] = int(offsets[m]) - 1 - excess if below else int(offsets[m]) + escape + excess
    return out


def table_arrays(coder) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # noqa: ANN001
    """``(counts, sizes, offsets)`` of a :class:`lic.entropy.TableCoder` as int64 arrays."""
    return (coder.pmf_counts.cpu().numpy().astype(np.int64), coder.pmf_sizes.cpu().numpy().astype(np.int64),
            coder.pmf_offsets.cpu().numpy().astype(np.int64))

