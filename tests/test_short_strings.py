"""The byte-granular range coder of short strings: exact round trips, about one byte of overhead."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lic.entropy import FactorizedDensity, estimate_bits, pmf_to_counts
from lic.entropy import short_strings

PRECISION = 24


def _tables(precision: int = PRECISION) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pmfs = [np.append(np.exp(-np.abs(np.arange(-n, n + 1)) / s), 1e-9) for n, s in ((4, 0.5), (12, 2.0), (200, 40.0), (1, 0.3))]
    rows = [pmf_to_counts(p, precision) for p in pmfs]
    counts = np.zeros((len(rows), max(len(r) for r in rows)), np.int64)
    for i, r in enumerate(rows):
        counts[i, : len(r)] = r
    return counts, np.array([len(r) for r in rows]), np.array([-4, -12, -200, -1])


@pytest.mark.parametrize("precision", [16, 24])
def test_random_strings_round_trip_within_a_byte_of_the_ideal_length(precision: int) -> None:
    counts, sizes, offsets = _tables(precision)
    rng = np.random.default_rng(precision)
    for n in list(range(0, 12)) + [50, 300]:
        tables = rng.integers(0, 4, n)
        values = np.array([offsets[m] + rng.choice(sizes[m] - 1, p=counts[m, : sizes[m] - 1] / counts[m, : sizes[m] - 1].sum())
                           for m in tables], dtype=np.int64)
        data = short_strings.encode(values, tables, counts, sizes, offsets, precision)
        assert np.array_equal(short_strings.decode(data, tables, counts, sizes, offsets, precision), values)
        ideal = sum(-math.log2(counts[m, v - offsets[m]] / 2**precision) for v, m in zip(values, tables))
        assert 8 * len(data) < ideal + 8 + 1e-6 * n, (n, len(data), ideal)


def test_escapes_on_both_sides_and_extreme_values() -> None:
    counts, sizes, offsets = _tables()
    tables = np.array([0, 1, 2, 3, 0, 3])
    values = np.array([-5, 13, -(2**30) + 1, 2**30 - 1, 0, -2], dtype=np.int64)
    data = short_strings.encode(values, tables, counts, sizes, offsets, PRECISION)
    assert np.array_equal(short_strings.decode(data, tables, counts, sizes, offsets, PRECISION), values)


def test_the_density_codes_short_strings_for_a_fraction_of_the_words() -> None:
    torch.manual_seed(0)
    density = FactorizedDensity(16)
    density.update()
    y = torch.randn(1, 16, 1, 1) * 3
    long = density.compress(y)[0]
    short = density.compress(y, short=True)[0]
    assert torch.equal(density.decompress([short], (1, 1), short=True), density.decompress([long], (1, 1)))
    with torch.no_grad():
        _, likelihoods = density(y, training=False)
    assert 8 * len(short) < float(estimate_bits(likelihoods)) + 8 < 8 * len(long) + 8
