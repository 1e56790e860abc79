"""The registry of learned models: a name for every model class, and the codec each one ships as.

Adding a model to the book is one file with one decorator::

    @register_model("balle2017", codec=CodecSpec("Ballé et al. 2017 ...", {1: ("balle2017-q1", 0), ...}))
    class FactorizedPrior(LearnedModel): ...

Training configs name models by the registered name; :mod:`lic.registry` turns every
:class:`CodecSpec` into a codec that loads the shipped checkpoints.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from torch import nn


@dataclass(frozen=True)
class CodecSpec:
    """How a model ships as a codec: a description, and for each quality the checkpoint stem and
    the model's rate index (0 for single-rate models; the λ index for variable-rate ones)."""

    description: str
    qualities: Mapping[int, tuple[str, int]] = field(default_factory=dict)


#: model name -> class (training configs and checkpoints name models by these keys)
MODELS: dict[str, type[nn.Module]] = {}
#: codec name -> (model name, spec), in registration order
CODECS: dict[str, tuple[str, CodecSpec]] = {}


def register_model(name: str, codec: CodecSpec | None = None) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: register a model under ``name`` and, with ``codec``, a codec of that name."""

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        MODELS[name] = cls
        if codec is not None:
            CODECS[name] = (name, codec)
        return cls

    return deco
