"""Chapter 3's models as codecs: shapes, losses, exact round trips, real bits vs estimate, bad input."""
import dataclasses

from pathlib import Path

import pytest
import torch

from lic.codec import BitstreamError
from lic.registry import get_codec
from lic.data import evaluation_set
from lic.entropy import estimate_bits
from lic.checkpoints import save_checkpoint
from lic.learned_codec import LearnedCodec
from lic.models.balle2017 import QUALITIES as BALLE2017_QUALITIES
from lic.models.balle2017 import FactorizedPrior
from lic.models.base import synthesize
from lic.models.modulated import ModulatedAutoencoder
from lic.models.registry import CodecSpec
from lic.train import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one thread, restored afterwards


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    _, image = evaluation_set(["kodim23"])[0]
    return image[:, 200:264, 300:396]  # 64 x 96


@pytest.mark.parametrize("cls", [FactorizedPrior, ModulatedAutoencoder])
def test_forward_shapes_and_finite_loss(cls):
    torch.manual_seed(0)
    model = cls(N=8, M=12)
    x = torch.rand(2, 3, 32, 48)
    out = model(x)
    assert out["x_hat"].shape == x.shape and out["likelihoods"]["y"].shape == (2, 12, 2, 3)
    loss, logs = model.training_loss(x)
    assert torch.isfinite(loss) and logs["bpp"] > 0
    loss.backward()
    assert all(p.grad is not None for p in model.entropy.parameters())


def test_modulation_changes_the_latent_per_rate():
    torch.manual_seed(0)
    model = ModulatedAutoencoder(N=8, M=12).eval()
    for layer in model.mod:  # make the gains depend visibly on λ
        torch.nn.init.normal_(layer.net[0].weight, std=2.0)
    x = torch.rand(1, 3, 32, 32)
    y0, y3 = model.analysis(x, 0), model.analysis(x, 3)
    assert not torch.allclose(y0, y3)


@pytest.mark.parametrize("cls", [FactorizedPrior, ModulatedAutoencoder])
def test_compress_decompress_is_exact_in_latent_space(cls, photo):
    torch.manual_seed(0)
    model = cls(N=8, M=12).eval()
    model.update()
    rate = 2 if cls is ModulatedAutoencoder else 0
    x = photo[None]
    with torch.inference_mode():
        payload = model.compress(x, rate)
        decoded = model.decompress(payload, tuple(x.shape[-2:]), rate)
        expected = model(x, rate)["x_hat"]
        estimate = float(estimate_bits(model(x, rate)["likelihoods"]))
    assert model.estimate_bits(x, rate) == pytest.approx(estimate)
    assert torch.allclose(decoded, expected, atol=1e-5)


def test_learned_codec_from_a_saved_checkpoint(tmp_path, photo):
    torch.manual_seed(0)
    config = load_config(CONFIGS / "balle2017-q3.toml")
    model = FactorizedPrior(N=8, M=12).eval()
    config = dataclasses.replace(config, model_args={"N": 8, "M": 12, "lmbda": 0.0067})
    save_checkpoint(model, tmp_path / "tiny", config.to_dict())
    codec = LearnedCodec(CodecSpec("tiny", {3: ("tiny", 0)}), folder=tmp_path)
    codec.name = "balle2017"
    odd = photo[:, :37, :53]
    data = codec.compress(odd, 3)
    assert codec.decompress(data).shape == odd.shape
    with pytest.raises(BitstreamError):
        codec.decompress(data[:-3])
    with pytest.raises(BitstreamError, match="checksum"):
        codec.decompress(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ValueError, match="quality must be one of"):
        codec.compress(odd, 5)


def test_shipped_balle2017_checkpoint_real_bits_match_the_estimate(photo):
    """Within 1 % on a whole evaluation image (on tiny crops the coder's few fixed bytes dominate)."""
    codec = get_codec("balle2017")
    quality = BALLE2017_QUALITIES[1]
    model = codec.model(quality)
    x = evaluation_set(["kodim23"])[0][1][None]  # 768 x 512, a multiple of 16
    with torch.inference_mode():
        estimate = float(estimate_bits(model(x)["likelihoods"]))
        payload_bits = 8 * len(model.compress(x))
    assert abs(payload_bits / estimate - 1) < 0.01
    data = codec.compress(photo, quality)
    decoded = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        decoded.append(codec.decompress(data))
    torch.set_num_threads(1)
    assert torch.equal(*decoded)


def test_shipped_modulated_checkpoint_spends_more_bits_at_higher_quality(photo):
    codec = get_codec("modulated")
    sizes = [len(codec.compress(photo, q)) for q in BALLE2017_QUALITIES]
    assert sizes == sorted(sizes)


@pytest.mark.parametrize("rows", [1, 5, 12])
def test_strip_synthesis_matches_the_whole_image_and_ignores_thread_count(rows):
    torch.manual_seed(0)
    model = FactorizedPrior(N=8, M=12).eval()
    y_hat = torch.round(4 * torch.randn(1, 12, rows, 7))
    with torch.inference_mode():
        whole = model.g_s(y_hat)
        threads = torch.get_num_threads()
        torch.set_num_threads(2)
        try:
            one, two = (synthesize(model.g_s, y_hat, model.stride, workers=w) for w in (1, 2))
        finally:
            torch.set_num_threads(threads)
    assert one.shape == whole.shape == (1, 3, 16 * rows, 112)
    assert torch.allclose(one, whole, atol=1e-5)
    assert torch.equal(one, two)
    assert torch.get_num_threads() == threads


def test_the_modulated_model_starts_as_the_single_rate_model_it_is_initialised_from():
    torch.manual_seed(0)
    single = FactorizedPrior(N=8, M=12).eval()
    modulated = ModulatedAutoencoder(N=8, M=12).eval()
    modulated.warm_start_from(single)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        for rate in range(modulated.rates):
            assert torch.allclose(modulated(x, rate)["x_hat"], single(x)["x_hat"], atol=1e-5)
    with pytest.raises(ValueError, match="differ in width"):
        ModulatedAutoencoder(N=8, M=16).warm_start_from(single)
    with pytest.raises(ValueError, match="cannot initialise"):
        FactorizedPrior(N=8, M=12).warm_start_from(modulated)


def test_the_modulation_sees_log_lambda_and_the_rates_losses_are_balanced():
    """ℓ(λ) spaces the log-spaced λ grid evenly in [0, 1] (λ / λ_max crowded the low rates near 0),
    and eq. (3)'s weights w = sqrt(λ_min / λ) multiply each rate's loss."""
    from lic.models.base import rate_distortion

    model = ModulatedAutoencoder(N=8, M=12).eval()
    ell = model._norm(torch.arange(model.rates), model.rates)
    assert abs(float(ell[0])) < 1e-6 and float(ell[-1]) == 1 and float(ell.diff().min()) > 0.3
    weights = model.loss_weights()
    assert weights[0] == 1 and weights == sorted(weights, reverse=True)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        total, _ = model.training_loss(x)
        parts = [rate_distortion(model(x, i), x, float(lmbda))[0] for i, lmbda in enumerate(model.lambdas)]
    assert float(total) == pytest.approx(sum(w * float(p) for w, p in zip(weights, parts)), rel=1e-5)
