"""The modulated autoencoder (Yang, Herranz & van de Weijer 2020), as Zheng & Liang use it.

One network for many rates. The rate-distortion trade-off λ is an input: a small network maps
``λ / λ_max`` to one positive gain per channel for every layer,

    m_i(λ) = exp(Dense_C(ReLU(Dense_50(λ / λ_max))))

The encoder multiplies each convolution's output by its modulation before GDN (the last one scales
the latent, which sets the rate); the decoder multiplies the latent and each IGDN's output by a
demodulation ``d_i(λ)`` built the same way. Training sums the loss over the whole λ set at every
step, Zheng & Liang eq. (2)-(3) with all weights w = 1::

    L = Σ_λ  R_λ + λ · 255² · D_λ

The transforms and the factorized prior are those of :mod:`lic.models.balle2017`. The entropy model
is shared across rates, as in Yang et al.: one learned density has to fit the latents of every λ.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..entropy import FactorizedDensity
from ..layers import GDN
from .balle2017 import conv, deconv
from .common import LAMBDAS, rate_distortion, synthesize


class Modulation(nn.Module):
    """``λ / λ_max -> exp(Dense_C(ReLU(Dense_hidden(·))))``: one positive gain per channel."""

    def __init__(self, channels: int, hidden: int = 50) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def forward(self, lam: torch.Tensor) -> torch.Tensor:
        """``lam``: ``[B]`` normalised λ values -> gains ``[B, C, 1, 1]``."""
        return torch.exp(self.net(lam[:, None]))[:, :, None, None]


class ModulatedAutoencoder(nn.Module):
    """Ballé's factorized-prior codec with λ-conditioned channel gains; ``lambdas`` is the rate set."""

    stride = 16

    def __init__(self, N: int = 128, M: int = 192, lambdas: Sequence[float] = LAMBDAS[1:8:2]) -> None:
        super().__init__()
        self.N, self.M = N, M
        self.register_buffer("lambdas", torch.tensor([float(v) for v in lambdas]))
        widths_enc = (N, N, N, M)
        self.enc = nn.ModuleList([conv(3, N), conv(N, N), conv(N, N), conv(N, M)])
        self.gdn = nn.ModuleList([GDN(N) for _ in range(3)])
        self.mod = nn.ModuleList([Modulation(c) for c in widths_enc])
        self.dec = nn.ModuleList([deconv(M, N), deconv(N, N), deconv(N, N), deconv(N, 3)])
        self.igdn = nn.ModuleList([GDN(N, inverse=True) for _ in range(3)])
        self.demod = nn.ModuleList([Modulation(c) for c in (M, N, N, N)])
        self.entropy = FactorizedDensity(M)

    def _norm(self, rate: torch.Tensor) -> torch.Tensor:
        return self.lambdas[rate] / self.lambdas.max()

    def g_a(self, x: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        """Analysis transform at rate indices ``rate`` (``[B]`` ints into ``lambdas``)."""
        lam = self._norm(rate)
        for k, layer in enumerate(self.enc):
            x = layer(x) * self.mod[k](lam)
            if k < 3:
                x = self.gdn[k](x)
        return x

    def g_s(self, y: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
        """Synthesis transform: demodulate the latent, then deconv / IGDN / demodulate."""
        lam = self._norm(rate)
        x = y * self.demod[0](lam)
        for k, layer in enumerate(self.dec):
            x = layer(x)
            if k < 3:
                x = self.igdn[k](x) * self.demod[k + 1](lam)
        return x

    def forward(self, x: torch.Tensor, rate: int | torch.Tensor = 0) -> dict:
        rate = torch.as_tensor(rate, device=x.device).expand(x.shape[0])
        y = self.g_a(x, rate).float()
        y_hat, likelihoods = self.entropy(y, training=self.training)
        return {"x_hat": self.g_s(y_hat.to(x.dtype), rate), "likelihoods": {"y": likelihoods}, "y_hat": y_hat}

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Σ over the λ set of ``bpp + λ · 255² · MSE`` (eq. 2-3 with w = 1); logs each rate's bpp/PSNR."""
        total, logs = 0.0, {}
        for i, lmbda in enumerate(self.lambdas.tolist()):
            loss, parts = rate_distortion(self(x, i), x, lmbda)
            total = total + loss
            logs[f"bpp{i}"], logs[f"psnr{i}"] = parts["bpp"], parts["psnr"]
        logs["loss"] = total.item()
        logs["bpp"] = sum(logs[f"bpp{i}"] for i in range(len(self.lambdas))) / len(self.lambdas)
        return total, logs

    def update(self) -> None:
        """Build the integer CDF tables (shared by every rate)."""
        self.entropy.update()

    def compress(self, x: torch.Tensor, rate: int) -> bytes:
        """Entropy-code one padded image at rate index ``rate``."""
        return self.entropy.compress(self.g_a(x, torch.tensor([rate])).float())[0]

    def decompress(self, payload: bytes, shape: tuple[int, int], rate: int, workers: int = 1) -> torch.Tensor:
        """Decode ``payload`` written at rate index ``rate`` for the padded ``shape`` (on ``workers`` threads)."""
        y_hat = self.entropy.decompress([payload], (shape[0] // self.stride, shape[1] // self.stride))
        return synthesize(lambda part: self.g_s(part, torch.tensor([rate])), y_hat, self.stride, workers)
