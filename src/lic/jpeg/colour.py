"""Colour and blocks: JFIF's YCbCr, 4:2:0 chroma subsampling, and 8×8 blocks (T.81 A.2)."""
from __future__ import annotations

import numpy as np

#: JFIF 1.02 (full-range ITU-R BT.601) on 8-bit values: ``YCbCr = RGB_TO_YCBCR · RGB + (0, 128, 128)``
#: and ``RGB = YCBCR_TO_RGB · (Y, Cb - 128, Cr - 128)``. The functions below write these rows out
#: longhand; Chapter 2's networks use the same numbers in torch (:mod:`lic.models.conv_ae`).
RGB_TO_YCBCR = ((0.299, 0.587, 0.114), (-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))
YCBCR_TO_RGB = ((1.0, 0.0, 1.402), (1.0, -0.344136, -0.714136), (1.0, 1.772, 0.0))
CHROMA_OFFSET = 128.0


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` RGB (0..255) -> float YCbCr, full-range BT.601 (JFIF 1.02, section 7).

    libjpeg rounds the result to 8-bit samples, as :func:`encode` does with :func:`round_samples`.
    """
    r, g, b = (np.asarray(rgb, dtype=np.float64)[..., i] for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + CHROMA_OFFSET
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + CHROMA_OFFSET
    return np.stack([y, cb, cr], axis=-1)


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` YCbCr -> float RGB, the inverse JFIF equations (libjpeg's ``jdcolor.c``)."""
    y, cb, cr = (np.asarray(ycc, dtype=np.float64)[..., i] for i in range(3))
    r = y + 1.402 * (cr - CHROMA_OFFSET)
    g = y - 0.344136 * (cb - CHROMA_OFFSET) - 0.714136 * (cr - CHROMA_OFFSET)
    b = y + 1.772 * (cb - CHROMA_OFFSET)
    return np.stack([r, g, b], axis=-1)


def round_samples(x: np.ndarray) -> np.ndarray:
    """Round (half up) and clip to 8-bit samples, as libjpeg's fixed-point arithmetic does."""
    return np.clip(np.floor(np.asarray(x, dtype=np.float64) + 0.5), 0, 255).astype(np.uint8)


def subsample_420(channel: np.ndarray) -> np.ndarray:
    """Halve an 8-bit plane in both directions: each output sample is the mean of a 2x2 square.

    Exactly libjpeg's ``h2v2_downsample`` (``jcsample.c``): ``(a + b + c + d + bias) >> 2`` with
    ``bias`` alternating 1, 2 along the row so that rounding does not drift. Odd sides are
    padded by replicating the last row/column first. The plane must hold integers: round a
    floating-point plane to 8-bit samples first (:func:`round_samples`), as the encoder does.
    """
    if not np.issubdtype(np.asarray(channel).dtype, np.integer):
        raise ValueError(f"subsample_420 takes 8-bit integer samples, got {np.asarray(channel).dtype}: "
                         "round them first with round_samples")
    x = np.asarray(channel, dtype=np.int32)
    x = np.pad(x, ((0, x.shape[0] % 2), (0, x.shape[1] % 2)), mode="edge")
    sums = x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2]
    bias = 1 + np.arange(sums.shape[1]) % 2
    return ((sums + bias) >> 2).astype(np.uint8)


def upsample_420(channel: np.ndarray) -> np.ndarray:
    """Double an 8-bit plane in both directions with libjpeg's "fancy" triangle filter.

    Each output sample is 9/16, 3/16, 3/16, 1/16 of its four nearest input samples
    (``h2v2_fancy_upsample`` in libjpeg-turbo's ``jdsample.c``, the decoder's default), with
    the same integer rounding and edge replication. Like libjpeg-turbo, planes at most 2 samples
    wide are simply replicated.
    """
    x = np.asarray(channel, dtype=np.int32)
    if x.shape[1] <= 2:
        return np.repeat(np.repeat(x, 2, axis=0), 2, axis=1).astype(np.uint8)
    above = np.concatenate([x[:1], x[:-1]], axis=0)
    below = np.concatenate([x[1:], x[-1:]], axis=0)
    rows = np.empty((2 * x.shape[0], x.shape[1]), dtype=np.int32)  # vertical pass, scaled by 4
    rows[0::2] = 3 * x + above
    rows[1::2] = 3 * x + below
    left = np.concatenate([rows[:, :1], rows[:, :-1]], axis=1)
    right = np.concatenate([rows[:, 1:], rows[:, -1:]], axis=1)
    out = np.empty((rows.shape[0], 2 * rows.shape[1]), dtype=np.int32)
    out[:, 0::2] = (3 * rows + left + 8) >> 4
    out[:, 1::2] = (3 * rows + right + 7) >> 4
    return out.astype(np.uint8)




def blockify(channel: np.ndarray, multiple: int = 8) -> np.ndarray:
    """``[H, W]`` plane -> ``[H'/8, W'/8, 8, 8]`` blocks, after padding the bottom/right edges by
    replication to multiples of ``multiple`` (8, or 16 for the luma of 4:2:0 MCUs; T.81 A.2.4)."""
    x = np.asarray(channel)
    h, w = x.shape
    x = np.pad(x, ((0, -h % multiple), (0, -w % multiple)), mode="edge")
    return x.reshape(x.shape[0] // 8, 8, x.shape[1] // 8, 8).transpose(0, 2, 1, 3)


def unblockify(blocks: np.ndarray) -> np.ndarray:
    """``[by, bx, 8, 8]`` blocks -> the ``[8 by, 8 bx]`` plane (crop it to the image size)."""
    by, bx = blocks.shape[:2]
    return blocks.transpose(0, 2, 1, 3).reshape(8 * by, 8 * bx)
