"""Tests of lic.metrics: PSNR, MS-SSIM, bpp and Bjøntegaard deltas."""
from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_msssim
import torch

from lic.data import from_uint8
from lic.metrics import MS_SSIM_WEIGHTS, _ms_ssim, bd_psnr, bd_rate, bpp, ms_ssim, ms_ssim_scales, psnr


def _noisy_pair(height: int, width: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(height, width, 3)), axis=0), axis=1)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min()) * 255
    a = smooth.round().astype(np.uint8)
    b = np.clip(a + rng.normal(0, 6, size=a.shape).round(), 0, 255).astype(np.uint8)
    return from_uint8(a), from_uint8(b)


# ----------------------------------------------------------------------------- PSNR
def test_psnr_known_mse() -> None:
    a = torch.zeros(3, 4, 5)
    b = a.clone()
    b[0, 0, 0] = 10 / 255  # one error of 10 grey levels among 60 values: MSE = 100 / 60
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / (100 / 60)), abs=1e-9)
    # every value off by 1 level: MSE = 1, PSNR = 20 log10(255) = 48.13 dB
    assert psnr(torch.full((3, 8, 8), 100 / 255), torch.full((3, 8, 8), 101 / 255)) == pytest.approx(
        48.1308036, abs=1e-6
    )


def test_psnr_rounds_to_8_bits() -> None:
    a = torch.full((3, 6, 6), 0.5)
    assert psnr(a, a) == math.inf
    assert psnr(a, a + 0.1 / 255) == math.inf  # the same after rounding to 8 bits


def test_psnr_shape_mismatch_names_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[3, 4, 5\].*\[3, 5, 4\]"):
        psnr(torch.zeros(3, 4, 5), torch.zeros(3, 5, 4))


# ----------------------------------------------------------------------------- MS-SSIM
def test_ms_ssim_identical_is_one() -> None:
    a, _ = _noisy_pair(170, 200)
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    small, _ = _noisy_pair(48, 64)
    assert ms_ssim(small, small) == pytest.approx(1.0, abs=1e-12)


def test_ms_ssim_large_image_is_pytorch_msssim() -> None:
    a, b = _noisy_pair(170, 200)
    x, y = a[None].double(), b[None].double()
    expected = float(pytorch_msssim.ms_ssim(x, y, data_range=1.0))
    assert ms_ssim(a, b) == pytest.approx(expected, abs=1e-5)  # ms_ssim rounds to 8 bits, then computes in float32
    assert 0.5 < ms_ssim(a, b) < 1.0
    # our multi-scale loop (used for small images) computes the same thing at 5 scales
    assert _ms_ssim(x, y, MS_SSIM_WEIGHTS) == pytest.approx(expected, abs=1e-9)
    assert _ms_ssim(x, y, [1.0]) == pytest.approx(float(pytorch_msssim.ssim(x, y, data_range=1.0)), abs=1e-9)


def test_ms_ssim_small_images_use_fewer_scales() -> None:
    assert [ms_ssim_scales(s, 500) for s in (10, 11, 20, 21, 41, 81, 160, 161)] == [0, 1, 1, 2, 3, 4, 4, 5]
    for height, width in ((48, 64), (23, 37), (11, 11), (160, 300)):
        a, b = _noisy_pair(height, width)
        assert 0.0 < ms_ssim(a, b) < 1.0
    a, b = _noisy_pair(15, 15)  # one scale: plain SSIM
    ssim = pytorch_msssim.ssim(a[None].double(), b[None].double(), data_range=1.0)
    assert ms_ssim(a, b) == pytest.approx(float(ssim), abs=1e-5)
    with pytest.raises(ValueError, match="smaller than the 11x11"):
        ms_ssim(torch.zeros(3, 10, 64), torch.zeros(3, 10, 64))
    with pytest.raises(ValueError, match="shapes differ"):
        ms_ssim(torch.zeros(3, 64, 64), torch.zeros(3, 64, 65))


# ----------------------------------------------------------------------------- bpp
def test_bpp() -> None:
    assert bpp(b"\0" * 100, 20, 40) == pytest.approx(1.0)
    assert bpp(b"", 1, 1) == 0.0
    with pytest.raises(ValueError):
        bpp(b"x", 0, 5)


# ----------------------------------------------------------------------------- Bjøntegaard
# Rate/PSNR points of the FAU-LMS "bjontegaard" package (github.com/FAU-LMS/bjontegaard,
# README and example_usage.py; BSD-3-Clause): x265 at different presets, measured with ffmpeg.
# Expected values are that package's (v1.3.0) output with method="pchip", whose authors state it
# matches the JCT-VC/JVET common-test-condition Excel sheets (JCTVC-L1100, JVET-T2010) to 10 decimals.
FAU_CASES = [
    pytest.param(  # "Test 1"
        [9487.76, 4593.60, 2486.44, 1358.24], [40.037, 38.615, 36.845, 34.851],
        [9787.80, 4469.00, 2451.52, 1356.24], [40.121, 38.651, 36.970, 34.987],
        -4.417485350589045, 0.11969278542479489, id="test1",
    ),
    pytest.param(  # "Test 2 (high bitrates)"
        [82472.76, 26875.24, 9487.76, 4593.6], [43.825, 41.404, 40.037, 38.615],
        [99896.96, 33952.04, 9787.8, 4469.0], [44.731, 41.875, 40.121, 38.651],
        -4.47218200276197, 0.08887484704747745, id="test2-high-rate",
    ),
    pytest.param(  # "Test 3 (more supporting points)"
        [82472.76, 26875.24, 9487.76, 4593.6, 3600, 2900], [43.825, 41.404, 40.037, 38.615, 36.5, 35.1],
        [99896.96, 33952.04, 9787.8, 4469.0, 4040, 3300], [44.731, 41.875, 40.121, 38.651, 37, 36.5],
        -2.9528024116427964, 0.08953590194998828, id="test3-six-points",
    ),
]


@pytest.mark.parametrize("ra, pa, rb, pb, rate, dpsnr", FAU_CASES)
def test_bd_matches_published_example(ra, pa, rb, pb, rate, dpsnr) -> None:
    assert bd_rate(ra, pa, rb, pb) == pytest.approx(rate, abs=1e-9)
    assert bd_psnr(ra, pa, rb, pb) == pytest.approx(dpsnr, abs=1e-9)
    # order of the points does not matter
    assert bd_rate(ra[::-1], pa[::-1], rb, pb) == pytest.approx(rate, abs=1e-9)


RATES = [0.12, 0.25, 0.5, 1.0, 1.9]
PSNRS = [27.0, 29.5, 32.2, 35.1, 38.0]


def test_bd_identical_curves_is_zero() -> None:
    assert bd_rate(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-12)
    assert bd_psnr(RATES, PSNRS, RATES, PSNRS) == pytest.approx(0.0, abs=1e-12)


def test_bd_rate_of_scaled_rates() -> None:
    cheaper = [0.9 * r for r in RATES]
    assert bd_rate(RATES, PSNRS, cheaper, PSNRS) == pytest.approx(-10.0, abs=1e-9)
    assert bd_rate(cheaper, PSNRS, RATES, PSNRS) == pytest.approx(100 / 0.9 - 100, abs=1e-9)


def test_bd_psnr_of_shifted_quality() -> None:
    better = [p + 1.0 for p in PSNRS]
    assert bd_psnr(RATES, PSNRS, RATES, better) == pytest.approx(1.0, abs=1e-9)
    assert bd_rate(RATES, PSNRS, RATES, better) < 0


def test_bd_two_points_is_linear() -> None:
    # with 2 points PCHIP is a straight line: the gap between parallel lines is exact
    assert bd_psnr([1, 4], [30, 36], [1, 4], [31, 37]) == pytest.approx(1.0, abs=1e-12)
    assert bd_rate([1, 4], [30, 36], [0.5, 2], [30, 36]) == pytest.approx(-50.0, abs=1e-9)


@pytest.mark.parametrize(
    "args, message",
    [
        (([1.0], [30.0], [1.0, 2.0], [30.0, 33.0]), "at least 2"),
        (([1.0, 2.0], [30.0], [1.0, 2.0], [30.0, 33.0]), "equal length"),
        (([1.0, 2.0, 3.0], [30.0, 33.0, 32.0], RATES, PSNRS), "increase strictly"),
        (([1.0, 1.0], [30.0, 33.0], RATES, PSNRS), "same rate"),
        (([0.0, 1.0], [30.0, 33.0], RATES, PSNRS), "positive"),
        (([1.0, float("nan")], [30.0, 33.0], RATES, PSNRS), "finite"),
        (([0.1, 0.2], [20.0, 22.0], [1.0, 2.0], [40.0, 42.0]), "do not overlap"),
    ],
)
def test_bd_rejects_bad_curves(args, message) -> None:
    with pytest.raises(ValueError, match=message):
        bd_rate(*args)
    with pytest.raises(ValueError, match=message):
        bd_psnr(*args)
