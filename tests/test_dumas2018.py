"""Dumas et al. 2018 (Chapter 4): a luminance codec whose rate is the step-size scale β."""
from __future__ import annotations

import pytest
import torch

from lic.checkpoints import export_weights, import_weights
from lic.data import luminance, to_grey
from lic.models import MODELS
from lic.models.dumas2018 import BETAS, Dumas2018, laplace_fit, single_coefficient

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model() -> Dumas2018:
    """A small untrained case-2 model with a few steps of training, so its steps are not all 1."""
    torch.manual_seed(0)
    m = Dumas2018(N=16, M=24, lmbda=0.05)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(5):
        loss, _ = m.training_loss(torch.rand(2, 3, 64, 64))
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    m.update()
    return m


def test_registered_with_one_rate_per_beta() -> None:
    assert MODELS["dumas2018"] is Dumas2018
    m = Dumas2018(N=8, M=8)
    assert m.rates == len(BETAS) == 9 and len(m.lambdas) == 1
    with pytest.raises(ValueError, match="rate index"):
        m.check_rate(9)
    with pytest.raises(ValueError, match="steps"):
        Dumas2018(steps="adaptive")


def test_the_three_cases_differ_only_in_steps_and_normalisations() -> None:
    learned, fixed = Dumas2018(N=8, M=12), Dumas2018(N=8, M=12, steps="fixed")
    assert learned.log_steps.shape == (12,) and not hasattr(fixed, "log_steps")
    assert torch.equal(fixed.step_sizes(), torch.ones(12))
    assert len(fixed.g_e) == len(learned.g_e) + 1 and len(fixed.g_d) == len(learned.g_d) + 1
    # the paper's case 2 vs case 3 parameter count: 128 steps vs the normalisations' 33024
    big_learned, big_fixed = Dumas2018(), Dumas2018(steps="fixed")
    extra = sum(p.numel() for p in big_fixed.parameters()) - sum(p.numel() for p in big_learned.parameters())
    assert extra + 128 == 2 * (128 * 128 + 128)  # two GDNs of 128 maps (γ and β) replace 128 steps


def test_luminance_in_grey_out() -> None:
    torch.manual_seed(1)
    m = Dumas2018(N=8, M=8).eval()
    x = torch.rand(2, 3, 48, 32)
    out = m(x)
    assert out["y"].shape == (2, 8, 3, 2) and out["x_hat"].shape == x.shape
    assert torch.equal(out["x_hat"][:, 0], out["x_hat"][:, 2])
    assert torch.equal(m.target(x)[:, 1], luminance(x)[:, 0])
    # the transform sees only the luma: two images with the same luma code identically
    grey = luminance(x).expand_as(x)
    assert torch.allclose(m.analysis(grey), m.analysis(x), atol=1e-5)


def test_steps_learn_through_the_noise_and_the_rate() -> None:
    """Eq. (4): δ_i enters both the noise Δ ⊙ T and h̃_i, so every step gets a gradient."""
    torch.manual_seed(2)
    m = Dumas2018(N=8, M=8).train()
    loss, logs = m.training_loss(torch.rand(2, 3, 32, 32))
    loss.backward()
    assert m.log_steps.grad is not None and (m.log_steps.grad != 0).all()
    assert set(logs) >= {"loss", "bpp", "psnr"}


def test_rate_h_tilde_is_eq_4() -> None:
    """-log2 of the bin mass equals h̃ = -log2 δ - log2 p̃(y + δτ) with p̃ = p * box(δ)."""
    torch.manual_seed(3)
    m = Dumas2018(N=8, M=4)
    y = torch.randn(1, 4, 2, 2) * 3
    delta = torch.tensor([0.5, 1.0, 2.0, 4.0])
    p = m.entropy.likelihood(y, delta)
    # p̃(t) = (c(t + δ/2) - c(t - δ/2)) / δ, so -log2 δ - log2 p̃ = -log2 (bin mass)
    eps = 1e-3
    c = lambda t: torch.sigmoid(m.entropy._logits64(t.transpose(0, 1).reshape(4, 1, -1)))  # noqa: E731
    d = delta.double().reshape(1, 4, 1, 1)
    p_tilde = ((c(y.double() + d / 2) - c(y.double() - d / 2)).reshape(4, 1, 2, 2).transpose(0, 1)) / d
    h = -torch.log2(d) - torch.log2(p_tilde)
    assert torch.allclose(-torch.log2(p.double()), h, atol=eps)


@pytest.mark.parametrize("rate", range(len(BETAS)))
def test_every_beta_round_trips_and_the_bits_match_the_estimate(model: Dumas2018, rate: int) -> None:
    torch.manual_seed(4)
    x = torch.rand(1, 3, 64, 80)
    data = model.compress(x, rate)
    decoded = model.decompress(data, (64, 80), rate)
    assert torch.allclose(decoded, model(x, rate)["x_hat"], atol=1e-5)
    estimate = model.estimate_bits(x, rate)
    assert abs(8 * len(data) - estimate) < 0.02 * estimate + 64  # 32-bit words of the range coder
    table, steps = model.bins(rate)
    assert table == rate and torch.equal(steps, model.coding_steps[rate])
    assert torch.allclose(steps, BETAS[rate] * model.step_sizes().detach())


def test_larger_beta_fewer_bytes(model: Dumas2018) -> None:
    torch.manual_seed(5)
    x = torch.rand(1, 3, 128, 128)
    sizes = [len(model.compress(x, r)) for r in range(len(BETAS))]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0] / 2


def test_update_freezes_the_steps_the_tables_were_built_for(model: Dumas2018) -> None:
    """A checkpoint's fp16 log-steps must not move the quantizer away from its tables."""
    assert model.coding_steps.shape == (len(BETAS), model.M)
    assert model.entropy.pmf_sizes.numel() == len(BETAS) * model.M
    m = Dumas2018(N=16, M=24, lmbda=0.05)
    import_weights(m, export_weights(model, torch.float16))  # as a checkpoint stores and loads it
    m.eval()
    with torch.no_grad():
        m.log_steps.copy_(m.log_steps.half().float() + 1e-3)
    assert torch.equal(m.bins(3)[1], model.bins(3)[1])


def test_laplace_fit_recovers_location_and_scale() -> None:
    g = torch.Generator().manual_seed(6)
    u = torch.rand(1, 3, 200, 200, generator=g) - 0.5
    mu, scale = torch.tensor([0.0, -1.0, 2.0]), torch.tensor([0.5, 1.0, 2.0])
    y = mu.reshape(1, 3, 1, 1) - scale.reshape(1, 3, 1, 1) * torch.sign(u) * torch.log1p(-2 * u.abs())
    fit_mu, fit_scale = laplace_fit(y)
    assert torch.allclose(fit_mu, mu, atol=0.03) and torch.allclose(fit_scale, scale, rtol=0.03)


def test_single_coefficient_decodes_a_local_pattern(model: Dumas2018) -> None:
    """Fig. 4: one coefficient away from the means changes the top-left corner of the image."""
    means = model.entropy.table_medians
    flat = single_coefficient(model, means, 0, 0.0 + float(means[0]))
    bump = single_coefficient(model, means, 0, float(means[0]) + 20.0)
    assert bump.shape == (1, 64, 64)
    diff = (bump - flat).abs()
    # the receptive field of latent (0, 0): rows 0..2, 0..6, then 0..28 through 5x5/2, 5x5/2, 9x9/4
    assert diff[:, :29, :29].sum() > 0 and diff[:, 29:].sum() == 0 and diff[:, :, 29:].sum() == 0


def test_grey_images_are_what_the_codec_sees() -> None:
    torch.manual_seed(7)
    image = torch.rand(3, 20, 30)
    grey = to_grey(image)
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    assert torch.allclose(grey[0], luminance(image)[0], atol=0.5 / 255 + 1e-6)
    assert torch.equal(grey, to_grey(grey))
