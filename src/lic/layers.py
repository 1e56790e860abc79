"""Layers the learned codecs share: GDN / inverse GDN and bounded parameters.

* :class:`GDN` is the generalized divisive normalization of Ballé, Laparra & Simoncelli
  ("Density modeling of images using a generalized normalization transformation", ICLR 2016),
  used as the nonlinearity of the transforms in Ballé et al. 2017, "End-to-end optimized image
  compression" (Sec. 2: GDN in the analysis transform, and its approximate
  inverse in the synthesis transform).
* :func:`lower_bound` is a ``max(x, bound)`` whose gradient does not die below the bound; GDN and
  the entropy models use it to keep parameters and likelihoods away from zero.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["lower_bound", "GDN"]


class _LowerBound(torch.autograd.Function):
    """``max(x, bound)`` with a gradient that still lets ``x`` climb back up from below."""

    @staticmethod
    def forward(ctx, x: Tensor, bound: float) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.bound = bound
        return x.clamp_min(bound)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        # Pass the gradient where x is above the bound, and below it only when gradient descent
        # would move x upwards (grad < 0), i.e. back towards the feasible region.
        passthrough = (x >= ctx.bound) | (grad < 0)
        return grad * passthrough.to(grad.dtype), None


def lower_bound(x: Tensor, bound: float) -> Tensor:
    """``max(x, bound)`` elementwise, with a "gradient-friendly" backward pass.

    A plain ``clamp`` has zero gradient below the bound, so a parameter that overshot could never
    return. Here the gradient passes whenever it points back up (the trick of Ballé's
    ``LowerBound`` op in tensorflow-compression, used for GDN (Ballé 2016) and for the entropy
    models' likelihood floor).
    """
    return _LowerBound.apply(x, float(bound))


# ----------------------------------------------------------------------------- GDN
_OFFSET = 2.0**-18  # Ballé's reparametrisation offset; the "pedestal" is its square
_PEDESTAL = _OFFSET**2


def _to_stored(value: Tensor) -> Tensor:
    """The stored (unconstrained) form of a non-negative GDN parameter: sqrt(value + pedestal)."""
    return torch.sqrt(torch.clamp_min(value + _PEDESTAL, _PEDESTAL))


def _from_stored(stored: Tensor, minimum: float) -> Tensor:
    """The effective parameter: lower_bound(stored, sqrt(minimum + pedestal))² − pedestal ≥ minimum.

    Optimising the square root makes steps near zero small (the gradient of v = s² vanishes as
    s → 0), and the pedestal keeps that square root away from exactly zero.
    """
    bound = (minimum + _PEDESTAL) ** 0.5
    return lower_bound(stored, bound) ** 2 - _PEDESTAL


class GDN(nn.Module):
    r"""Generalized divisive normalization (Ballé 2016; Ballé et al. 2017, Sec. 2).

    For every pixel, with ``x`` the vector of its ``channels`` values::

        GDN:  y_i = x_i / sqrt(beta_i + sum_j gamma_ij * x_j**2)      (GDN)
        IGDN: y_i = x_i * sqrt(beta_i + sum_j gamma_ij * x_j**2)      (IGDN, inverse=True)

    The sum over ``j`` mixes channels at the same position only, so it is a 1×1 convolution of
    ``x**2`` with weight ``gamma`` and bias ``beta``. ``beta`` (≥ ``beta_min``) and ``gamma``
    (≥ 0) are stored as square roots with a small pedestal and bounded with :func:`lower_bound`,
    so that gradient steps can never make the denominator zero or negative. Initialisation:
    ``beta = 1`` and ``gamma = gamma_init · I``, so a fresh GDN is close to ``x / sqrt(1 + 0.1 x²)``.
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1) -> None:
        super().__init__()
        self.channels = int(channels)
        self.inverse = bool(inverse)
        self.beta_min = float(beta_min)
        self.beta_stored = nn.Parameter(_to_stored(torch.ones(channels)))
        self.gamma_stored = nn.Parameter(_to_stored(gamma_init * torch.eye(channels)))

    @property
    def beta(self) -> Tensor:
        """Effective ``beta`` (shape ``[C]``), always ≥ ``beta_min``."""
        return _from_stored(self.beta_stored, self.beta_min)

    @property
    def gamma(self) -> Tensor:
        """Effective ``gamma`` (shape ``[C, C]``, row i = weights of output channel i), always ≥ 0."""
        return _from_stored(self.gamma_stored, 0.0)

    @torch.no_grad()
    def set_parameters(self, beta: Tensor, gamma: Tensor) -> None:
        """Set the effective ``beta`` ``[C]`` and ``gamma`` ``[C, C]`` (for tests and exercises)."""
        self.beta_stored.copy_(_to_stored(beta.clamp_min(self.beta_min)))
        self.gamma_stored.copy_(_to_stored(gamma.clamp_min(0.0)))

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` of shape ``[B, C, H, W]`` , or undo it (IGDN) if ``inverse``."""
        c = self.channels
        norm = F.conv2d(x * x, self.gamma.reshape(c, c, 1, 1), self.beta)
        norm = torch.sqrt(norm)
        return x * norm if self.inverse else x / norm

    def extra_repr(self) -> str:
        return f"{self.channels}, inverse={self.inverse}"
