"""Bad input gets one clear error: every codec's decoder under mutation fuzzing, and round trips of
every codec on images of any size, channel count and bit depth (property tests).

The quick, seeded fuzz run here decodes 200 damaged streams per codec (``scripts/fuzz.py``; the
long run is ``make fuzz``). Each decode runs in a worker process with a 1 GiB address-space limit
and a 20 s time limit; a crash, a MemoryError, a hang or a damaged container that decodes
silently fails the test.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lic.codec import BitstreamError, Header, pack
from lic.data import load_image
from lic.learned_codec import LearnedCodec
from lic.registry import available, get_codec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))   # spawned workers inherit sys.path, so they find fuzz too
import fuzz  # noqa: E402

CODECS = sorted(available())
PER_CODEC = 200


@pytest.fixture(scope="module")
def decoder():
    worker = fuzz.Decoder()
    yield worker
    worker.stop()


@pytest.mark.parametrize("name", CODECS)
def test_damaged_streams_fail_cleanly(name, decoder):
    decoder.stop()   # a fresh worker, and memory limit, per codec
    result = fuzz.fuzz_codec(name, PER_CODEC, seed=0, decoder=decoder)
    assert sum(result["outcomes"].values()) == PER_CODEC
    bad = {k: result["outcomes"].get(k, 0) for k in fuzz.FAILURES}
    assert not any(bad.values()), (bad, result["failures"])
    assert result["outcomes"].get("refused", 0) > PER_CODEC // 3   # the mutations do damage


@pytest.mark.parametrize("answer, failure", [("decoded", "silent"), ("crash", "crash"), ("hang", "hang")])
def test_the_harness_reports_what_a_bad_decoder_does(answer, failure):
    """The fuzzer itself can fail: a decoder that accepts every damaged container (silent garbage),
    raises something else than a bitstream error, or hangs, is reported as such."""
    class Bad:
        def decode(self, name, data):
            return answer, "what a bad decoder does"

    result = fuzz.fuzz_codec("balle2017", 60, seed=1, decoder=Bad())
    assert result["outcomes"].get(failure, 0) > 0 and result["failures"][0]["outcome"] == failure


def test_a_progressive_stream_cut_between_rounds_is_reported_as_cut_not_silent(decoder):
    """Cutting ashok2019's stream between rounds is its design (a coarser image), not damage that got
    through: the worker asks the codec how many rounds the stream holds and reports ``cut``."""
    from lic.progressive_codec import ProgressiveCodec

    decoder.stop()
    stream = max(fuzz.seed_streams("ashok2019"), key=len)
    assert decoder.decode("ashok2019", stream)[0] == "decoded"
    outcome, detail = decoder.decode("ashok2019", ProgressiveCodec.truncate(stream, 1))
    assert outcome == "cut" and detail.startswith("1 of ") and "cut" not in fuzz.FAILURES


def test_an_allocation_beyond_the_limit_is_caught(monkeypatch):
    """With the size cap lifted, a stream that claims 65535x32768 px, with as many bytes as such an
    image needs at least, makes the decoder ask for gigabytes: the worker's address-space limit turns
    that into a reported MemoryError, not a swap storm."""
    monkeypatch.setenv("LIC_MAX_PIXELS", str(1 << 40))   # inherited by the spawned worker
    codec = get_codec("balle2017")
    least = codec.model(3).least_payload_bits(codec.padded_shape(3, 32768, 65535), codec.rate(3))
    worker = fuzz.Decoder()
    try:
        outcome, _ = worker.decode("balle2017", pack(Header("balle2017", 3, 32768, 65535), bytes(int(least) // 8 + 1)))
    finally:
        worker.stop()
    assert outcome == "memory"


@pytest.mark.parametrize("name", [n for n in available() if isinstance(get_codec(n), LearnedCodec)])
def test_a_header_larger_than_its_payload_can_hold_is_refused_before_decoding(name):
    """Every latent costs at least -log2 of its table's largest probability: 200 bytes cannot hold a
    4096x4096 image, whatever the header says (a checksum-valid stream: the CRC does not catch it)."""
    codec = get_codec(name)
    quality = codec.qualities[0]
    started = time.perf_counter()
    with pytest.raises(BitstreamError, match="too short for its header: a 4096x4096 image needs at least"):
        codec.decompress(pack(Header(name, quality, 4096, 4096), bytes(200)))
    assert time.perf_counter() - started < 2


def test_mutations_cover_every_kind():
    import random

    rng = random.Random(0)
    stream = pack(Header("balle2017", 3, 64, 64), bytes(100))
    kinds = {fuzz.mutate(stream, rng)[0] for _ in range(400)}
    assert kinds == set(fuzz.KINDS)
    kind, data, fixed = next(m for m in (fuzz.mutate(stream, rng) for _ in range(400)) if m[0] == "payload+crc")
    from lic.codec import unpack
    assert fixed and unpack(data)[1] != bytes(100)   # the damage got past the checksum, as intended


# --------------------------------------------------------------------------- property tests
MODES = {"L": (np.uint8, 1), "RGB": (np.uint8, 3), "RGBA": (np.uint8, 4), "I;16": (np.uint16, 1)}


@st.composite
def image_files(draw, tmp: Path):
    """A PNG of a random size (1x1 up to 1x5000 or 5000x1), mode (grey, RGB, RGBA, 16-bit grey)."""
    long_side = draw(st.sampled_from([1, 2, 7, 33, 130, 5000]))
    short_side = draw(st.integers(1, min(long_side, 40)))
    height, width = (short_side, long_side) if draw(st.booleans()) else (long_side, short_side)
    mode = draw(st.sampled_from(sorted(MODES)))
    dtype, channels = MODES[mode]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    top = np.iinfo(dtype).max
    pixels = rng.integers(0, top + 1, size=(height, width, channels), dtype=np.int64).astype(dtype)
    path = tmp / f"{height}x{width}-{mode.replace(';', '')}.png"
    image = Image.fromarray(pixels[..., 0] if channels == 1 else pixels)   # uint16 grey gives I;16
    assert image.mode == mode
    image.save(path)
    return path


@pytest.mark.parametrize("name", CODECS)
def test_any_image_file_round_trips(name, tmp_path_factory):
    codec = get_codec(name)
    tmp = tmp_path_factory.mktemp(name)

    @settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(image_files(tmp))
    def round_trip(path):
        image = load_image(path)
        try:
            data = codec.compress(image, codec.qualities[0])
        except ValueError as err:        # a format's own size limit, said in one line
            assert "cannot encode a" in str(err) and "\n" not in str(err)
            return
        out = codec.decompress(data)
        assert out.shape == image.shape and out.dtype == torch.float32
        assert 0 <= float(out.min()) and float(out.max()) <= 1

    round_trip()
