"""Entropy models: likelihoods, integer tables, exact round trips, and real bits vs estimates."""
import copy
import math

import numpy as np
import pytest
import torch

from lic.codec import BitstreamError
from lic.entropy import FactorizedDensity, TableCoder, estimate_bits, pmf_to_counts, quantize


class FixedTables(TableCoder):
    """A coder with given tables: ``pmfs`` (each ending with the escape's mass) from ``offsets``."""

    def __init__(self, pmfs, offsets, precision):
        super().__init__(precision)
        self._set_tables(pmfs, offsets)


def _laplace(shape: tuple[int, ...], scales: torch.Tensor, shift: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(shape, generator=g) - 0.5
    return shift - scales * torch.sign(u) * torch.log1p(-2 * u.abs())


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fitted(one_thread) -> tuple[FactorizedDensity, torch.Tensor, torch.Tensor]:
    """A density fitted for a few steps to Laplacian latents of scale 0.5 .. 5 (192 channels)."""
    torch.manual_seed(0)
    c = 192
    scales = torch.exp(torch.linspace(math.log(0.5), math.log(5.0), c)).reshape(1, c, 1, 1)
    shift = torch.linspace(-2.0, 2.0, c).reshape(1, c, 1, 1)
    density = FactorizedDensity(c)
    opt = torch.optim.Adam(density.parameters(), lr=2e-2)
    for step in range(80):
        y = _laplace((1, c, 16, 16), scales, shift, seed=step)
        _, likelihoods = density(y, training=True)
        loss = estimate_bits(likelihoods) / y.numel()
        opt.zero_grad()
        loss.backward()
        opt.step()
    density.update()
    density.eval()
    return density, scales, shift


# ----------------------------------------------------------------------------- quantization
def test_quantize_modes() -> None:
    x = torch.tensor([-1.7, -0.2, 0.49, 2.51], requires_grad=True)
    means = torch.tensor([0.3, 0.3, 0.3, 0.3])
    assert quantize(x, "round").tolist() == [-2.0, 0.0, 0.0, 3.0]
    torch.testing.assert_close(quantize(x, "round", means), torch.round(x - means) + means)
    noisy = quantize(x, "noise")
    assert ((noisy - x).abs() <= 0.5).all()
    ste = quantize(x, "ste", means)
    torch.testing.assert_close(ste, torch.round(x - means) + means)
    ste.sum().backward()
    assert x.grad.tolist() == [1.0] * 4
    with pytest.raises(ValueError):
        quantize(x, "floor")


def test_estimate_bits_accepts_collections() -> None:
    p = torch.full((2, 3), 0.25)
    assert estimate_bits(p).item() == 12.0
    assert estimate_bits([p, p]).item() == 24.0
    assert estimate_bits({"y": p, "z": torch.tensor([0.5])}).item() == 13.0


# ----------------------------------------------------------------------------- likelihoods
def test_factorized_likelihoods_sum_to_one() -> None:
    density = FactorizedDensity(4)
    grid = torch.arange(-400.0, 401.0) + 0.3  # any unit-spaced grid partitions the line
    y = grid.reshape(1, 1, -1, 1).expand(1, 4, -1, 1)
    p = density.likelihood(y)
    torch.testing.assert_close(p.sum(dim=(0, 2, 3)), torch.ones(4), atol=1e-4, rtol=0)


def test_likelihood_lower_bound() -> None:
    density = FactorizedDensity(1)
    p = density.likelihood(torch.full((1, 1, 1, 1), 1e5))
    assert p.item() == pytest.approx(1e-9)


def test_gradients_flow_in_noise_mode() -> None:
    density = FactorizedDensity(3)
    y = torch.randn(2, 3, 4, 4, requires_grad=True)
    y_hat, p = density(y, training=True)
    assert not torch.equal(y_hat, torch.round(y))
    estimate_bits(p).backward()
    assert y.grad.abs().sum() > 0
    for param in density.parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all()


def test_ste_gives_the_decoder_rounded_latents_and_the_rate_noisy_ones(fitted) -> None:
    density = copy.deepcopy(fitted[0]).train()
    y = (3 * torch.randn(1, density.channels, 4, 4)).requires_grad_()
    torch.manual_seed(1)
    y_dec, p = density(y, ste=True)
    medians = density.medians().reshape(1, -1, 1, 1)
    assert torch.allclose(y_dec, torch.round(y - medians) + medians, atol=1e-5)
    torch.manual_seed(1)
    _, p_noise = density(y)
    assert torch.equal(p, p_noise)  # the rate term is the noise proxy's
    y_dec.sum().backward()
    assert torch.equal(y.grad, torch.ones_like(y))  # straight through


# ----------------------------------------------------------------------------- integer tables
def test_pmf_to_counts() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(300) ** 6
    p[:5] = 0.0
    counts = pmf_to_counts(p, 16)
    assert counts.sum() == 2**16 and counts.min() >= 1
    assert np.abs(counts / 2**16 - p / p.sum()).max() < 300 / 2**16
    assert np.array_equal(counts, pmf_to_counts(p.copy(), 16))
    with pytest.raises(ValueError):
        pmf_to_counts(np.array([1.0]), 16)


def test_tables_are_deterministic_and_travel_in_the_state_dict(fitted) -> None:
    density, _, _ = fitted
    before = {k: v.clone() for k, v in density.state_dict().items()}
    density.update()
    for key, value in density.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert int(density.pmf_counts[0, : density.pmf_sizes[0]].sum()) == 2**density.precision
    # a fresh model (different random init, empty tables) takes the checkpoint's tables
    clone = FactorizedDensity(192)
    clone.load_state_dict(density.state_dict())
    for key, value in clone.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_tables_match_the_continuous_model(fitted) -> None:
    density, _, _ = fitted
    for ch in (0, 95, 191):
        probs = density.table_probabilities(ch)
        values = density.table_medians[ch] + density.pmf_offsets[ch] + torch.arange(len(probs) - 1)
        y = torch.zeros(1, 192, len(values), 1)
        y[0, ch, :, 0] = values
        with torch.no_grad():
            model = density.likelihood(y)[0, ch, :, 0].double().numpy()
        big = model > 1e-3
        assert np.abs(probs[:-1][big] / model[big] - 1).max() < 0.01
        assert np.abs(probs[:-1] - model).sum() < 0.01  # total variation
        assert probs[-1] < 1e-3  # the escape is rare


@pytest.mark.parametrize("precision", [16, 24])
def test_the_coder_uses_exactly_the_table(precision: int) -> None:
    """Symbols drawn from a table cost -Σ log2(table probability), up to the coder's flush."""
    rng = np.random.default_rng(0)
    pmfs = [np.exp(-np.abs(np.arange(-n, n + 1)) / s) for n, s in ((4, 0.5), (12, 2.0), (200, 40.0))]
    coder = FixedTables([np.append(p / p.sum() * (1 - 1e-6), 1e-6) for p in pmfs], [-4, -12, -200], precision)
    indexes = rng.integers(0, 3, 20000)
    offsets = coder.pmf_offsets.numpy()[indexes]
    values = np.empty(indexes.size, dtype=np.int64)
    ideal = 0.0
    for m in range(3):
        probs = coder.table_probabilities(m)
        at = indexes == m
        index = rng.choice(len(probs) - 1, size=int(at.sum()), p=probs[:-1] / probs[:-1].sum())
        values[at] = offsets[at] + index
        ideal -= np.log2(probs[index]).sum()
    real = 8 * len(coder._encode(values, indexes))
    assert np.array_equal(coder._decode(coder._encode(values, indexes), indexes), values)
    assert ideal - 32 <= real <= ideal + 64, (real, ideal)


# ----------------------------------------------------------------------------- round trips
def test_factorized_round_trip_with_escapes(fitted) -> None:
    density, scales, shift = fitted
    y = _laplace((2, 192, 6, 5), scales, shift, seed=123)
    y[0, 0, 0, 0] = 1e6  # far beyond any table: escape path
    y[0, 5, 1, 2] = -123456.7
    y[1, 191, 5, 4] = 2**29
    y[1, 7, 2, 2] = -(2**29)
    strings = density.compress(y)
    assert len(strings) == 2
    y_hat = density.decompress(strings, (6, 5))
    expected = quantize(y, "round", density.table_medians.reshape(1, -1, 1, 1))
    assert torch.equal(y_hat, expected)
    torch.testing.assert_close(density(y)[0], expected)  # forward (eval) quantizes the same way
    for bad in (2.0**31, 1e30, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            density.compress(torch.full((1, 192, 1, 1), bad))


def test_eval_rounding_uses_the_exported_medians(fitted) -> None:
    """Weights that moved after update() (e.g. loaded as fp16) must not change what forward rounds to."""
    density, scales, shift = fitted
    y = _laplace((1, 192, 8, 8), scales, shift, seed=7)
    moved = copy.deepcopy(density)
    with torch.no_grad():
        for bias in moved.biases:
            bias.add_(0.3)  # shifts every channel's CDF, hence medians() by a visible amount
    assert not torch.allclose(moved.medians(), moved.table_medians, atol=0.05)
    y_hat, _ = moved(y)
    assert torch.equal(y_hat, moved.decompress(moved.compress(y), (8, 8)))


def test_likelihoods_stay_float32_under_autocast(fitted) -> None:
    """Training on a GPU runs in bf16 autocast; the rate estimate must not (3 digits are too few)."""
    density, scales, shift = fitted
    y = _laplace((1, 192, 8, 8), scales, shift, seed=9).round()
    expected = density.likelihood(y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = density.likelihood(y.bfloat16())
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)


def test_compress_needs_tables() -> None:
    with pytest.raises(RuntimeError, match="update"):
        FactorizedDensity(2).compress(torch.zeros(1, 2, 2, 2))


# ----------------------------------------------------------------------------- real bits
def test_real_bits_match_the_estimate_factorized(fitted) -> None:
    density, scales, shift = fitted
    y = _laplace((1, 192, 48, 32), scales, shift, seed=999)
    _, likelihoods = density(y)
    estimate = estimate_bits(likelihoods).item()
    real = 8 * len(density.compress(y)[0])
    assert abs(real / estimate - 1) < 0.01, (real, estimate)


def test_damaged_strings_raise_or_decode_but_never_crash(fitted) -> None:
    density, scales, shift = fitted
    y = _laplace((1, 192, 4, 4), scales, shift, seed=7)
    string = density.compress(y)[0]
    with pytest.raises(BitstreamError):
        density.decompress([string[:-1]], (4, 4))  # not whole 32-bit words
    with pytest.raises(BitstreamError):
        density.decompress([string + bytes(8)], (4, 4))  # data left over (≥ 2 words: detectable)
    rng = np.random.default_rng(0)
    for trial in range(40):
        garbage = rng.integers(0, 256, 4 * int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
        try:
            out = density.decompress([garbage], (4, 4))
        except BitstreamError:
            continue
        assert torch.isfinite(out).all()
    detected = 0
    for cut in range(0, len(string), 4):
        try:
            density.decompress([string[:cut]], (4, 4))
        except BitstreamError:
            detected += 1
    assert detected > 0


# ----------------------------------------------------------------------------- bin widths (Chapter 4)
def test_a_bin_width_is_the_mass_of_that_bin(fitted) -> None:
    """likelihood(ŷ, w) = c(ŷ + w/2) - c(ŷ - w/2) per channel (Dumas et al. eq. 2), and width 1 is the default."""
    density, scales, shift = fitted
    y = _laplace((1, 192, 3, 3), scales, shift, seed=3)
    w = torch.linspace(0.5, 4.0, 192)
    with torch.no_grad():
        p = density.likelihood(y, w)
        v = y.transpose(0, 1).reshape(192, 1, -1).double()
        c = lambda t: torch.sigmoid(density._logits64(t))  # noqa: E731
        mass = (c(v + w.double().reshape(-1, 1, 1) / 2) - c(v - w.double().reshape(-1, 1, 1) / 2)).reshape(192, 1, 3, 3)
        assert torch.allclose(p.double().transpose(0, 1), mass.clamp_min(1e-9), rtol=1e-4, atol=1e-7)
        assert torch.equal(density.likelihood(y), density.likelihood(y, 1.0))
        assert torch.equal(density.likelihood(y, torch.ones(192)), density.likelihood(y))


def test_training_noise_and_test_rounding_follow_the_width(fitted) -> None:
    density, scales, shift = fitted
    y = _laplace((2, 192, 8, 8), scales, shift, seed=4)
    w = torch.linspace(0.5, 4.0, 192).reshape(1, -1, 1, 1)
    noisy, _ = density(y, training=True, width=w.flatten())
    assert ((noisy - y).abs() <= w / 2 + 1e-5).all() and ((noisy - y).abs() > w / 4).any()
    rounded, _ = density(y, training=False, width=w.flatten())
    k = (rounded - density.table_medians.reshape(1, -1, 1, 1)) / w
    assert torch.allclose(k, k.round(), atol=1e-4) and ((rounded - y).abs() <= w / 2 + 1e-5).all()


def test_table_sets_for_several_widths_round_trip_and_match_the_estimate(fitted) -> None:
    density = copy.deepcopy(fitted[0])
    _, scales, shift = fitted
    widths = torch.stack([torch.full((192,), 1.0), torch.linspace(0.5, 4.0, 192), torch.full((192,), 10.0)])
    density.update(widths)
    assert density.pmf_sizes.numel() == 3 * 192
    y = _laplace((1, 192, 32, 32), scales, shift, seed=5)
    sizes = []
    for s in range(3):
        string = density.compress(y, s, widths[s])[0]
        y_hat, likelihoods = density(y, training=False, width=widths[s])
        assert torch.equal(density.decompress([string], (32, 32), s, widths[s]), y_hat)
        estimate = estimate_bits(likelihoods).item()
        assert abs(8 * len(string) / estimate - 1) < 0.01, (s, 8 * len(string), estimate)
        sizes.append(len(string))
    assert sizes[2] < sizes[1] and sizes[2] < sizes[0]  # coarser bins, fewer bits
    with pytest.raises(ValueError, match="table set"):
        density.compress(y, 3)


def test_coding_in_small_batches_of_groups_writes_the_same_string(monkeypatch):
    """Huge steps are range-coded a few table groups at a time (bounded memory): same bytes, same values."""
    from lic.entropy import tables as coding

    torch.manual_seed(0)
    density = FactorizedDensity(6)
    density.update()
    y = 4 * torch.randn(1, 6, 9, 11)
    y[0, 2, 3, 4] = 5000.0  # an escape
    whole = density.compress(y)[0]
    monkeypatch.setattr(coding, "SYMBOLS_AT_ONCE", 7)  # 99 symbols per group: one group per batch
    assert density.compress(y)[0] == whole
    assert torch.equal(density.decompress([whole], (9, 11)), density.decompress([whole], (9, 11)))
    monkeypatch.setattr(coding, "SYMBOLS_AT_ONCE", 1 << 20)
    expected = density.decompress([whole], (9, 11))
    monkeypatch.setattr(coding, "SYMBOLS_AT_ONCE", 150)
    assert torch.equal(density.decompress([whole], (9, 11)), expected)
