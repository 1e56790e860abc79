"""The modulated autoencoder (Yang, Herranz & van de Weijer 2020), as Zheng & Liang use it.

One network for many rates. The rate-distortion trade-off λ is an input: a small network maps
``ℓ(λ)`` to one positive gain per channel for every layer,

    m_i(λ) = exp(Dense_C(ReLU(Dense_50(ℓ(λ)))))

Our hidden width is 50 in every layer; Zheng & Liang use N/2 (Sec. II.D), and exp or a sigmoid as
the last function (Sec. II.E). Zheng & Liang scale λ linearly, ``λ / max(λ_set)``
(Sec. II.E). Our λ grid is logarithmic, and with that scaling its two lowest values (0.019 and
0.072) were so close that the network barely told them apart: after 2 650 training steps it coded
them at 0.56 and 0.59 bpp on training crops. We use its logarithm, mapped to [0, 1] over the λ set:
``ℓ(λ) = 1 + log(λ / λ_max) / log(λ_max / λ_min)``.

The encoder multiplies each convolution's output by its modulation before GDN (the last one scales
the latent, which sets the rate); the decoder multiplies the latent and each IGDN's output by a
demodulation ``d_i(λ)`` built the same way. Training sums the loss over the whole λ set at every
step, Zheng & Liang eq. (2)-(3), written in CompressAI's units (λ on the MSE of 8-bit values; their
λ weigh the MSE on [0, 1], Chapter 3 converts)::

    L = Σ_λ  w_λ (R_λ + λ · 255² · D_λ),   w_λ = (λ_min / λ)^p

Zheng & Liang propose w = 1 (Sec. II.C). With w = 1 the highest rate's loss, about ten times the
lowest's on our grid (Chapter 3 measures it), dominates the gradient of the shared transforms;
p = 0.5 (the default) gives the four terms about the same size, and p = 1 favours the low rates,
which pay most for the shared density (the shipped model's last stage; ``weight_power``).

The transforms and the factorized prior are those of :mod:`lic.models.balle2017`; the λ set
defaults to the single-rate models' qualities 1, 3, 5, 7, so quality q of both codecs means the same λ. The entropy model
is shared across rates, as in Yang et al.: one learned density has to fit the latents of every λ.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..entropy import FactorizedDensity
from ..layers import GDN
from .balle2017 import QUALITIES, FactorizedPrior, conv, deconv
from .base import LAMBDAS, LearnedModel, Rate
from .registry import CodecSpec, register_model
from .widening import widen_latent


class Modulation(nn.Module):
    """``ℓ(λ) -> exp(Dense_C(ReLU(Dense_hidden(·))))``: one positive gain per channel.

    ``hidden = 50`` in every layer; Zheng & Liang use N/2 (Sec. II.D)."""

    def __init__(self, channels: int, hidden: int = 50) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def forward(self, lam: torch.Tensor) -> torch.Tensor:
        """``lam``: ``[B]`` scaled λ values ``ℓ(λ)`` -> gains ``[B, C, 1, 1]``."""
        return torch.exp(self.net(lam[:, None]))[:, :, None, None]


@register_model("modulated", codec=CodecSpec(
    "Modulated autoencoder (Yang et al. 2020): one network, λ as input (Chapter 3)",
    {q: ("modulated", i) for i, q in enumerate(QUALITIES)}))
class ModulatedAutoencoder(LearnedModel):
    """Ballé's factorized-prior codec with λ-conditioned channel gains; ``lambdas`` is the rate set.

    ``ste`` changes training only, as in :class:`~lic.models.balle2017.FactorizedPrior`."""

    stride = 16

    def __init__(self, N: int = 128, M: int = 192,
                 lambdas: Sequence[float] = tuple(LAMBDAS[q - 1] for q in QUALITIES), ste: bool = False,
                 weight_power: float = 0.5) -> None:
        super().__init__()
        self.N, self.M, self.ste, self.weight_power = N, M, bool(ste), float(weight_power)
        self.register_buffer("lambdas", torch.tensor([float(v) for v in lambdas]))
        self.enc = nn.ModuleList([conv(3, N), conv(N, N), conv(N, N), conv(N, M)])
        self.gdn = nn.ModuleList([GDN(N) for _ in range(3)])
        self.mod = nn.ModuleList([Modulation(c) for c in (N, N, N, M)])
        self.dec = nn.ModuleList([deconv(M, N), deconv(N, N), deconv(N, N), deconv(N, 3)])
        self.igdn = nn.ModuleList([GDN(N, inverse=True) for _ in range(3)])
        self.demod = nn.ModuleList([Modulation(c) for c in (M, N, N, N)])
        self.entropy = FactorizedDensity(M)

    def warm_start_from(self, source: nn.Module) -> None:
        """Start from a single-rate :class:`FactorizedPrior` of the same width (``lic train --init``):
        its transforms and density, with every modulation and demodulation set to a gain of 1
        (their last layer zeroed, ``exp(0) = 1``), so that training starts from the single-rate
        model at every λ and learns only how the rates should differ. A modulated model with fewer
        latent channels is widened instead (:func:`lic.models.widening.widen_latent`; the new
        channels' gains start at 1)."""
        if type(source) is type(self) and source.M < self.M:
            if not torch.equal(source.lambdas, self.lambdas):
                raise ValueError("a modulated model widens only a model trained on the same λ set")
            widen_latent(self, source, makers=("enc.3", "mod.3.net.2", "demod.0.net.2"), readers=("dec.0",))
            return
        if not isinstance(source, FactorizedPrior):
            super().warm_start_from(source)
            return
        names = {f"entropy.{n}": f"entropy.{n}" for n, _ in self.entropy.named_parameters()}
        for k in range(4):  # g_a = conv, GDN, conv, GDN, conv, GDN, conv; g_s likewise with IGDN
            names |= {f"enc.{k}.{p}": f"g_a.{2 * k}.{p}" for p in ("weight", "bias")}
            names |= {f"dec.{k}.{p}": f"g_s.{2 * k}.{p}" for p in ("weight", "bias")}
        for k in range(3):
            names |= {f"gdn.{k}.{p}": f"g_a.{2 * k + 1}.{p}" for p, _ in self.gdn[k].named_parameters()}
            names |= {f"igdn.{k}.{p}": f"g_s.{2 * k + 1}.{p}" for p, _ in self.igdn[k].named_parameters()}
        self.copy_parameters(names, source)
        with torch.no_grad():
            for gain in (*self.mod, *self.demod):
                gain.net[-1].weight.zero_()
                gain.net[-1].bias.zero_()

    def _norm(self, rate: Rate, batch: int) -> torch.Tensor:
        """``ℓ(λ)`` for rate index ``rate`` (an int, or ``[B]`` ints), as a ``[B]`` tensor."""
        rate = torch.as_tensor(rate, device=self.lambdas.device).expand(batch)
        low, high = self.lambdas.min(), self.lambdas.max()
        if low == high:
            return torch.ones_like(self.lambdas[rate])
        return 1 + torch.log(self.lambdas[rate] / high) / torch.log(high / low)

    def loss_weights(self) -> list[float]:
        """Our ``w_λ = (λ_min / λ)^p`` for the w of eq. (3) (Zheng & Liang propose w = 1),
        ``p = weight_power``: 0.5 makes the rates' losses about the same size; a larger ``p`` favours
        the low rates."""
        low = float(self.lambdas.min())
        return [(low / float(v)) ** self.weight_power for v in self.lambdas]

    def analysis(self, x: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        """Each convolution's output times its modulation ``m_i(λ)`` (Zheng & Liang Sec. II, Fig. 4), then GDN."""
        lam = self._norm(rate, x.shape[0])
        for k, layer in enumerate(self.enc):
            x = layer(x) * self.mod[k](lam)
            if k < 3:
                x = self.gdn[k](x)
        return x

    def synthesis(self, y_hat: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        """Demodulate the latent, then deconvolution / IGDN / demodulation ``d_i(λ)`` (Fig. 4)."""
        lam = self._norm(rate, y_hat.shape[0])
        x = y_hat * self.demod[0](lam)
        for k, layer in enumerate(self.dec):
            x = layer(x)
            if k < 3:
                x = self.igdn[k](x) * self.demod[k + 1](lam)
        return x
