"""The conditional Gaussian (Chapter 5): likelihoods, scale tables, exact coding, step-by-step streams."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lic.codec import BitstreamError
from lic.entropy import estimate_bits
from lic.entropy.gaussian import GaussianConditional
from lic.entropy.tables import TableStreamDecoder, TableStreamEncoder

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def gc() -> GaussianConditional:
    model = GaussianConditional()
    model.update()
    return model


def _code(gc: GaussianConditional, y, means, scales) -> bytes:
    stream = TableStreamEncoder(gc)
    gc.encode(stream, y, means, scales)
    return stream.finish()


def _decode(gc: GaussianConditional, string: bytes, means, scales) -> torch.Tensor:
    stream = TableStreamDecoder(gc, string)
    y_hat = gc.decode(stream, means, scales)
    stream.finish()
    return y_hat


def _latents(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(1, 8, n, n, generator=g) * 4
    scales = torch.exp(torch.rand(1, 8, n, n, generator=g) * 6 - 2)  # 0.14 .. 55
    y = means + scales * torch.randn(1, 8, n, n, generator=g)
    return y, means, scales


def test_likelihood_is_the_gaussian_mass_of_the_unit_bin() -> None:
    gc = GaussianConditional()
    y = torch.tensor([0.0, 1.0, -3.0, 40.0])
    mu, sigma = torch.tensor([0.3, 0.0, -2.5, 0.0]), torch.tensor([1.0, 0.5, 2.0, 3.0])
    phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    expected = [max(phi((a - m + 0.5) / s) - phi((a - m - 0.5) / s), 1e-9) for a, m, s in zip(y.tolist(), mu.tolist(), sigma.tolist())]
    assert torch.allclose(gc.likelihood(y, mu, sigma).double(), torch.tensor(expected, dtype=torch.float64), rtol=1e-5, atol=1e-9)
    grid = torch.arange(-60.0, 61.0) + 0.3
    assert float(gc.likelihood(grid, torch.tensor(0.3), torch.tensor(7.0)).sum()) == pytest.approx(1.0, abs=1e-6)


def test_each_latent_uses_the_smallest_table_scale_at_least_its_sigma(gc: GaussianConditional) -> None:
    table = gc.scale_table
    sigma = torch.tensor([0.01, 0.11, float(table[5]) * 1.0001, float(table[5]), 300.0])
    idx = gc.scale_indexes(sigma)
    assert idx.tolist() == [0, 0, 6, 5, len(table) - 1]
    assert (table[idx[:4]] >= sigma[:4] * (1 - 1e-6)).all()


def test_round_trip_and_real_bits_match_the_estimate(gc: GaussianConditional) -> None:
    y, means, scales = _latents(32, 0)
    string = _code(gc, y, means, scales)
    y_hat = _decode(gc, string, means, scales)
    assert torch.equal(y_hat, torch.round(y - means) + means)
    table_scales = gc.scale_table[gc.scale_indexes(scales)]
    estimate = float(estimate_bits(gc.likelihood(y_hat, means, table_scales)))
    assert abs(8 * len(string) / estimate - 1) < 0.01
    assert float(estimate_bits(gc.likelihood(y_hat, means, scales))) <= estimate  # table scales are a bit wider


def test_outliers_are_escaped_exactly(gc: GaussianConditional) -> None:
    means, scales = torch.zeros(1, 1, 1, 4), torch.full((1, 1, 1, 4), 0.2)
    y = torch.tensor([[[[0.0, 1e4, -3e6, 7.0]]]])
    assert torch.equal(_decode(gc, _code(gc, y, means, scales), means, scales), torch.round(y))


def test_a_stream_written_step_by_step_is_read_step_by_step(gc: GaussianConditional) -> None:
    """What the autoregressive decoder does: each step's tables depend on the steps before."""
    y, means, scales = _latents(6, 1)
    encoder = TableStreamEncoder(gc)
    for row in range(6):
        gc.encode(encoder, y[..., row, :], means[..., row, :], scales[..., row, :])
    string = encoder.finish()
    decoder = TableStreamDecoder(gc, string)
    rows = [gc.decode(decoder, means[..., row, :], scales[..., row, :]) for row in range(6)]
    decoder.finish()
    assert torch.equal(torch.stack(rows, dim=-2), torch.round(y - means) + means)
    with pytest.raises(BitstreamError, match="left over"):
        short = TableStreamDecoder(gc, string)
        gc.decode(short, means[..., 0, :], scales[..., 0, :])
        short.finish()


def test_training_adds_noise_and_testing_rounds_around_the_mean() -> None:
    gc = GaussianConditional()
    y, means, scales = _latents(8, 2)
    noisy, _ = gc(y, means, scales, training=True)
    assert ((noisy - y).abs() <= 0.5).all() and not torch.equal(noisy, y)
    rounded, p = gc(y, means, scales, training=False)
    assert torch.equal(rounded, torch.round(y - means) + means) and (p > 0).all()
