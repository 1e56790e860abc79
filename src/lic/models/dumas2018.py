"""Dumas, Roumy & Guillemot 2018, "Autoencoder based image compression: can the learning be
quantization independent?" (ICASSP): one transform for every rate, with learned step sizes.

Luminance only (Sec. 3): ``X`` is the BT.601 luma of the image, and the decoded image is grey.

    g_e:  conv 9x9/4 N, GDN, conv 5x5/2 N, GDN, conv 5x5/2 M          (h, w = H/16, W/16)
    g_d:  deconv 5x5/2 N, IGDN, deconv 5x5/2 N, IGDN, deconv 9x9/4 1

The paper's three cases (Sec. 4) are one class with two switches:

- ``steps="learned"`` (case 2): one quantization step size ``δ_i`` per feature map, learned with the
  transform through eq. (4),

      min  E[ ||X - g_d(g_e(X) + Δ ⊙ T)||² + γ Σ_i h̃_i ],
      h̃_i = -log2 δ_i - (1/n) Σ_j log2 p̃_i(y_ij + δ_i τ_ij),   τ ~ U(-½, ½),

  where ``p̃_i = p_i * l_i`` is the density of feature map i convolved with a box of width ``δ_i``
  (eq. 2). The library's factorized density gives ``c_i(ỹ + δ_i/2) - c_i(ỹ - δ_i/2) = δ_i p̃_i(ỹ)``,
  the mass of a bin of width ``δ_i``: its ``-log2`` is exactly ``h̃_i``'s summand, so
  ``FactorizedDensity(width=δ)`` computes eq. (4) term for term (our ``R + λD`` puts the weight on
  the distortion: ``λ = 1/γ`` up to the pixel normalisation). ``δ_i = exp(s_i)`` keeps it positive.
- ``steps="fixed"`` (cases 1 and 3): ``δ = 1``, and a GDN after ``g_e`` and an inverse GDN before
  ``g_d`` do the bit allocation, as in Ballé et al. 2017 (the "normalizations" of eq. 1).

At test time rate index ``r`` quantizes feature map ``i`` with the step ``β_r δ_i`` around its
median ``m_i`` (Sec. 3.1 centres by a mean ``μ̄_i`` measured on extra images; the density's median
needs no extra data): ``ŷ_i = m_i + β δ_i round((y_i - m_i) / (β δ_i))``. The coding tables of every
β are built from the same learned density (bins of width ``β δ_i``), so one checkpoint serves
every β of the paper's set ``B`` = {1, 1.25, 1.5, 2, 3, 4, 6, 8, 10}.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..data import luminance
from ..entropy import FactorizedDensity
from ..entropy.factorized import Width
from ..layers import GDN
from .base import LearnedModel, Rate
from .registry import CodecSpec, register_model

#: The paper's test-time scales of the step sizes (Sec. 4, the set B).
BETAS = (1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0)

#: The paper's rate weight γ of the shipped models (Sec. 4): cases 2 and 3 are trained at γ = 10 000,
#: case 1 adds fine-tunes of the fixed-step model at these γ of the paper's set S (the chain of
#: fine-tunes also passes through γ = 24 000, which is not shipped). Our λ is ``256 / γ`` (X on
#: 0-255, 256×256 training crops; Chapter 4 derives it).
GAMMA = 10_000
CASE1_GAMMAS = (16_000, 40_000, 96_000)


def gamma_to_lambda(gamma: float) -> float:
    """The paper's γ as our λ: its loss ``n_px·MSE + γ·256·bpp`` over ``256 γ``, with ``n_px = 256²``."""
    return 256 / gamma


#: The paper's three cases (Sec. 4) as codec specs. Case 2 is the registered codec ``dumas2018``;
#: cases 1 and 3 serve the chapter's comparison. Cases 2 and 3: quality q is β = ``BETAS[9 - q]``;
#: case 1: quality q is the fixed-step model trained at γ = 1000 q (10 is case 3's model).
CASES = {
    1: CodecSpec("Dumas et al. 2018, case 1: one fixed-step model per γ, at β = 1",
                 {GAMMA // 1000: ("dumas2018-fixed", 0), **{g // 1000: (f"dumas2018-fixed-g{g}", 0) for g in CASE1_GAMMAS}}),
    2: CodecSpec("Dumas et al. 2018: one luminance transform, learned step sizes scaled by β at test "
                 "time (Chapter 4); quality q = 1..9 is β = 10, 8, 6, 4, 3, 2, 1.5, 1.25, 1",
                 {q: ("dumas2018", len(BETAS) - q) for q in range(1, len(BETAS) + 1)}),
    3: CodecSpec("Dumas et al. 2018, case 3: fixed step and GDN normalisations, scaled by β",
                 {q: ("dumas2018-fixed", len(BETAS) - q) for q in range(1, len(BETAS) + 1)}),
}


def _conv(cin: int, cout: int, kernel: int, stride: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)


def _deconv(cin: int, cout: int, kernel: int, stride: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=kernel // 2, output_padding=stride - 1)


@register_model("dumas2018", codec=CASES[2])
class Dumas2018(LearnedModel):
    """A luminance autoencoder whose rate is set by scaling its quantization steps by ``β``.

    ``N`` hidden and ``M`` latent feature maps (the paper: 128 and 128), trained at ``lmbda``
    (default: the paper's γ = 10 000);
    ``steps`` is ``"learned"`` (case 2) or ``"fixed"`` (cases 1 and 3); ``betas`` the test-time
    scales, one rate index each.
    """

    stride = 16

    def __init__(self, N: int = 128, M: int = 128, lmbda: float = gamma_to_lambda(GAMMA), steps: str = "learned",
                 betas: Sequence[float] = BETAS) -> None:
        super().__init__()
        if steps not in ("learned", "fixed"):
            raise ValueError(f"steps must be 'learned' or 'fixed', got {steps!r}")
        self.N, self.M, self.lmbda, self.steps = N, M, float(lmbda), steps
        self.lambdas = (self.lmbda,)
        self.register_buffer("betas", torch.tensor([float(b) for b in betas]))
        self.g_e = nn.Sequential(_conv(1, N, 9, 4), GDN(N), _conv(N, N, 5, 2), GDN(N), _conv(N, M, 5, 2))
        self.g_d = nn.Sequential(_deconv(M, N, 5, 2), GDN(N, inverse=True), _deconv(N, N, 5, 2),
                                 GDN(N, inverse=True), _deconv(N, 1, 9, 4))
        if steps == "learned":
            self.log_steps = nn.Parameter(torch.zeros(M))  # δ_i = exp(s_i), starting at 1
        else:
            self.g_e.append(GDN(M))
            self.g_d.insert(0, GDN(M, inverse=True))
        self.entropy = FactorizedDensity(M)
        self.register_buffer("coding_steps", torch.zeros(0, M))  # β_r δ_i, frozen by update()

    @property
    def rates(self) -> int:
        """One rate per test-time scale β."""
        return len(self.betas)

    def step_sizes(self) -> torch.Tensor:
        """The learned ``δ_i`` (``[M]``; all ones with ``steps="fixed"``)."""
        if self.steps == "learned":
            return torch.exp(self.log_steps)
        return torch.ones(self.M, device=self.betas.device)

    def bins(self, rate: Rate) -> tuple[int, Width]:
        """Table set ``rate`` and the steps ``β_rate δ_i``; once :meth:`update` has frozen them,
        evaluation uses exactly the steps the coding tables were built for."""
        rate = int(rate)
        if not self.training and self.coding_steps.shape[0] == self.rates:
            return rate, self.coding_steps[rate]
        return rate, self.betas[rate] * self.step_sizes()

    @torch.no_grad()
    def update(self) -> None:
        """Freeze the steps ``β δ_i`` of every β and build one set of coding tables for each."""
        self.coding_steps = (self.betas[:, None] * self.step_sizes()[None, :]).float()
        self.entropy.update(self.coding_steps)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """The luminance of ``x``, in all three channels: what this codec reconstructs."""
        return luminance(x).expand_as(x)

    def analysis(self, x: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        """``Y = g_e(X)`` with ``X`` the luma of the RGB images ``x`` (any β: the transform is one)."""
        return self.g_e(luminance(x))

    def synthesis(self, y_hat: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        """``X̂ = g_d(Ŷ)``, returned as a grey RGB image (the luma in all three channels)."""
        return self.g_d(y_hat).expand(-1, 3, -1, -1)


def laplace_fit(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximum-likelihood Laplace fit ``f(x; μ, λ) = exp(-|x - μ| / λ) / (2λ)`` (Sec. 3.1) of each
    feature map: ``values`` ``[B, C, H, W]`` -> ``(μ, λ)`` ``[C]`` each (μ = median, λ = mean |x - μ|)."""
    flat = values.detach().transpose(0, 1).reshape(values.shape[1], -1).float()
    mu = flat.median(dim=1).values
    return mu, (flat - mu[:, None]).abs().mean(dim=1)


@torch.no_grad()
def single_coefficient(model: Dumas2018, means: torch.Tensor, channel: int, alpha: float,
                       size: tuple[int, int] = (4, 4), at: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """What one coefficient decodes to (Sec. 3.2, Fig. 4): every feature map set to its mean,
    then the coefficient of map ``channel`` at latent position ``at`` set to ``alpha``; returns
    ``g_d`` of that (``[1, 16 h, 16 w]`` for latents of ``size = (h, w)``; not quantized, not clamped)."""
    y = means.reshape(1, -1, 1, 1).expand(1, model.M, *size).clone()
    y[0, channel, at[0], at[1]] = alpha
    return model.g_d(y)[0]
