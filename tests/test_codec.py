"""The container header and the registry: round trips, and every malformed input -> BitstreamError."""
import random

import pytest

from lic.codec import MAGIC, BitstreamError, Header, pack, sniff, unpack
from lic.registry import available, get_codec

HEADER = Header("balle2017", 3, 512, 768)
PAYLOAD = bytes(range(256)) * 3


def test_pack_unpack_round_trip():
    data = pack(HEADER, PAYLOAD)
    assert data.startswith(MAGIC)
    assert len(data) == 19 + len("balle2017") + len(PAYLOAD)
    assert unpack(data) == (HEADER, PAYLOAD)


def test_every_truncation_is_a_bitstream_error():
    data = pack(HEADER, PAYLOAD)
    for n in range(len(data)):
        with pytest.raises(BitstreamError):
            unpack(data[:n])


def test_trailing_bytes_are_refused():
    with pytest.raises(BitstreamError, match="payload bytes"):
        unpack(pack(HEADER, PAYLOAD) + b"\0")


def test_random_corruption_is_always_detected():
    rng = random.Random(0)
    data = pack(HEADER, PAYLOAD)
    for _ in range(500):
        corrupt = bytearray(data)
        corrupt[rng.randrange(len(corrupt))] ^= 1 << rng.randrange(8)
        with pytest.raises(BitstreamError):
            unpack(bytes(corrupt))


def test_bad_header_fields_are_refused_when_packing():
    with pytest.raises(ValueError):
        pack(Header("x", 1, 0, 10), b"")
    with pytest.raises(ValueError):
        pack(Header("x", 1, 70000, 10), b"")
    with pytest.raises(ValueError):
        pack(Header("", 1, 10, 10), b"")


@pytest.mark.parametrize("blob", [b"", b"hello world", b"\x89PNG\r\n\x1a\n" + bytes(40), MAGIC + b"\x09"])
def test_unknown_or_foreign_bytes(blob):
    with pytest.raises(BitstreamError):
        sniff(blob)


def test_registry_lists_and_builds_codecs():
    names = available()
    for name in ("jpeg", "jpeg2000", "webp", "avif", "hevc", "jpeg-scratch", "jpeg-scratch-ac"):
        assert name in names
    assert get_codec("jpeg") is get_codec("jpeg")
    with pytest.raises(KeyError, match="unknown codec"):
        get_codec("no-such-codec")


def test_quality_is_checked():
    with pytest.raises(ValueError, match="quality must be an integer"):
        get_codec("jpeg").check_quality(1000)
