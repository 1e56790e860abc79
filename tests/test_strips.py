"""Bounded memory: every learned codec analyses and synthesises a large image in strips, and the
strips compute what the whole image would (their margins cover the transforms' reach)."""
import pytest
import torch

from lic.data import evaluation_set, pad_to_multiple
from lic.learned_codec import LearnedCodec
from lic.models import base
from lic.registry import available, get_codec

LEARNED = [name for name in available() if isinstance(get_codec(name), LearnedCodec)]
SMALL_STRIPS = 48 * 96  # pixels per strip in these tests: a 256 x 96 crop takes several


@pytest.fixture(scope="module")
def crop() -> torch.Tensor:
    _, image = evaluation_set(["kodim23"])[0]
    return image[:, 100:356, 300:396]  # 256 x 96: 16 latent rows at stride 16


def test_strip_spans_cover_the_rows_once_and_keep_small_images_whole(monkeypatch):
    assert base.strip_spans(24, base.STRIP_PIXELS) == [(0, 24)]
    assert base.strip_spans(24, 768 * 512, minimum=2) == [(0, 12), (12, 24)]  # decoding as before strips
    spans = base.strip_spans(250, 6000 * 4000, minimum=2)
    assert len(spans) == 23 and spans[0][0] == 0 and spans[-1][1] == 250
    assert all(b == c for (_, b), (c, _) in zip(spans, spans[1:]))
    assert base.strip_spans(3, 10**9) == [(0, 1), (1, 2), (2, 3)]  # never more strips than rows


@pytest.mark.parametrize("name", LEARNED)
def test_strips_reproduce_the_whole_image_for_every_learned_codec(name, crop, monkeypatch):
    codec = get_codec(name)
    quality = codec.qualities[-1]
    model = codec.model(quality)
    x = pad_to_multiple(crop, model.stride)[None].contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        whole = model.analysis(x, codec.rate(quality))
        assert torch.equal(model.analyze(x, codec.rate(quality)), whole)  # one piece: exactly as before
        stream = codec.compress(crop, quality)
        decoded = codec.decompress(stream)
        monkeypatch.setattr(base, "STRIP_PIXELS", SMALL_STRIPS)
        assert len(base.strip_spans(x.shape[-2] // model.latent_stride, x.shape[-2] * x.shape[-1])) >= 4
        strips = model.analyze(x, codec.rate(quality))
        assert torch.allclose(strips, whole, atol=1e-3), (strips - whole).abs().max()
        streamed = codec.decompress(stream)  # the synthesis in strips too
    assert (streamed - decoded).abs().max() <= 1 / 255


def test_the_progressive_codec_codes_large_images_in_batches_of_tiles(crop, monkeypatch):
    from lic.metrics import psnr
    from lic.models import ashok2019

    codec = get_codec("ashok2019")
    whole = codec.decompress(codec.compress(crop, 26))
    monkeypatch.setattr(ashok2019, "TILE_BATCH", 5)  # 256 x 96: 24 tiles of 32 px, 5 batches
    stream = codec.compress(crop, 26)
    batched = codec.decompress(stream)
    torch.set_num_threads(2)
    try:
        assert torch.equal(codec.decompress(stream), batched)
    finally:
        torch.set_num_threads(1)
    assert abs(psnr(crop, batched) - psnr(crop, whole)) < 0.05
