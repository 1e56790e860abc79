"""Ballé 2017's factorized-prior model and the modulated autoencoder: widening a trained latent (``lic train --init``), and the modulated model's loss weights."""
import pytest
import torch

from lic.models.balle2017 import FactorizedPrior
from lic.models.modulated import ModulatedAutoencoder


def test_a_wider_latent_starts_as_the_narrow_model_and_its_new_channels_can_learn():
    torch.manual_seed(0)
    narrow = FactorizedPrior(N=8, M=6, ste=True).eval()
    wide = FactorizedPrior(N=8, M=10, ste=True).eval()
    wide.warm_start_from(narrow)
    x = torch.rand(1, 3, 48, 32)
    with torch.no_grad():
        before, after = narrow(x), wide(x)
    assert torch.allclose(after["x_hat"], before["x_hat"], atol=1e-5)
    assert float(after["y_hat"][:, 6:].abs().max()) < 1e-5  # silent: ŷ = 0 in every new channel
    # Each new channel's density is the narrow model's most peaked one, moved to median 0.
    medians = narrow.entropy.medians()
    peaks = narrow.entropy.likelihood(medians.reshape(1, -1, 1, 1)).flatten()
    ours = wide.entropy.likelihood(torch.zeros(1, 10, 1, 1)).flatten()[6:]
    assert torch.allclose(ours, peaks.max().expand(4), rtol=1e-4)
    assert float(wide.entropy.medians()[6:].abs().max()) < 1e-4
    # The distortion alone (straight-through decoder input) reaches g_a's new, zero filters.
    wide.train()
    out = wide(x)
    torch.mean((out["x_hat"] - x) ** 2).backward()
    assert float(wide.g_a[6].weight.grad[6:].abs().sum()) > 0


def test_widening_needs_the_same_hidden_width():
    with pytest.raises(ValueError, match="differ in width elsewhere than the latent"):
        FactorizedPrior(N=12, M=10).warm_start_from(FactorizedPrior(N=8, M=6))


def test_a_wider_modulated_model_starts_as_the_narrow_one_at_every_rate():
    torch.manual_seed(1)
    narrow = ModulatedAutoencoder(N=8, M=6).eval()
    for gain in (*narrow.mod, *narrow.demod):  # gains away from 1, as after training
        torch.nn.init.normal_(gain.net[-1].weight, std=0.3)
    wide = ModulatedAutoencoder(N=8, M=10).eval()
    wide.warm_start_from(narrow)
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        for rate in range(narrow.rates):
            assert torch.allclose(wide(x, rate)["x_hat"], narrow(x, rate)["x_hat"], atol=1e-5)
    with pytest.raises(ValueError, match="same λ set"):
        ModulatedAutoencoder(N=8, M=10, lambdas=(0.001, 0.01)).warm_start_from(narrow)


def test_the_modulated_loss_weights_are_eq3s_with_the_chosen_power():
    lambdas = (0.0018, 0.0067, 0.025, 0.0932)
    balanced = ModulatedAutoencoder(N=8, M=12, lambdas=lambdas)
    low_rates_first = ModulatedAutoencoder(N=8, M=12, lambdas=lambdas, weight_power=1.0)
    assert balanced.loss_weights() == pytest.approx([(lambdas[0] / v) ** 0.5 for v in lambdas])
    assert low_rates_first.loss_weights() == pytest.approx([lambdas[0] / v for v in lambdas])
