"""Quantization and its ideal code length: the two training-time pieces of every entropy model.

Rounding has no useful gradient, so training replaces it by a proxy (Ballé et al. 2017, Sec. 3);
the rate term of the loss ``R + λD`` is the ideal code length ``-Σ log2 p(ŷ)`` (Sec. 2).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch
from torch import Tensor


def quantize(x: Tensor, mode: str, means: Tensor | None = None) -> Tensor:
    """Quantize latents: ``"noise"`` for training, ``"round"`` for coding, ``"ste"`` in between.

    * ``"round"`` — ``round(x - means) + means`` (``means`` = 0 if not given): what the codec
      really transmits. Its derivative is zero almost everywhere (and undefined at the steps), so
      gradient descent through it learns nothing.
    * ``"noise"`` — ``x + u`` with ``u ~ U(-1/2, 1/2)``, the training proxy of Ballé et al. 2017
      (Sec. 3): the density of ``x + u`` is the density of ``x`` convolved with a unit box, and at
      the integers it equals the probability mass of ``round(x)``. The proxy is differentiable, and
      the rate measured on it is a continuous relaxation of the true discrete rate. ``means`` is
      ignored (shifting the grid does not change the noise).
    * ``"ste"`` — the straight-through estimator: the forward value of ``"round"`` with the
      gradient of the identity (Theis et al. 2017), often used for the decoder's input.
    """
    if mode == "noise":
        return x + torch.empty_like(x).uniform_(-0.5, 0.5)
    if mode not in ("round", "ste"):
        raise ValueError(f"quantize mode must be 'noise', 'round' or 'ste', got {mode!r}")
    rounded = torch.round(x - means) + means if means is not None else torch.round(x)
    if mode == "round":
        return rounded
    return x + (rounded - x).detach()


def estimate_bits(likelihoods: Tensor | Sequence[Tensor] | Mapping[str, Tensor]) -> Tensor:
    """The ideal code length ``-Σ log2 p`` in bits: the rate term R of the loss R + λD (Ballé et al. 2017, Sec. 2; Zheng & Liang eq. 1).

    Accepts one tensor of likelihoods, or a list/tuple/dict of them (e.g. ``{"y": ..., "z": ...}``)
    and returns their total as a scalar tensor (differentiable).
    """
    if isinstance(likelihoods, Tensor):
        return -torch.log2(likelihoods).sum()
    values: Iterable[Tensor] = likelihoods.values() if isinstance(likelihoods, Mapping) else likelihoods
    return sum((-torch.log2(p).sum() for p in values), torch.zeros(()))
