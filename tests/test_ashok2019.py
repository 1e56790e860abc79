"""Ashok & Palani (Chapter 6): Cauchy attention as written, the recurrent code, and tiles."""
from __future__ import annotations

import math

import pytest
import torch

from lic.data import luminance
from lic.models import MODELS
from lic.models.ashok2019 import (RecurrentAttentionCodec, attend, cauchy_filterbank, glimpse_geometry,
                                  kernel_centres, tile, untile)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_geometry_is_the_papers() -> None:
    size, grid = 28, 7
    omega = torch.tensor([[0.0, 0.0, 0.0], [-1.0, 1.0, 0.5], [0.5, -0.5, -1.0]])
    x, y, delta, gamma = glimpse_geometry(omega, size, grid)
    assert x.tolist() == pytest.approx([13.5, 0.0, 20.25])
    assert y.tolist() == pytest.approx([13.5, 27.0, 6.75])
    assert delta.tolist() == pytest.approx([4.0, 2.0, 0.0])       # (S/N)(1 - |δ̂|)
    assert gamma.tolist() == pytest.approx([math.e, 1.0, math.exp(-1)])
    mu = kernel_centres(x, delta, grid)
    assert mu[0].tolist() == pytest.approx([13.5 + (i - 4) * 4.0 for i in range(1, 8)])  # centred on x


def test_filterbank_is_the_normalised_cauchy_formula() -> None:
    """Every entry against a direct evaluation of the paper's F_X[i, a]."""
    mu = torch.tensor([[1.5, 7.0, 12.25]], dtype=torch.float64)
    gamma = torch.tensor([0.8], dtype=torch.float64)
    size = 16
    f = cauchy_filterbank(mu, gamma, size)[0]
    for i in range(3):
        raw = [1 / (math.pi * 0.8 * (1 + ((a - float(mu[0, i])) / 0.8) ** 2)) for a in range(size)]
        z = sum(raw)
        for a in range(size):
            assert float(f[i, a]) == pytest.approx(raw[a] / z, rel=1e-12)
    assert torch.allclose(f.sum(dim=1), torch.ones(3, dtype=torch.float64))


def test_the_glimpse_is_f_y_times_the_image_times_f_x_transposed() -> None:
    """The paper prints F_Y F_Xᵀ; the glimpse needs the image between them, per channel."""
    torch.manual_seed(0)
    size, grid = 12, 3
    image = torch.rand(2, 3, size, size, dtype=torch.float64)
    omega = torch.tensor([[0.1, -0.3, 0.2], [0.7, 0.4, -0.6]], dtype=torch.float64)
    g = attend(image, omega, grid)
    assert g.shape == (2, 3, grid, grid)
    x, y, delta, gamma = glimpse_geometry(omega, size, grid)
    f_x = cauchy_filterbank(kernel_centres(x, delta, grid), gamma, size)
    f_y = cauchy_filterbank(kernel_centres(y, delta, grid), gamma, size)
    for b in range(2):
        for c in range(3):
            for j in range(grid):
                for i in range(grid):
                    direct = sum(f_y[b, j, r] * image[b, c, r, a] * f_x[b, i, a] for r in range(size) for a in range(size))
                    assert float(g[b, c, j, i]) == pytest.approx(float(direct), rel=1e-10)


def test_a_grid_as_wide_as_the_image_sees_all_of_a_flat_image() -> None:
    flat = torch.full((1, 1, 16, 16), 0.25)
    g = attend(flat, torch.zeros(1, 3), 4)
    assert torch.allclose(g, torch.full_like(g, 0.25))  # rows of F sum to 1


def test_tiles_round_trip() -> None:
    images = torch.rand(2, 3, 64, 96)
    tiles = tile(images, 32)
    assert tiles.shape == (12, 3, 32, 32)
    assert torch.equal(tiles[1], images[0, :, :32, 32:64])  # row by row
    assert torch.equal(untile(tiles, 64, 96), images)
    with pytest.raises(ValueError, match="multiples"):
        tile(torch.rand(1, 3, 30, 32), 32)


def test_each_session_appends_one_codeword_and_updates_the_canvas() -> None:
    torch.manual_seed(1)
    model = RecurrentAttentionCodec(size=16, channels=3, grid=4, glimpses=2, code=8, sessions=3).eval()
    assert MODELS["ashok2019"] is RecurrentAttentionCodec
    x = torch.rand(5, 3, 16, 32)  # two tiles each
    out = model(x, sessions=3)
    assert len(out["canvases"]) == 3 and out["likelihoods"]["y"].shape == (10, 3 * 8, 1, 1)
    assert out["x_hat"].shape == x.shape and model.stride == 16
    assert torch.equal(out["x_hat"], out["canvases"][-1])
    first = model(x, sessions=1)
    assert torch.allclose(first["x_hat"], out["canvases"][0])  # the code is a prefix code: L_t = [L_{t-1}, c]


def test_luminance_tiles_give_grey_canvases() -> None:
    torch.manual_seed(2)
    model = RecurrentAttentionCodec(size=28, channels=1, grid=6, code=8, sessions=2)
    x = torch.rand(3, 3, 28, 28)
    assert torch.equal(model.target(x), luminance(x))
    assert model(x)["x_hat"].shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="channels"):
        RecurrentAttentionCodec(channels=2)


def test_a_few_steps_of_training_lower_the_loss() -> None:
    torch.manual_seed(3)
    model = RecurrentAttentionCodec(size=16, channels=3, grid=4, glimpses=2, code=8, sessions=2, lmbda=0.05)
    x = torch.rand(4, 3, 32, 32) * 0.3 + 0.35  # cut into 16 tiles of 16²
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss, logs = model.training_loss(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(logs["loss"])
    assert losses[-1] < 0.5 * losses[0]
    grad = model.glimpse_params.weight.grad
    assert grad is not None and (grad.abs().sum(dim=1) > 0).all()  # x̂, ŷ and the zoom δ̂ all learn
    assert set(logs) >= {"bpp", "psnr", "mse", "mean_mse"}


def test_the_attention_trace_follows_the_sessions() -> None:
    torch.manual_seed(4)
    model = RecurrentAttentionCodec(size=16, channels=1, grid=4, glimpses=3, code=8, sessions=2).eval()
    x = torch.rand(2, 3, 16, 16)
    where, canvases = model.attention_trace(x)
    assert where.shape == (2, 3, 2, 4) and canvases.shape == (2, 2, 1, 16, 16)
    assert torch.allclose(canvases[-1], model(x)["x_hat"], atol=1e-6)  # the same codewords as coding
    assert torch.allclose(where[0, 0, :, 0], torch.full((2,), 7.5))      # the first glimpse is centred
