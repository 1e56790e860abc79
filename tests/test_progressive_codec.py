"""Chapter 6's progressive codec: tiles, rounds of codewords, truncation, target-PSNR encoding."""
from __future__ import annotations

import pytest
import torch

from lic.checkpoints import save_checkpoint
from lic.codec import BitstreamError, sniff, unpack_progressive
from lic.metrics import psnr
from lic.models.ashok2019 import RecurrentAttentionCodec
from lic.progressive_codec import ProgressiveCodec
from lic.registry import get_codec

pytestmark = pytest.mark.usefixtures("one_thread")

ARGS = {"size": 16, "channels": 3, "grid": 4, "glimpses": 2, "code": 8, "sessions": 4, "lmbda": 0.02}


def _shipped(folder, stem: str, **changes) -> ProgressiveCodec:
    """A small model trained for a few steps on smooth images, saved as a checkpoint."""
    torch.manual_seed(0)
    args = {**ARGS, **changes}
    model = RecurrentAttentionCodec(**args)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(20):
        x = torch.nn.functional.interpolate(torch.rand(4, 3, 4, 4), size=32, mode="bilinear")
        loss, _ = model.training_loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    save_checkpoint(model, folder / stem, {"model": "ashok2019", "model_args": args})
    return ProgressiveCodec(stem, folder=folder, name="ashok2019")


@pytest.fixture(scope="module")
def codec(tmp_path_factory) -> ProgressiveCodec:
    return _shipped(tmp_path_factory.mktemp("weights"), "ashok-test")


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.nn.functional.interpolate(torch.rand(1, 3, 6, 8), size=(37, 45), mode="bilinear")[0]


def test_qualities_are_target_psnrs(codec: ProgressiveCodec) -> None:
    assert codec.quality_range() == (1, 99) and list(codec.qualities) == sorted(codec.qualities)


def test_round_trip_of_an_odd_sized_image(codec: ProgressiveCodec, image: torch.Tensor) -> None:
    data = codec.compress(image, 99)
    assert sniff(data) == "ashok2019"
    out = codec.decompress(data)
    assert out.shape == image.shape and 0 <= float(out.min()) and float(out.max()) <= 1
    header, index, rounds = unpack_progressive(data)
    assert (header.height, header.width) == (37, 45) and len(index) == (3 * 3 + 1) // 2
    assert 1 <= len(rounds) <= ARGS["sessions"]  # an unreachable target: codewords until none helps


def test_the_target_psnr_sets_each_tiles_code_length(codec: ProgressiveCodec, image: torch.Tensor) -> None:
    low = codec.compress(image, 1)
    assert len(unpack_progressive(low)[2]) == 1  # every tile reaches 1 dB with its first codeword
    mid_quality = round(psnr(image, codec.decompress(codec.compress(image, 99))))
    counts = [v for byte in unpack_progressive(codec.compress(image, mid_quality))[1] for v in (byte >> 4, byte & 15)][:9]
    assert min(counts) >= 1 and max(counts) <= ARGS["sessions"]
    assert len(low) < len(codec.compress(image, 99))


def _counts(data: bytes, tiles: int) -> list[int]:
    return [v for byte in unpack_progressive(data)[1] for v in (byte >> 4, byte & 15)][:tiles]


def test_a_stream_cut_after_any_round_decodes_to_the_coarser_image(codec: ProgressiveCodec, image: torch.Tensor) -> None:
    data = codec.compress(image, 99)
    model = codec.model()
    counts = torch.tensor(_counts(data, 9))
    padded = torch.nn.functional.pad(image[None], (0, 3, 0, 11), mode="replicate")
    with torch.no_grad():  # what s codewords per tile give, computed without any bitstream
        by_sessions = [model(padded, sessions=s)["x_hat"][0] for s in range(1, int(counts.max()) + 1)]
    previous = None
    for r in range(1, len(unpack_progressive(data)[2]) + 1):
        prefix = ProgressiveCodec.truncate(data, r)
        assert data.startswith(prefix)
        decoded = codec.decompress(prefix)
        expected = torch.empty_like(by_sessions[0])
        for i, c in enumerate(counts.tolist()):  # tile i holds min(r, c) codewords
            rows, cols = slice(16 * (i // 3), 16 * (i // 3 + 1)), slice(16 * (i % 3), 16 * (i % 3 + 1))
            expected[:, rows, cols] = by_sessions[min(r, c) - 1][:, rows, cols]
        assert torch.allclose(decoded, expected[:, :37, :45].clamp(0, 1), atol=1e-5)
        assert previous is None or not torch.equal(decoded, previous)
        previous = decoded
    with pytest.raises(BitstreamError, match="cut between chunks"):
        codec.decompress(data[:-1])


def test_no_codeword_lowers_the_psnr(tmp_path, image: torch.Tensor) -> None:
    torch.manual_seed(2)  # untrained: many codewords would make the canvas worse, so the encoder stops those tiles
    args = {**ARGS, "sessions": 8}
    save_checkpoint(RecurrentAttentionCodec(**args), tmp_path / "untrained", {"model": "ashok2019", "model_args": args})
    untrained = ProgressiveCodec("untrained", folder=tmp_path, name="ashok2019")
    data = untrained.compress(image, 99)
    assert min(_counts(data, 9)) < args["sessions"]  # the check stopped some tile early
    rounds = len(unpack_progressive(data)[2])
    scores = [psnr(image, untrained.decompress(ProgressiveCodec.truncate(data, r))) for r in range(1, rounds + 1)]
    assert all(b >= a for a, b in zip(scores, scores[1:])), scores


def test_each_round_holds_what_the_entropy_model_estimates(codec: ProgressiveCodec, image: torch.Tensor) -> None:
    _, index, rounds = unpack_progressive(codec.compress(image, 99))
    estimates = codec.model().estimated_bits(_counts(codec.compress(image, 99), 9), rounds)
    for string, estimate in zip(rounds, estimates, strict=True):  # a short string ends in less than a byte
        assert abs(8 * len(string) - estimate) <= 8 + 0.01 * estimate, (8 * len(string), estimate)


def test_decoding_does_not_depend_on_the_thread_count(codec: ProgressiveCodec, image: torch.Tensor) -> None:
    data = codec.compress(image, 99)
    torch.set_num_threads(2)
    two = codec.decompress(data)
    torch.set_num_threads(1)
    assert torch.equal(two, codec.decompress(data))


def test_corrupt_and_foreign_streams_raise(codec: ProgressiveCodec, image: torch.Tensor) -> None:
    data = bytearray(codec.compress(image, 99))
    header, index, _ = unpack_progressive(bytes(data))
    start = data.index(index)
    data[start] ^= 0xFF
    with pytest.raises(BitstreamError, match="checksum"):
        codec.decompress(bytes(data))
    with pytest.raises(BitstreamError):
        codec.decompress(get_codec("jpeg").compress(image, 50))


def test_a_luminance_model_decodes_grey_images(tmp_path, image: torch.Tensor) -> None:
    grey = _shipped(tmp_path, "ashok-grey", channels=1)
    out = grey.decompress(grey.compress(image, 99))
    assert out.shape == image.shape and torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


def test_every_single_bit_flip_in_a_chunk_is_reported(codec: ProgressiveCodec, image: torch.Tensor) -> None:
    """Each chunk has its own check: a flipped bit in any chunk byte (or its check) never decodes."""
    data = codec.compress(image, 99)
    _, index, chunks = unpack_progressive(data)
    first_chunk = len(data) - sum(len(c) + 3 for c in chunks)     # 1 length byte + 2 check bytes per chunk
    assert first_chunk > 0 and all(len(c) < 128 for c in chunks)
    for position in range(first_chunk, len(data)):
        for bit in (0, 5):
            damaged = bytearray(data)
            damaged[position] ^= 1 << bit
            with pytest.raises(BitstreamError):
                codec.decompress(bytes(damaged))


def test_chunks_swapped_or_taken_from_another_stream_are_reported(codec: ProgressiveCodec, image: torch.Tensor) -> None:
    from lic.codec import Header, pack_progressive

    data = codec.compress(image, 99)
    header, index, chunks = unpack_progressive(data)
    assert len(chunks) >= 2 and all(len(c) < 128 for c in chunks)
    head = len(data) - sum(len(c) + 3 for c in chunks)
    first, second = 3 + len(chunks[0]), 3 + len(chunks[1])       # framed: length byte, check, bytes
    a, b = data[head:head + first], data[head + first:head + first + second]
    with pytest.raises(BitstreamError, match="chunk 1 fails its check"):
        unpack_progressive(data[:head] + b + a + data[head + first + second:])
    other = pack_progressive(Header(header.codec, header.quality + 1, header.height, header.width), index, [])
    with pytest.raises(BitstreamError, match="chunk 1 fails its check"):
        unpack_progressive(other + data[head:])


def test_a_stream_without_chunks_is_refused(codec: ProgressiveCodec, image: torch.Tensor) -> None:
    from lic.codec import pack_progressive

    header, index, _ = unpack_progressive(codec.compress(image, 99))
    with pytest.raises(BitstreamError, match="at least one chunk"):
        codec.decompress(pack_progressive(header, index, []))
