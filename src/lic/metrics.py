"""Quality and rate metrics: PSNR, MS-SSIM, bits per pixel, and Bjøntegaard deltas.

Both image metrics first round the two ``[3, H, W]`` images to 8 bits (as :func:`lic.data.to_uint8`
does), so a decoded float image and the same image saved as PNG score the same. This is the usual
convention in the learned-compression literature (e.g. CompressAI's evaluation scripts).

Bjøntegaard deltas (Bjøntegaard, VCEG-M33, 2001) compare two rate-distortion curves by the average
gap between them. We interpolate with piecewise cubic Hermite polynomials (PCHIP), as the JCT-VC and
JVET common-test-condition spreadsheets do (JCTVC-L1100, JVET-T2010) and as the ``bjontegaard``
package does by default (Herglotz et al., arXiv:2202.12565); the original cubic polynomial fit of
VCEG-M33 can overshoot between points and is not used.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytorch_msssim
import torch
import torch.nn.functional as F
from scipy.interpolate import PchipInterpolator

from .data import check_image, to_uint8

# Wang, Simoncelli & Bovik, "Multiscale structural similarity for image quality assessment", 2003:
# the weights of scales 1 (full resolution) to 5, and the Gaussian window of SSIM.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WIN_SIZE = 11
WIN_SIGMA = 1.5
_K1, _K2 = 0.01, 0.03


def _uint8_pair(a: torch.Tensor, b: torch.Tensor, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Both images as ``[H, W, 3]`` uint8 arrays, after checking that their shapes agree."""
    check_image(a)
    check_image(b)
    if a.shape != b.shape:
        raise ValueError(f"{metric}: image shapes differ: {list(a.shape)} vs {list(b.shape)}")
    return to_uint8(a), to_uint8(b)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """RGB PSNR in dB of two ``[3, H, W]`` images in [0, 1], measured on their 8-bit values.

    ``10 log10(255² / MSE)`` with the MSE taken over all pixels and all three channels;
    identical images give ``math.inf``.
    """
    x, y = _uint8_pair(a, b, "psnr")
    mse = float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0**2 / mse)


def ms_ssim_scales(height: int, width: int) -> int:
    """How many MS-SSIM scales fit an image: the coarsest must still hold the 11x11 window.

    Scale ``k`` (from 1) is about ``side / 2**(k-1)`` pixels, so ``k`` scales need
    ``min(height, width) > 10 * 2**(k-1)``: 5 scales from 161 px on, 1 scale from 11 px on.
    """
    side = min(height, width)
    return sum(side > (WIN_SIZE - 1) * 2**k for k in range(len(MS_SSIM_WEIGHTS)))


def ms_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """MS-SSIM of two ``[3, H, W]`` images in [0, 1], measured on their 8-bit values.

    Images whose shorter side is at least 161 px get the standard 5-scale MS-SSIM of
    ``pytorch_msssim.ms_ssim`` (``data_range=1``, 11x11 Gaussian window with sigma 1.5, averaged
    over the RGB channels). That function refuses smaller images. For them we drop the coarse
    scales that no longer hold the window (see :func:`ms_ssim_scales`) and renormalise the
    remaining weights to sum to 1; 1 scale is plain SSIM. Such values are not comparable with
    5-scale MS-SSIM: report them as "MS-SSIM (k scales)". Sides below 11 px raise ``ValueError``.
    """
    x8, y8 = _uint8_pair(a, b, "ms_ssim")
    height, width = x8.shape[:2]
    levels = ms_ssim_scales(height, width)
    if levels == 0:
        raise ValueError(
            f"ms_ssim: image of {height}x{width} px is smaller than the {WIN_SIZE}x{WIN_SIZE} SSIM window"
        )
    x, y = (torch.from_numpy(v).permute(2, 0, 1)[None].float() / 255.0 for v in (x8, y8))
    if levels == len(MS_SSIM_WEIGHTS):
        return float(pytorch_msssim.ms_ssim(x, y, data_range=1.0))
    kept = MS_SSIM_WEIGHTS[:levels]
    return _ms_ssim(x, y, [w / sum(kept) for w in kept])


def _gaussian_blur(x: torch.Tensor) -> torch.Tensor:
    """Separable 11x11 Gaussian filter (sigma 1.5) per channel, 'valid' borders."""
    t = torch.arange(WIN_SIZE, dtype=torch.float32) - WIN_SIZE // 2  # float32 like pytorch_msssim
    g = torch.exp(-(t**2) / (2 * WIN_SIGMA**2))
    g = (g / g.sum()).to(x.dtype).repeat(x.shape[1], 1, 1, 1)  # [C, 1, 1, WIN]
    x = F.conv2d(x, g, groups=x.shape[1])
    return F.conv2d(x, g.transpose(2, 3), groups=x.shape[1])


def _ms_ssim(x: torch.Tensor, y: torch.Tensor, scale_weights: Sequence[float]) -> float:
    """MS-SSIM of ``[1, 3, H, W]`` images with one weight per scale, as ``pytorch_msssim.ms_ssim``."""
    weights = torch.tensor(scale_weights, dtype=x.dtype)
    levels = len(scale_weights)
    c1, c2 = _K1**2, _K2**2  # data range 1
    factors = []
    for level in range(levels):
        mu_x, mu_y = _gaussian_blur(x), _gaussian_blur(y)
        var_x = _gaussian_blur(x * x) - mu_x**2
        var_y = _gaussian_blur(y * y) - mu_y**2
        cov = _gaussian_blur(x * y) - mu_x * mu_y
        cs = ((2 * cov + c2) / (var_x + var_y + c2)).mean(dim=(2, 3))
        if level < levels - 1:
            factors.append(torch.relu(cs))
            pad = [s % 2 for s in x.shape[2:]]
            x, y = F.avg_pool2d(x, 2, padding=pad), F.avg_pool2d(y, 2, padding=pad)
        else:
            luminance = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
            factors.append(torch.relu((luminance * (2 * cov + c2) / (var_x + var_y + c2)).mean(dim=(2, 3))))
    per_channel = torch.prod(torch.stack(factors) ** weights.view(-1, 1, 1), dim=0)
    return float(per_channel.mean())


def bpp(data: bytes, height: int, width: int) -> float:
    """Bits per pixel of a compressed image: ``8 * len(data) / (height * width)``."""
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}x{width}")
    return 8.0 * len(data) / (height * width)


# ----------------------------------------------------------------------------- Bjøntegaard
def _rd_curve(rates: Sequence[float], quality: Sequence[float], which: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one rate-distortion curve; return (log10 rate, quality) sorted by rate."""
    r = np.asarray(rates, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.ndim != 1 or q.ndim != 1 or len(r) != len(q):
        raise ValueError(
            f"{which} curve: rates and qualities must be 1-D of equal length, got {r.shape} and {q.shape}"
        )
    if len(r) < 2:
        raise ValueError(f"{which} curve: need at least 2 rate-distortion points, got {len(r)}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise ValueError(f"{which} curve: rates and qualities must be finite")
    if np.any(r <= 0):
        raise ValueError(f"{which} curve: rates must be positive, got {r.tolist()}")
    order = np.argsort(r)
    r, q = r[order], q[order]
    if np.any(np.diff(r) == 0):
        raise ValueError(f"{which} curve: two points have the same rate: {r.tolist()}")
    if np.any(np.diff(q) <= 0):
        raise ValueError(
            f"{which} curve: quality must increase strictly with rate; sorted by rate it is {q.tolist()}"
        )
    return np.log10(r), q


def _overlap(a: np.ndarray, b: np.ndarray, axis: str) -> tuple[float, float]:
    """The interval that the ranges of ``a`` and ``b`` share, or ``ValueError``."""
    low, high = max(a.min(), b.min()), min(a.max(), b.max())
    if high <= low:
        raise ValueError(
            f"the two curves do not overlap in {axis}: [{a.min():.4g}, {a.max():.4g}] "
            f"vs [{b.min():.4g}, {b.max():.4g}]"
        )
    return float(low), float(high)


def bd_rate(
    rates_a: Sequence[float], dist_a: Sequence[float], rates_b: Sequence[float], dist_b: Sequence[float]
) -> float:
    """Bjøntegaard delta rate: average bitrate change (%) of curve B relative to anchor A.

    At equal quality, B needs ``bd_rate`` percent more bits than A (negative: B saves bits).
    Rates are positive (bpp, bytes, kbit/s: any unit, the same for both curves); ``dist_*`` are
    qualities where higher is better (PSNR in dB, ...). Each curve needs at least 2 points whose
    quality increases strictly with rate (4 is the classic setting). ``log10(rate)`` is interpolated
    as a PCHIP function of quality and integrated over the quality interval both curves cover.
    """
    log_ra, qa = _rd_curve(rates_a, dist_a, "anchor (A)")
    log_rb, qb = _rd_curve(rates_b, dist_b, "test (B)")
    low, high = _overlap(qa, qb, "quality")
    area_a = PchipInterpolator(qa, log_ra).integrate(low, high)
    area_b = PchipInterpolator(qb, log_rb).integrate(low, high)
    return float((10.0 ** ((area_b - area_a) / (high - low)) - 1.0) * 100.0)


def bd_psnr(
    rates_a: Sequence[float], dist_a: Sequence[float], rates_b: Sequence[float], dist_b: Sequence[float]
) -> float:
    """Bjøntegaard delta PSNR: average quality gain (dB) of curve B over anchor A at equal rate.

    With another quality than PSNR the result is in that quality's unit. Quality is interpolated
    as a PCHIP function of ``log10(rate)`` and integrated over the log-rate interval both curves
    cover. Inputs as for :func:`bd_rate`.
    """
    log_ra, qa = _rd_curve(rates_a, dist_a, "anchor (A)")
    log_rb, qb = _rd_curve(rates_b, dist_b, "test (B)")
    low, high = _overlap(log_ra, log_rb, "log-rate")
    area_a = PchipInterpolator(log_ra, qa).integrate(low, high)
    area_b = PchipInterpolator(log_rb, qb).integrate(low, high)
    return float((area_b - area_a) / (high - low))
