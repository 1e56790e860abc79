"""Ballé, Laparra & Simoncelli 2017, "End-to-end optimized image compression" (factorized prior).

With the layer sizes of Ballé et al. 2018's "factorized prior" baseline (the field's reference):

    analysis  g_a:  conv 5x5/2 N, GDN, conv 5x5/2 N, GDN, conv 5x5/2 N, GDN, conv 5x5/2 M
    synthesis g_s:  deconv 5x5/2 N, IGDN, deconv 5x5/2 N, IGDN, deconv 5x5/2 N, IGDN, deconv 5x5/2 3

How the papers' pieces appear in the code (equation numbers are Zheng & Liang's, the chapter's
paper; Ballé et al. name the same pieces in their Sections 2-3):

- ``y = g_a(x)``, ``ŷ = round(y)``, ``x̂ = g_s(ŷ)``, trained on Zheng & Liang eq. (1),
  ``argmin R + λ D`` (:func:`lic.models.common.rate_distortion`).
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
from .common import LAMBDAS, rate_distortion, synthesize


def conv(cin: int, cout: int) -> nn.Conv2d:
    """5x5 convolution with stride 2 (halves each side)."""
    return nn.Conv2d(cin, cout, kernel_size=5, stride=2, padding=2)


def deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    """5x5 transposed convolution with stride 2 (doubles each side)."""
    return nn.ConvTranspose2d(cin, cout, kernel_size=5, stride=2, padding=2, output_padding=1)


class FactorizedPrior(nn.Module):
    """One rate point: ``N`` hidden channels, ``M`` latent channels, trained at ``lmbda``.

    ``ste`` changes training only: the decoder then sees rounded latents (straight-through
    gradient) while the rate is still measured on the noisy ones.
    """

    stride = 16

    def __init__(self, N: int = 128, M: int = 192, lmbda: float = LAMBDAS[2], ste: bool = False) -> None:
        super().__init__()
        self.N, self.M, self.lmbda, self.ste = N, M, float(lmbda), bool(ste)
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(
            deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True), deconv(N, 3),
        )
        self.entropy = FactorizedDensity(M)

    def forward(self, x: torch.Tensor) -> dict:
        """Noisy latents in training mode, rounded ones in eval mode; likelihoods for the rate."""
        y = self.g_a(x).float()
        y_hat, likelihoods = self.entropy(y, training=self.training, ste=self.ste)
        return {"x_hat": self.g_s(y_hat.to(x.dtype)), "likelihoods": {"y": likelihoods}, "y_hat": y_hat}

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """``bpp + λ · 255² · MSE`` on a batch in [0, 1]."""
        return rate_distortion(self(x), x, self.lmbda)

    def update(self) -> None:
        """Build the integer CDF tables used for entropy coding (after training, before saving)."""
        self.entropy.update()

    def compress(self, x: torch.Tensor) -> bytes:
        """Entropy-code one padded image ``[1, 3, H, W]`` (H, W multiples of 16)."""
        return self.entropy.compress(self.g_a(x).float())[0]

    def decompress(self, payload: bytes, shape: tuple[int, int], workers: int = 1) -> torch.Tensor:
        """Decode ``payload`` into a ``[1, 3, H, W]`` image for the padded ``shape`` (on ``workers`` threads)."""
        y_hat = self.entropy.decompress([payload], (shape[0] // self.stride, shape[1] // self.stride))
        return synthesize(self.g_s, y_hat, self.stride, workers)
