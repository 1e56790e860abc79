"""Huffman coding of the symbols: the Annex K tables, codes from code lengths, bit I/O with byte stuffing."""
from __future__ import annotations

import functools
from collections.abc import Sequence

from ..codec import BitstreamError

# T.81 Annex K.3, Tables K.3-K.6: BITS (how many codes of each length 1..16) and HUFFVAL.
DC_LUMA_BITS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
DC_CHROMA_BITS = (0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0)
DC_VALUES = tuple(range(12))
AC_LUMA_BITS = (0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D)
AC_LUMA_VALUES = bytes.fromhex("01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9fa")
AC_CHROMA_BITS = (0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77)
AC_CHROMA_VALUES = bytes.fromhex("000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9fa")
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
