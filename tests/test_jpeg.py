"""Tests of lic.jpeg: Chapter 1's baseline JPEG from scratch, and its arithmetic-coded variant."""
from __future__ import annotations

import io
import struct
import time

import numpy as np
import pytest
import torch
from PIL import Image

from lic import jpeg
from lic.codec import BitstreamError, pack, unpack, Header
from lic.registry import get_codec
from lic.data import evaluation_set, from_uint8, to_uint8
from lic.metrics import psnr

# T.81 Figure A.6: the zig-zag sequence, as row-major indices of the 8x8 block.
FIGURE_A6 = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]  # fmt: skip


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """A 128x192 crop of kodim23 (parrots) from the offline evaluation set."""
    return evaluation_set("kodim23")[0][1][:, 180:308, 280:472].contiguous()


@pytest.fixture(scope="module")
def small(photo: torch.Tensor) -> torch.Tensor:
    """A 48x64 crop: small enough to cut and corrupt it byte by byte."""
    return photo[:, 40:88, 60:124].contiguous()


def pillow_jpeg(image: torch.Tensor, **options: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buf, "JPEG", **options)
    return buf.getvalue()


def pillow_decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of every segment before the scan data."""
    out, pos = [], 2
    while True:
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        out.append((marker, data[pos + 4 : pos + 2 + length]))
        if marker == jpeg.SOS:
            return out
        pos += 2 + length


def dht_tables(data: bytes) -> dict[int, bytes]:
    """``{class << 4 | id: BITS + HUFFVAL}`` of every Huffman table in a JPEG file."""
    tables = {}
    for marker, payload in segments(data):
        while marker == jpeg.DHT and payload:
            count = sum(payload[1:17])
            tables[payload[0]] = payload[1 : 17 + count]
            payload = payload[17 + count :]
    return tables


# ----------------------------------------------------------------------------- the steps


def test_colour_transform_round_trip() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    ycc = jpeg.rgb_to_ycbcr(rgb)
    assert np.allclose(jpeg.rgb_to_ycbcr(np.full((1, 1, 3), 200))[0, 0], [200, 128, 128])
    assert np.array_equal(jpeg.round_samples(jpeg.ycbcr_to_rgb(ycc)), rgb)


def test_subsampling() -> None:
    x = np.array([[0, 1, 2, 3], [4, 5, 6, 8]], dtype=np.uint8)
    # (0+1+4+5+1)>>2 = 2, (2+3+6+8+2)>>2 = 5: libjpeg's alternating bias
    assert jpeg.subsample_420(x).tolist() == [[2, 5]]
    assert jpeg.subsample_420(np.zeros((7, 5), np.uint8)).shape == (4, 3)
    with pytest.raises(ValueError, match="round them first"):  # floats would be truncated, not rounded
        jpeg.subsample_420(np.full((2, 2), 1.9))
    flat = np.full((5, 6), 77, dtype=np.uint8)
    assert np.all(jpeg.upsample_420(flat) == 77) and jpeg.upsample_420(flat).shape == (10, 12)
    ramp = np.tile(np.arange(0, 80, 10, dtype=np.uint8), (4, 1))
    up = jpeg.upsample_420(ramp).astype(int)
    assert np.all(np.diff(up[:, 1:-1], axis=1) >= 0)  # the triangle filter keeps a ramp monotonic


def test_blocks_and_dct() -> None:
    C = jpeg.dct_matrix()
    assert np.allclose(C @ C.T, np.eye(8))
    rng = np.random.default_rng(1)
    plane = rng.integers(0, 256, (13, 21)).astype(np.float64)
    blocks = jpeg.blockify(plane)
    assert blocks.shape == (2, 3, 8, 8) and jpeg.blockify(plane, 16).shape == (2, 4, 8, 8)
    assert np.array_equal(jpeg.unblockify(blocks)[:13, :21], plane)
    assert np.all(jpeg.unblockify(blocks)[13:, :21] == plane[-1])  # edge replication
    assert np.allclose(jpeg.idct2(jpeg.dct2(blocks)), blocks)
    assert np.allclose(jpeg.dct2(np.full((8, 8), 10.0))[0, 0], 80.0)  # DC = 8 x mean
    basis = jpeg.dct_basis()
    assert np.allclose(jpeg.dct2(basis).reshape(64, 64), np.eye(64))


def test_quant_tables() -> None:
    luma, chroma = jpeg.quant_tables(50)
    assert np.array_equal(luma, jpeg.LUMA_QTABLE) and np.array_equal(chroma, jpeg.CHROMA_QTABLE)
    assert all(np.all(t == 1) for t in jpeg.quant_tables(100))
    assert all(np.all(t == 255) for t in jpeg.quant_tables(1))
    assert jpeg.quant_tables(10)[0][0, 0] == 80 and jpeg.quant_tables(90)[0][0, 0] == 3
    with pytest.raises(ValueError):
        jpeg.quant_tables(0)
    # The same tables as libjpeg's (Pillow reports them in natural order).
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    for q in (5, 25, 75, 95):
        tables = Image.open(io.BytesIO(pillow_jpeg(image, quality=q))).quantization
        assert [list(t.ravel()) for t in jpeg.quant_tables(q)] == [list(tables[0]), list(tables[1])]


def test_quantize_rounds_half_away_from_zero() -> None:
    assert jpeg.quantize_coefficients(np.array([2.5, -2.5, 7.49, -7.5]), 5).tolist() == [1, -1, 1, -2]


def test_zigzag() -> None:
    assert jpeg.ZIGZAG.tolist() == FIGURE_A6
    assert sorted(FIGURE_A6) == list(range(64))
    block = np.arange(64).reshape(8, 8)
    assert jpeg.zigzag(block).tolist() == FIGURE_A6
    assert np.array_equal(jpeg.unzigzag(jpeg.zigzag(block)), block)


def test_symbols() -> None:
    assert [jpeg.magnitude_category(v) for v in (0, 1, -1, 2, -3, 255, -1024)] == [0, 1, 1, 2, 2, 8, 11]
    for v in range(-2047, 2048):
        size = jpeg.magnitude_category(v)
        bits = jpeg.amplitude_bits(v, size)
        assert 0 <= bits < (1 << size) or size == 0
        assert jpeg.extend(bits, size) == v
    assert jpeg.amplitude_bits(-3, 2) == 0b00 and jpeg.amplitude_bits(3, 2) == 0b11
    ac = [5, 0, 0, -3] + [0] * 59
    assert jpeg.run_length(ac) == [(0x03, 5), (0x22, -3), (jpeg.EOB, 0)]
    ac = [0] * 20 + [1] + [0] * 41 + [-2]  # a run of 20 zeros, and a nonzero last coefficient
    assert jpeg.run_length(ac) == [(jpeg.ZRL, 0), (0x41, 1), (jpeg.ZRL, 0), (jpeg.ZRL, 0), (0x92, -2)]
    assert jpeg.run_length([0] * 63) == [(jpeg.EOB, 0)]
    dc = np.array([10, 12, 9, 9])
    assert jpeg.dc_differences(dc).tolist() == [10, 2, -3, 0]
    assert jpeg.undo_dc_differences(jpeg.dc_differences(dc)).tolist() == dc.tolist()


def test_huffman_tables_are_prefix_free_and_standard(photo: torch.Tensor) -> None:
    for _, _, bits, values in jpeg.STANDARD_HUFFMAN_TABLES:
        codes = jpeg.huffman_codes(bits, values)
        assert len(codes) == len(values) == sum(bits)
        strings = sorted(format(c, f"0{n}b") for c, n in codes.values())
        assert all(not b.startswith(a) for a, b in zip(strings, strings[1:]))
        assert all(s != "1" * len(s) for s in strings)  # the all-ones code is never used (K.2)
    rs = {jpeg.EOB, jpeg.ZRL} | {run << 4 | size for run in range(16) for size in range(1, 11)}
    assert set(jpeg.AC_LUMA_VALUES) == set(jpeg.AC_CHROMA_VALUES) == rs
    # The very tables libjpeg writes (in its own order of DHT segments).
    assert dht_tables(jpeg.encode(photo, 75)) == dht_tables(pillow_jpeg(photo, quality=75))


def test_bit_writer_and_reader() -> None:
    writer = jpeg.BitWriter()
    writer.write(0xFF, 8)
    writer.write(0b101, 3)
    data = writer.getvalue()
    assert data == b"\xff\x00\xbf"  # stuffed zero; 101 padded with ones
    reader = jpeg.BitReader(data.replace(b"\xff\x00", b"\xff"))
    assert reader.read(8) == 0xFF and reader.read(3) == 0b101 and reader.read(5) == 0b11111
    with pytest.raises(BitstreamError):
        reader.read(1)


# ----------------------------------------------------------------------------- the codec


@pytest.mark.parametrize("shape", [(1, 1), (23, 37), (48, 64), (17, 1), (2, 5)])
def test_round_trip_any_size(photo: torch.Tensor, shape: tuple[int, int]) -> None:
    h, w = shape
    image = photo[:, 50 : 50 + h, 70 : 70 + w]
    data = jpeg.encode(image, 90)
    out = jpeg.decode(data)
    assert out.shape == (3, h, w) and out.dtype == torch.float32
    assert 0 <= out.min() and out.max() <= 1
    assert psnr(out, image) > 28
    assert np.abs(pillow_decode(data).astype(int) - to_uint8(out).astype(int)).max() <= 3


def test_pillow_agrees_with_our_decoder(photo: torch.Tensor) -> None:
    for image in (photo, photo[:, :23, :37]):
        data = jpeg.encode(image, 75)
        assert Image.open(io.BytesIO(data)).format == "JPEG"
        ours = jpeg.decode(data)
        assert psnr(from_uint8(pillow_decode(data)), ours) > 55  # same up to IDCT rounding
        assert abs(psnr(from_uint8(pillow_decode(data)), image) - psnr(ours, image)) < 0.05


@pytest.mark.parametrize("quality", [50, 75, 90])
def test_size_and_psnr_match_pillow(photo: torch.Tensor, quality: int) -> None:
    ours = jpeg.encode(photo, quality)
    theirs = pillow_jpeg(photo, quality=quality)
    assert abs(len(ours) / len(theirs) - 1) < 0.03
    ours_psnr = psnr(jpeg.decode(ours), photo)
    theirs_psnr = psnr(from_uint8(pillow_decode(theirs)), photo)
    assert abs(ours_psnr - theirs_psnr) < 0.1


@pytest.mark.parametrize("options", [{}, {"optimize": True}, {"subsampling": 0}, {"grey": True}])
def test_decodes_pillow_files(photo: torch.Tensor, options: dict) -> None:
    image = photo[:, :45, :67]
    if options.pop("grey", False):
        buf = io.BytesIO()
        Image.fromarray(to_uint8(image)).convert("L").save(buf, "JPEG", quality=80)
        data = buf.getvalue()
    else:
        data = pillow_jpeg(image, quality=80, **options)
    ours = to_uint8(jpeg.decode(data)).astype(int)
    assert np.abs(ours - pillow_decode(data).astype(int)).max() <= 3


def test_registered_codecs(photo: torch.Tensor) -> None:
    codec = get_codec("jpeg-scratch")
    assert codec.quality_range() == (1, 100) and 75 in codec.qualities
    data = codec.compress(photo, 60)
    assert data[:3] == b"\xff\xd8\xff"
    assert torch.equal(codec.decompress(data), jpeg.decode(data))
    for bad in (0, 101, 50.5):
        with pytest.raises(ValueError):
            codec.compress(photo, bad)


# ----------------------------------------------------------------------------- malformed input


def test_truncation_at_every_byte(small: torch.Tensor) -> None:
    data = jpeg.encode(small, 75)
    for n in range(len(data)):
        with pytest.raises(BitstreamError):
            jpeg.decode(data[:n])


def test_entropy_data_running_out(small: torch.Tensor) -> None:
    data = jpeg.encode(small, 75)
    scan_start = data.index(b"\xff\xda") + 14
    for cut in (scan_start + 1, (scan_start + len(data)) // 2):
        with pytest.raises(BitstreamError, match="truncated|invalid Huffman|corrupt"):
            jpeg.decode(data[:cut].rstrip(b"\xff") + b"\xff\xd9")


def test_random_corruption(small: torch.Tensor) -> None:
    data = jpeg.encode(small, 75)
    rng = np.random.default_rng(2024)
    start = time.perf_counter()
    errors = 0
    for _ in range(400):
        corrupt = bytearray(data)
        for pos in rng.integers(0, len(data), rng.integers(1, 4)):
            corrupt[pos] = rng.integers(0, 256)
        t0 = time.perf_counter()
        try:
            out = jpeg.decode(bytes(corrupt))
        except BitstreamError:
            errors += 1
        else:
            assert out.ndim == 3 and out.shape[0] == 3 and 0 <= out.min() and out.max() <= 1
        assert time.perf_counter() - t0 < 2
    assert errors > 0 and time.perf_counter() - start < 15


def test_unsupported_jpegs(small: torch.Tensor) -> None:
    data = jpeg.encode(small, 75)
    sof = data.index(b"\xff\xc0")
    cases = {
        "no SOI": b"GIF89a" + data[6:],
        "empty": b"",
        "progressive": pillow_jpeg(small, quality=75, progressive=True),
        "12-bit": data[: sof + 4] + b"\x0c" + data[sof + 5 :],
        "arithmetic": data[:sof] + b"\xff\xc9" + data[sof + 2 :],
        "restart": data[:sof] + b"\xff\xdd\x00\x04\x00\x02" + data[sof:],
        "4:2:2": data[: sof + 11] + b"\x21" + data[sof + 12 :],
        "second scan": data[:-2] + data[data.index(b"\xff\xda") :],
    }
    for name, bad in cases.items():
        with pytest.raises(BitstreamError):
            jpeg.decode(bad)


# ----------------------------------------------------------------------------- arithmetic coding


def test_arithmetic_codec_is_exact_and_smaller(photo: torch.Tensor) -> None:
    codec = get_codec("jpeg-scratch-ac")
    for image in (photo, photo[:, :23, :37], photo[:, :1, :1]):
        data = codec.compress(image, 75)
        assert torch.equal(codec.decompress(data), jpeg.decode(jpeg.encode(image, 75)))
    sizes = jpeg.entropy_coded_bytes(photo, 75)
    assert sizes["arithmetic"] < 0.97 * sizes["huffman"]
    assert len(codec.compress(photo, 75)) < len(jpeg.encode(photo, 75))


def test_arithmetic_codec_rejects_bad_streams(small: torch.Tensor) -> None:
    codec = get_codec("jpeg-scratch-ac")
    data = codec.compress(small, 50)
    header, payload = unpack(data)
    for n in (0, 5, len(data) // 2, len(data) - 1):
        with pytest.raises(BitstreamError):
            codec.decompress(data[:n])
    flipped = bytearray(data)
    flipped[-3] ^= 0x10
    header_flips = []
    for pos in range(3, 19 + len(header.codec)):  # every header byte after the magic is checksummed
        corrupt = bytearray(data)
        corrupt[pos] ^= 0x04
        header_flips.append(bytes(corrupt))
    other_codec = pack(Header("jpeg-scratch", header.quality, header.height, header.width), payload)
    bad_words = pack(header, b"\x00\x00\x00\x01" * 3)
    for bad in (bytes(flipped), *header_flips, other_codec, bad_words):
        with pytest.raises(BitstreamError):
            codec.decompress(bad)


def test_the_longhand_colour_equations_are_the_published_matrices():
    rgb = np.random.default_rng(0).integers(0, 256, (7, 5, 3)).astype(np.float64)
    offset = np.array([0.0, jpeg.colour.CHROMA_OFFSET, jpeg.colour.CHROMA_OFFSET])
    ycc = rgb @ np.array(jpeg.colour.RGB_TO_YCBCR).T + offset
    np.testing.assert_allclose(jpeg.rgb_to_ycbcr(rgb), ycc, atol=1e-9)
    np.testing.assert_allclose(jpeg.ycbcr_to_rgb(ycc), (ycc - offset) @ np.array(jpeg.colour.YCBCR_TO_RGB).T, atol=1e-9)
