"""Every codec of the book by name: the standard formats, Chapter 1's JPEG, and the learned codecs.

This module sits above the implementations and imports them all; their registration
(``@register`` in :mod:`lic.codec`, ``@register_model`` in :mod:`lic.models.registry`) fills the
tables that :func:`available` and :func:`get_codec` read.
"""
from __future__ import annotations

import functools

import torch

from . import baselines, jpeg  # noqa: F401  (registration)
from .codec import REGISTERED, BitstreamError, Codec, register, sniff
from .learned_codec import LearnedCodec
from .models import CODECS
from .progressive_codec import ProgressiveCodec

for _name, (_, _spec) in CODECS.items():
    register(_name, _spec.description)(functools.partial(LearnedCodec, _spec))
register("ashok2019", "Ashok & Palani: recurrent attention with Cauchy glimpses, a progressive code per 32x32 "
                      "tile (Chapter 6); quality = target PSNR in dB")(ProgressiveCodec)

_INSTANCES: dict[str, Codec] = {}


def available() -> dict[str, str]:
    """Names of all registered codecs mapped to one-line descriptions."""
    return {name: entry.description for name, entry in sorted(REGISTERED.items())}


def get_codec(name: str) -> Codec:
    """The codec registered under ``name`` (constructed once, then cached)."""
    if name not in REGISTERED:
        raise KeyError(f"unknown codec {name!r}; known codecs: {', '.join(sorted(REGISTERED))}")
    if name not in _INSTANCES:
        codec = REGISTERED[name].factory()
        codec.name = name
        _INSTANCES[name] = codec
    return _INSTANCES[name]


def describe() -> list[dict]:
    """Each codec's name, description, default qualities and accepted range (``lic codecs --json``)."""
    rows = []
    for name, description in available().items():
        codec = get_codec(name)
        low, high = codec.quality_range()
        rows.append({"name": name, "description": description, "qualities": list(codec.qualities),
                     "quality_range": [low, high]})
    return rows


def decoder_name(data: bytes) -> str:
    """The registered codec that decodes ``data``, judged from its first bytes (``BitstreamError``
    for an unknown format, or a container naming a codec that is not registered)."""
    name = sniff(data)
    if name not in REGISTERED:
        raise BitstreamError(f"the stream names codec {name!r}, which is not registered (corrupt header?)")
    return name


def decode_any(data: bytes) -> torch.Tensor:
    """Decode bytes of any format this package writes, choosing the decoder from the bytes."""
    return get_codec(decoder_name(data)).decompress(data)
