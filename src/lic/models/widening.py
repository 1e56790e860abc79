"""Growing a trained model's latent: more channels ``M``, the same function (``lic train --init``).

The field's reference factorized-prior models use more channels at high rates (N = 192 and M = 320
instead of 128 and 192 at the three highest λ; Ballé et al. 2018 as released by CompressAI). The
book's narrow high-rate models lag the most behind the reference, so we grow their latent (``M``
only, not ``N``). A wider model starts from a trained narrow one so that the codec first computes
what the narrow one does (up to float rounding), and then learns to use its new channels:

- what *makes* the latent (the last analysis filters, and any per-channel gains on it) starts at
  zero for the new channels, so their latents are ``y = 0`` (a gain ``exp(0) = 1``);
- their densities are a copy of the narrow model's most peaked one, shifted to median 0, so
  ``ŷ = round(y - m) + m = 0``. Each new latent then costs ``-log2 p`` of that density's central
  bin: nothing measurable for the shipped models, which all have a channel with ``p > 0.9998``;
- what *reads* the latent (the first synthesis filters) keeps its random start for the new
  channels. With the straight-through decoder input (``ste = true``, the book's recipe) it sees
  ``ŷ = 0`` in training too and changes nothing, but passes gradient back to the zero filters,
  which would otherwise stay zero for good. (With the noise proxy it would see the noise ``u``
  at first.)
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..entropy import FactorizedDensity


@torch.no_grad()
def widen_latent(model: nn.Module, source: nn.Module, makers: Sequence[str], readers: Sequence[str]) -> None:
    """Copy ``source`` into ``model``, a model of the same class whose latent has more channels.

    ``makers`` and ``readers`` name the modules whose parameters' first dimension is the latent's
    channels: those that make the latent (new rows start at zero) and those that read it (new rows
    keep their initial values). Every other parameter must have the same shape in both models;
    ``model.entropy`` must be a :class:`~lic.entropy.FactorizedDensity`.
    """
    mine, theirs = model.entropy, source.entropy
    if not isinstance(mine, FactorizedDensity) or not isinstance(theirs, FactorizedDensity):
        raise TypeError("widen_latent needs factorized densities (model.entropy)")
    m = theirs.channels
    other = dict(source.named_parameters())
    for name, p in model.named_parameters():
        q = other[name]
        if p.shape == q.shape:
            p.copy_(q)
            continue
        if name.startswith("entropy."):
            continue  # below
        module = name.rpartition(".")[0]
        if module not in (*makers, *readers) or p.shape[1:] != q.shape[1:]:
            raise ValueError(f"cannot widen {name} {tuple(q.shape)} into {tuple(p.shape)}: "
                             f"the models differ in width elsewhere than the latent")
        if module in makers:
            p.zero_()
        p[:m] = q
    medians = theirs.medians()
    peaked = int(theirs.likelihood(medians.reshape(1, -1, 1, 1)).flatten().argmax())
    for p, q in zip((*mine.matrices, *mine.biases, *mine.factors),
                    (*theirs.matrices, *theirs.biases, *theirs.factors)):
        p[:m] = q
        p[m:] = q[peaked]
    # c'(x) = c(x + median): the first layer's bias absorbs the shift, H_1 (x + m) + b_1.
    slope = F.softplus(theirs.matrices[0][peaked])
    mine.biases[0][m:] = theirs.biases[0][peaked] + slope * medians[peaked]
