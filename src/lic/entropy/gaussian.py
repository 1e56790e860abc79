"""The conditional Gaussian of the hyperprior codecs (Ballé et al. 2018, Minnen et al. 2018), with
integer tables for a fixed set of scales.

Each latent ``y`` gets its own mean ``μ`` and scale ``σ`` from a network (the hyperprior and the
context model of Chapter 5). Its quantised value is modelled by the Gaussian convolved with a unit
box, evaluated on the integer grid around the mean (Minnen et al. 2018, eq. 3)::

    p(ŷ | μ, σ) = Φ((ŷ - μ + ½) / σ) - Φ((ŷ - μ - ½) / σ)

computed as ``Φ((½ - |ŷ - μ|)/σ) - Φ((-½ - |ŷ - μ|)/σ)``, which stays accurate far in the tails.
The codec sends ``round(y - μ)`` and the decoder adds ``μ`` back.

**A fixed table of scales.** A range coder needs the same integer table on both sides. Building a
table for every predicted ``σ`` would cost time and risk float differences, so the scales are
quantised to ``levels`` log-spaced values between ``scale_min`` and ``scale_max`` (CompressAI's
0.11 … 256 with 64 levels), and a latent uses the table of the smallest table scale that is at
least its ``σ``: a slightly too wide table costs a little rate, a too narrow one could cost many
bits in the tails. The tables are built once by :meth:`GaussianConditional.update`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..layers import lower_bound
from .quantize import quantize
from .tables import PRECISION, TAIL_MASS, TableCoder, TableStreamDecoder, TableStreamEncoder, _check_symbols

SCALE_MIN, SCALE_MAX, SCALE_LEVELS = 0.11, 256.0, 64
LIKELIHOOD_BOUND = 1e-9


def _normal_cdf(x: Tensor) -> Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2))


class GaussianConditional(TableCoder):
    """``p(ŷ | μ, σ)`` of every latent, and its coding through one integer table per table scale."""

    def __init__(self, scale_min: float = SCALE_MIN, scale_max: float = SCALE_MAX, levels: int = SCALE_LEVELS,
                 likelihood_bound: float = LIKELIHOOD_BOUND, tail_mass: float = TAIL_MASS,
                 precision: int = PRECISION, max_symbols: int = 4095) -> None:
        super().__init__(precision)
        self.scale_min, self.likelihood_bound, self.tail_mass = float(scale_min), float(likelihood_bound), float(tail_mass)
        self.max_symbols = int(max_symbols)
        table = torch.exp(torch.linspace(math.log(scale_min), math.log(scale_max), levels, dtype=torch.float64))
        self.register_buffer("scale_table", table.float())

    # -- the density ---------------------------------------------------------------------------
    def likelihood(self, y_hat: Tensor, means: Tensor, scales: Tensor) -> Tensor:
        """``p(ŷ | μ, σ)`` elementwise, in float32 (also under autocast), floored at ``likelihood_bound``."""
        with torch.autocast(device_type=y_hat.device.type, enabled=False):
            v = (y_hat.float() - means.float()).abs()
            s = lower_bound(scales.float(), self.scale_min)
            p = _normal_cdf((0.5 - v) / s) - _normal_cdf((-0.5 - v) / s)
        return lower_bound(p, self.likelihood_bound)

    def forward(self, y: Tensor, means: Tensor, scales: Tensor, training: bool | None = None) -> tuple[Tensor, Tensor]:
        """``(ŷ, p)``: ``y + u`` when training (the noise proxy), else ``round(y - μ) + μ``."""
        training = self.training if training is None else training
        y_hat = quantize(y, "noise") if training else quantize(y, "round", means)
        return y_hat, self.likelihood(y_hat, means, scales)

    # -- tables --------------------------------------------------------------------------------
    @torch.no_grad()
    def update(self) -> None:
        """One table per table scale ``s``: symbols ``k`` in ``[-K, K]`` with ``K`` where each
        tail holds at most ``tail_mass / 2`` (capped to ``max_symbols``), masses
        ``Φ((k + ½)/s) - Φ((k - ½)/s)`` in float64, the escape holding both tails."""
        scales = self.scale_table.double().cpu()
        z = -_normal_cdf_inverse(self.tail_mass / 2)
        pmfs, offsets = [], []
        for s in scales.tolist():
            k_max = min(math.ceil(z * s), self.max_symbols // 2)
            k = torch.arange(-k_max, k_max + 1, dtype=torch.float64)
            upper = _normal_cdf((0.5 - k.abs()) / s)
            lower = _normal_cdf((-0.5 - k.abs()) / s)
            mass = (upper - lower).numpy()
            tail = 2 * float(_normal_cdf(torch.tensor((-k_max - 0.5) / s, dtype=torch.float64)))
            pmfs.append(np.append(mass, tail))
            offsets.append(-k_max)
        self._set_tables(pmfs, offsets)

    def scale_indexes(self, scales: Tensor) -> Tensor:
        """The table of each latent: the smallest table scale ``≥ σ`` (the largest for bigger ``σ``)."""
        table = self.scale_table.to(scales.device)
        return torch.searchsorted(table, scales.float().contiguous(), right=False).clamp_(max=len(table) - 1)

    # -- coding --------------------------------------------------------------------------------
    def symbols(self, y: Tensor, means: Tensor) -> Tensor:
        """``round(y - μ)``: what is sent for ``y`` (checked to be finite and codable)."""
        symbols = torch.round(y.detach().float().cpu() - means.detach().float().cpu())
        _check_symbols(symbols)
        return symbols

    def encode(self, stream: TableStreamEncoder, y: Tensor, means: Tensor, scales: Tensor) -> None:
        """Append ``round(y - μ)`` of any number of latents to ``stream``, each with its scale's table."""
        stream.encode(self.symbols(y, means).reshape(-1).numpy().astype(np.int64),
                      self.scale_indexes(scales).reshape(-1).cpu().numpy())

    def decode(self, stream: TableStreamDecoder, means: Tensor, scales: Tensor) -> Tensor:
        """Read the latents that :meth:`encode` appended for these ``μ`` and ``σ``: ``ŷ`` shaped like ``means``."""
        values = stream.decode(self.scale_indexes(scales).reshape(-1).cpu().numpy())
        return torch.from_numpy(values.astype(np.float32)).reshape(means.shape).to(means.device) + means


def _normal_cdf_inverse(p: float) -> float:
    """``Φ⁻¹(p)`` in float64 (by bisection; only used to size the tables)."""
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if float(_normal_cdf(torch.tensor(mid, dtype=torch.float64))) < p:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)
