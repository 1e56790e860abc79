"""From quantised blocks to symbols: zig-zag order, DC prediction, run-lengths (T.81 F.1.2)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _zigzag_order() -> np.ndarray:
    """Walk the anti-diagonals of an 8x8 block, alternating direction (T.81 Figure A.6)."""
    def key(i: int) -> tuple[int, int]:
        r, c = divmod(i, 8)
        return (r + c, r if (r + c) % 2 else c)
    return np.array(sorted(range(64), key=key))


ZIGZAG = _zigzag_order()  # ZIGZAG[k] = row-major index of the k-th coefficient in zig-zag order
UNZIGZAG = np.argsort(ZIGZAG)  # UNZIGZAG[i] = zig-zag position of row-major index i


def zigzag(blocks: np.ndarray) -> np.ndarray:
    """``[..., 8, 8]`` blocks -> ``[..., 64]`` vectors in zig-zag order (low frequencies first)."""
    b = np.asarray(blocks)
    return b.reshape(*b.shape[:-2], 64)[..., ZIGZAG]


def unzigzag(vectors: np.ndarray) -> np.ndarray:
    """``[..., 64]`` zig-zag vectors -> ``[..., 8, 8]`` blocks (inverse of :func:`zigzag`)."""
    v = np.asarray(vectors)
    return v[..., UNZIGZAG].reshape(*v.shape[:-1], 8, 8)


def dc_differences(dc: np.ndarray) -> np.ndarray:
    """DC prediction (T.81 F.1.2.1): each block's DC minus the previous block's of the same
    component, in scan order; the first is predicted from 0."""
    dc = np.asarray(dc)
    return np.diff(dc, prepend=0)


def undo_dc_differences(diffs: np.ndarray) -> np.ndarray:
    """Inverse of :func:`dc_differences`: the running sum."""
    return np.cumsum(diffs)


def magnitude_category(value: int) -> int:
    """SSSS, the number of bits of ``|value|`` (T.81 Tables F.1 and F.2); 0 for 0."""
    return abs(value).bit_length()


def amplitude_bits(value: int, size: int) -> int:
    """The ``size`` extra bits that follow a symbol (T.81 F.1.2.1): ``value`` itself if it is
    positive, else its ones' complement ``value + 2**size - 1``."""
    return value if value >= 0 else value + (1 << size) - 1


def extend(bits: int, size: int) -> int:
    """Inverse of :func:`amplitude_bits`: the EXTEND procedure of T.81 Figure F.12."""
    return bits if size == 0 or bits >> (size - 1) else bits - (1 << size) + 1


EOB = 0x00  # end of block: all remaining coefficients are zero
ZRL = 0xF0  # zero run length: sixteen zeros


def run_length(ac: Sequence[int]) -> list[tuple[int, int]]:
    """The 63 AC coefficients of a block (zig-zag order) -> ``(RS, value)`` symbols (T.81 F.1.2.2).

    ``RS = (run << 4) | size`` says how many zeros precede the next nonzero ``value`` and how many
    amplitude bits it takes. Runs over 15 emit ``ZRL`` symbols; trailing zeros become one ``EOB``.
    """
    symbols: list[tuple[int, int]] = []
    run = 0
    for value in ac:
        if value == 0:
            run += 1
            continue
        while run > 15:
            symbols.append((ZRL, 0))
            run -= 16
        symbols.append(((run << 4) | magnitude_category(value), value))
        run = 0
    if run:
        symbols.append((EOB, 0))
    return symbols
