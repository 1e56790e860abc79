"""Encoder-side latent refinement: a stream of the same format, read by the codec's own decoder, at a
lower R + λD for the image it was searched for."""
import pytest
import torch

from lic.data import evaluation_set
from lic.learned_codec import LearnedCodec
from lic.latent_refinement import RefinedEncoder, refine_latents
from lic.metrics import bpp
from lic.models import CODECS
from lic.models.minnen2018 import MeanScaleHyperprior
from lic.registry import get_codec


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    _, image = evaluation_set(["kodim23"])[0]
    return image[:, 200:270, 300:399]  # 70 x 99: padded to 80 x 112 for the model


def loss_of(codec, data: bytes, image: torch.Tensor, lmbda: float) -> float:
    """The real ``R + λ · 255² · MSE`` of a stream: bits from its bytes, MSE of what it decodes to."""
    decoded = codec.decompress(data)
    return bpp(data, *image.shape[-2:]) + lmbda * 255**2 * float(torch.mean((decoded - image) ** 2))


@pytest.mark.parametrize("name, quality", [("balle2017", 7), ("modulated", 3)])
def test_refined_streams_decode_with_the_codec_and_cost_less(one_thread, photo, name, quality):
    _, spec = CODECS[name]
    codec = LearnedCodec(spec, name=name)  # fresh: its model is loaded by compress, in inference mode
    plain, refined = codec.compress(photo, quality), RefinedEncoder(codec, steps=40).compress(photo, quality)
    lmbda = float(codec.model(quality).lambdas[codec.rate(quality)])
    assert refined != plain
    assert codec.decompress(refined).shape == photo.shape
    assert loss_of(codec, refined, photo, lmbda) < loss_of(codec, plain, photo, lmbda)


def test_no_steps_write_exactly_the_codec_stream(one_thread, photo):
    codec = get_codec("balle2017")
    assert RefinedEncoder(codec, steps=0).compress(photo, 3) == codec.compress(photo, 3)


def test_refinement_moves_only_the_latents(one_thread, photo):
    model = get_codec("balle2017").model(1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    refine_latents(model, photo[None], steps=2)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())


def test_a_model_that_sends_side_information_is_refused(photo):
    with pytest.raises(ValueError, match="latents alone"):
        refine_latents(MeanScaleHyperprior(N=8, M=8), photo[None], steps=1)
