"""The 8×8 DCT and quantisation: T.81 A.3 and the Annex K tables scaled by libjpeg's quality."""
from __future__ import annotations

import numpy as np


def dct_matrix() -> np.ndarray:
    """The 8x8 orthonormal DCT-II matrix ``C[u, x] = c(u) cos((2x + 1) u pi / 16)``.

    With it, T.81's FDCT (A.3.3) is ``C @ block @ C.T`` and the IDCT is ``C.T @ coeffs @ C``.
    """
    u, x = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    scale = np.where(u == 0, np.sqrt(1 / 8), np.sqrt(2 / 8))
    return scale * np.cos((2 * x + 1) * u * np.pi / 16)


_C = dct_matrix()


def dct2(blocks: np.ndarray) -> np.ndarray:
    """2-D DCT of every 8x8 block in ``[..., 8, 8]`` (T.81 A.3.3, level shift done by the caller)."""
    return _C @ np.asarray(blocks, dtype=np.float64) @ _C.T


def idct2(coeffs: np.ndarray) -> np.ndarray:
    """Inverse 2-D DCT of every 8x8 block in ``[..., 8, 8]`` (T.81 A.3.3)."""
    return _C.T @ np.asarray(coeffs, dtype=np.float64) @ _C


def dct_basis() -> np.ndarray:
    """The 64 DCT basis images, ``[8, 8, 8, 8]``: ``basis[u, v]`` is the block whose DCT is a single 1
    at frequency ``(u, v)`` (u vertical, v horizontal)."""
    return np.einsum("ux,vy->uvxy", _C, _C)



# T.81 Annex K.1, Tables K.1 (luminance) and K.2 (chrominance), natural (row-major) order.
LUMA_QTABLE = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61],
    [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77],
    [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101],
    [72, 92, 95, 98, 112, 100, 103, 99],
], dtype=np.int32)  # fmt: skip
CHROMA_QTABLE = np.array([
    [17, 18, 24, 47, 99, 99, 99, 99],
    [18, 21, 26, 66, 99, 99, 99, 99],
    [24, 26, 56, 99, 99, 99, 99, 99],
    [47, 66, 99, 99, 99, 99, 99, 99],
    *[[99] * 8] * 4,
], dtype=np.int32)  # fmt: skip


def quant_tables(quality: int) -> tuple[np.ndarray, np.ndarray]:
    """Luma and chroma 8x8 tables for an IJG quality factor 1..100 (libjpeg ``jcparam.c``).

    The Annex K tables are scaled by ``⌊5000 / q⌋`` percent below 50 and by ``200 - 2 q`` above,
    rounded, and clipped to 1..255 so that they fit baseline 8-bit DQT entries.
    """
    if int(quality) != quality or not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be an integer in [1, 100], got {quality!r}")
    quality = int(quality)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return tuple(np.clip((t * scale + 50) // 100, 1, 255) for t in (LUMA_QTABLE, CHROMA_QTABLE))


def quantize_coefficients(coeffs: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Divide each coefficient by its table entry and round half away from zero (T.81 A.3.4)."""
    x = np.asarray(coeffs) / table
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int32)


def dequantize_coefficients(levels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Multiply quantised levels back by the table (T.81 A.3.5)."""
    return np.asarray(levels, dtype=np.float64) * table
