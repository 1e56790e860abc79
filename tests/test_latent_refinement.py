"""Encoder-side latent refinement: a stream of the same format, read by the codec's own decoder, at a
lower R + λD for the image it was searched for."""
import pytest
import torch

from lic.data import evaluation_set, pad_to_multiple
from lic.latent_refinement import RefinedEncoder, refine_latents, sga_round
from lic.learned_codec import LearnedCodec
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
    codec = LearnedCodec(spec, name=name)  # fresh: compress, which runs in inference mode, loads the model
    plain, refined = codec.compress(photo, quality), RefinedEncoder(codec, steps=80).compress(photo, quality)
    lmbda = float(codec.model(quality).lambdas[codec.rate(quality)])
    assert refined != plain
    assert codec.decompress(refined).shape == photo.shape
    assert loss_of(codec, refined, photo, lmbda) < 0.99 * loss_of(codec, plain, photo, lmbda)


def test_per_channel_step_sizes_are_searched_on_their_own_grid(one_thread, photo, monkeypatch):
    """Dumas et al. 2018: learned step sizes, one per channel, scaled by β at each rate. The decoder
    inside the search sees exactly the latents that the entropy decoder will give it."""
    codec = get_codec("dumas2018")
    quality = codec.qualities[0]  # β = 10: steps far from 1
    model, rate = codec.model(quality), codec.rate(quality)
    x = pad_to_multiple(photo, model.stride)[None]
    with torch.no_grad():
        y = model.analysis(x, rate).float()
    sent = model.entropy.decompress([model.compress(x, rate)], y.shape[-2:], *model.bins(rate))
    seen = []
    synthesis = model.synthesis
    monkeypatch.setattr(model, "synthesis", lambda y_hat, r: seen.append(y_hat.detach()) or synthesis(y_hat, r))
    with pytest.raises(ValueError, match="pass lmbda"):
        refine_latents(model, photo[None], rate, steps=1)
    refine_latents(model, photo[None], rate, steps=1, lr=0.0, lmbda=model.lmbda)
    assert torch.allclose(seen[0], sent, atol=1e-5)
    assert float((sent - y).abs().max()) > 0.5  # the grid is coarse: rounding moved some latents
    monkeypatch.undo()
    with pytest.raises(ValueError, match="pass lmbda"):
        RefinedEncoder(codec, steps=1).compress(photo, quality)
    refined = RefinedEncoder(codec, steps=1, lmbda=model.lmbda).compress(photo, quality)
    assert codec.decompress(refined).shape == photo.shape  # the codec's own decoder reads it


def test_no_steps_write_exactly_the_codec_stream_and_the_search_is_reproducible(one_thread, photo):
    codec = get_codec("balle2017")
    assert RefinedEncoder(codec, steps=0).compress(photo, 3) == codec.compress(photo, 3)
    assert RefinedEncoder(codec, steps=5).compress(photo, 3) == RefinedEncoder(codec, steps=5).compress(photo, 3)


def test_refinement_moves_only_the_latents_even_in_inference_mode(one_thread, photo):
    model = get_codec("balle2017").model(1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.inference_mode():
        y = refine_latents(model, photo[None], steps=2)
    assert not y.requires_grad
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_a_model_that_sends_side_information_is_refused(photo):
    with pytest.raises(ValueError, match="latents alone"):
        refine_latents(MeanScaleHyperprior(N=8, M=8), photo[None], steps=1)


def test_soft_rounding_anneals_to_rounding_and_passes_gradient():
    generator = torch.Generator().manual_seed(0)
    v = torch.tensor([-1.7, -0.2, 0.3, 0.49, 2.51], requires_grad=True)
    hard = sga_round(v, 1e-3, generator)
    assert torch.allclose(hard, torch.round(v.detach()), atol=1e-3)
    soft = sga_round(v, 0.5, generator)
    assert bool(((soft >= torch.floor(v)) & (soft <= torch.floor(v) + 1)).all())
    (grad,) = torch.autograd.grad(soft.sum(), [v])
    assert bool((grad != 0).any())


@pytest.mark.parametrize("name, quality", [("wen2019", 7), ("minnen2018", 3)])
def test_hyperprior_refinement_costs_less_and_decodes_bit_exactly(photo, name, quality):
    """y and z refined against the model's whole rate (context included): the unchanged decoder reads
    the stream, on 1 and 2 threads alike, and its real R + λD is lower."""
    _, spec = CODECS[name]
    codec = LearnedCodec(spec, name=name)
    lmbda = codec.model(quality).lmbda
    plain, refined = codec.compress(photo, quality), RefinedEncoder(codec, steps=30).compress(photo, quality)
    assert refined != plain
    assert loss_of(codec, refined, photo, lmbda) < 0.99 * loss_of(codec, plain, photo, lmbda)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = codec.decompress(refined)
        torch.set_num_threads(2)
        two = codec.decompress(refined)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two) and one.shape == photo.shape


@pytest.mark.parametrize("steps", [-1, 2.5, True])
def test_a_bad_effort_is_one_clear_error(steps):
    with pytest.raises(ValueError, match="effort"):
        RefinedEncoder(get_codec("wen2019"), steps=steps)
