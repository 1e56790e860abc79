"""The two registered codecs of Chapter 1: ``jpeg-scratch`` and ``jpeg-scratch-ac``."""
from __future__ import annotations

import torch

from ..codec import Codec, register
from .arithmetic import AC_CODEC, decode_arithmetic, encode_arithmetic
from .jfif import decode, encode

JPEG_QUALITIES = (10, 20, 30, 40, 50, 60, 75, 85, 90, 95)


@register("jpeg-scratch", "Baseline JPEG (4:2:0, Annex K tables) written from scratch in numpy")
class ScratchJPEG(Codec):
    """Chapter 1's JPEG: :func:`encode` / :func:`decode`, real ``.jpg`` files."""

    qualities = JPEG_QUALITIES

    def quality_range(self) -> tuple[int, int]:
        return (1, 100)

    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        return encode(image, self.check_quality(quality))

    def decompress(self, data: bytes) -> torch.Tensor:
        return decode(data)


@register(AC_CODEC, "Chapter 1's JPEG coefficients with adaptive arithmetic coding instead of Huffman")
class ScratchJPEGArithmetic(ScratchJPEG):
    """The same quantised coefficients as ``jpeg-scratch``, entropy-coded by :func:`arithmetic_scan`."""

    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        return encode_arithmetic(image, self.check_quality(quality))

    def decompress(self, data: bytes) -> torch.Tensor:
        return decode_arithmetic(data)
