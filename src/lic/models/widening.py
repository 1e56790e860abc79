"""Growing a trained model's latent: more channels ``M``, the same function (``lic train --init``).

Ballé et al. use more latent channels at high rates (192 instead of 128 in the 2017 paper), and the
book's narrow high-rate models are capacity-bound. A wider model can start from a trained narrow
one so that the codec first computes exactly what the narrow one does, and then learns to use its
new channels:

- what *makes* the latent (the last analysis filters, and any per-channel gains on it) starts at
  zero for the new channels, so their latents are ``y = 0`` (a gain ``exp(0) = 1``);
- their densities are a copy of the narrow model's most peaked one, shifted to median 0, so
  ``ŷ = round(y - m) + m = 0`` and they cost almost no bits;
- what *reads* the latent (the first synthesis filters) keeps its random start for the new
  channels: it sees ``ŷ = 0`` and changes nothing, but passes gradient back to the zero filters
  (through the straight-through rounding or the noise), which would otherwise stay zero for good.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..entropy import FactorizedDensity


@torch.no_grad()
def widen_latent(model: nn.Module, source: nn.Module, silent: Sequence[str], density: str = "entropy") -> None:
    """Copy ``source`` into ``model``, a model of the same class whose latent has more channels.

    Parameters that differ in shape must differ only in their first dimension, by the number of
    new latent channels; their first rows are copied. The new rows of parameters under the
    module names in ``silent`` start at zero, the others keep their initial values. ``density``
    names the :class:`~lic.entropy.FactorizedDensity` of the latent.
    """
    mine: FactorizedDensity = model.get_submodule(density)
    theirs: FactorizedDensity = source.get_submodule(density)
    m, grow = theirs.channels, mine.channels - theirs.channels
    own, other = dict(model.named_parameters()), dict(source.named_parameters())
    for name, p in own.items():
        q = other[name]
        if p.shape == q.shape:
            p.copy_(q)
            continue
        if name.startswith(density + "."):
            continue  # below
        if p.shape[1:] != q.shape[1:] or p.shape[0] - q.shape[0] != grow:
            raise ValueError(f"cannot widen {name} {tuple(q.shape)} into {tuple(p.shape)}: "
                             f"the models differ in width elsewhere than the latent")
        if any(name.startswith(s + ".") for s in silent):
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
