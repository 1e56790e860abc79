"""Ballé, Laparra & Simoncelli 2017, "End-to-end optimized image compression" (factorized prior).

With the layer sizes of Ballé et al. 2018's "factorized prior" baseline (the field's reference):

    analysis  g_a:  conv 5x5/2 N, GDN, conv 5x5/2 N, GDN, conv 5x5/2 N, GDN, conv 5x5/2 M
    synthesis g_s:  deconv 5x5/2 N, IGDN, deconv 5x5/2 N, IGDN, deconv 5x5/2 N, IGDN, deconv 5x5/2 3

How the papers' pieces appear in the code (equation numbers are Zheng & Liang's, the chapter's
paper; Ballé et al. name the same pieces in their Sections 2-3):

- ``y = g_a(x)``, ``ŷ = round(y)``, ``x̂ = g_s(ŷ)``, trained on Zheng & Liang eq. (1),
  ``argmin R + λ D`` (:func:`lic.models.base.rate_distortion`).
- Rounding has no useful gradient; during training it is replaced by additive uniform noise,
  ``ỹ = y + u, u ~ U(-½, ½)`` (:func:`lic.entropy.quantize`). The density of ``ỹ`` is the prior
  convolved with a unit box, a smooth, differentiable stand-in for the rate of ``ŷ``.
- GDN, ``y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²)``, and its inverse in ``g_s`` (:class:`lic.layers.GDN`).
- A factorized prior: one learned univariate density per latent channel
  (:class:`lic.entropy.FactorizedDensity`, Ballé et al. 2018, appendix 6.1).
"""
from __future__ import annotations

import torch
from torch import nn

from ..entropy import FactorizedDensity
from ..layers import GDN
from .base import LAMBDAS, LearnedModel, Rate
from .registry import CodecSpec, register_model
from .widening import widen_latent

#: The shipped single-rate models: qualities on the λ grid of ``LAMBDAS`` (quality q = LAMBDAS[q - 1]).
QUALITIES = (1, 3, 5, 7)


def conv(cin: int, cout: int) -> nn.Conv2d:
    """5x5 convolution with stride 2 (halves each side)."""
    return nn.Conv2d(cin, cout, kernel_size=5, stride=2, padding=2)


def deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    """5x5 transposed convolution with stride 2 (doubles each side)."""
    return nn.ConvTranspose2d(cin, cout, kernel_size=5, stride=2, padding=2, output_padding=1)


@register_model("balle2017", codec=CodecSpec(
    "Ballé et al. 2017 factorized prior, one model per λ (Chapter 3)",
    {q: (f"balle2017-q{q}", 0) for q in QUALITIES}))
class FactorizedPrior(LearnedModel):
    """One rate point: ``N`` hidden channels, ``M`` latent channels, trained at ``lmbda``.

    ``ste`` changes training only: the decoder then sees rounded latents (straight-through
    gradient) while the rate is still measured on the noisy ones.
    """

    stride = 16

    def __init__(self, N: int = 128, M: int = 192, lmbda: float = LAMBDAS[2], ste: bool = False) -> None:
        super().__init__()
        self.N, self.M, self.lmbda, self.ste = N, M, float(lmbda), bool(ste)
        self.lambdas = (self.lmbda,)
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        self.entropy = FactorizedDensity(M)

    def warm_start_from(self, source: nn.Module) -> None:
        """Start from ``source`` (``lic train --init``): a model of the same width, or one with fewer
        latent channels ``M`` (and the same ``N``), which this model extends without changing what it
        computes (:func:`lic.models.widening.widen_latent`)."""
        if type(source) is type(self) and source.M < self.M:
            widen_latent(self, source, makers=("g_a.6",), readers=("g_s.0",))
        else:
            super().warm_start_from(source)

    def analysis(self, x: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        """``y = g_a(x)``: four 5×5 stride-2 convolutions with GDN between them."""
        return self.g_a(x)

    def synthesis(self, y_hat: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        """``x̂ = g_s(ŷ)``: the mirror of ``g_a`` with inverse GDN."""
        return self.g_s(y_hat)
