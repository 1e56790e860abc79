"""Integer coding tables and the range coder: how a learned density becomes real bits.

Every model is turned ONCE, by ``update()``, into integer tables (one probability mass function
per channel, counts ≥ 1 summing to exactly ``2**precision``), which a range coder
(``constriction``) uses. The tables are buffers, saved in the checkpoint, so encoder and decoder
use the very same integers on every machine; nothing on the decoding side depends on
floating-point roundings of the density itself. The default precision is 24 bits, the range
coder's own: the coder's model is then *exactly* our table (see ``TableCoder._models``), and the
"at least one count" floor of rare symbols costs 2**-24 instead of 2**-16 of the mass (16-bit
tables, as in CompressAI, also work: ``precision=16``).

Integers beyond a table's support are still coded exactly: the table's last symbol is an
*escape*, followed by the distance to the support in an Elias-gamma-like code (see
:func:`_encode_escapes`). So ANY integer latent (|value| < 2**30) round-trips.

Stream layout of one image (one "string"): the symbols grouped by table, tables in increasing
index order, each group in raster order (channel-major); then the escaped values. Decoder and
encoder know the table of every position, so they form the same groups. Grouping is what makes
coding fast: ``constriction`` codes an array of symbols that share one model in a single call.
"""
from __future__ import annotations

from collections.abc import Sequence

import constriction
import numpy as np
import torch
from torch import Tensor, nn

from ..codec import BitstreamError

TAIL_MASS = 1e-9  # probability mass left outside a table's support (coded with the escape)
PRECISION = 24  # integer tables sum to 2**PRECISION (= the range coder's own precision)
MAX_ABS_SYMBOL = 2**30  # largest |round(y - offset)| that can be coded
_ESCAPE_LEN_BITS = 5  # the escape code spends 5 bits on the length of the escaped value


def pmf_to_counts(pmf: np.ndarray, precision: int = PRECISION) -> np.ndarray:
    """Integer counts ≥ 1 that sum to exactly ``2**precision``, proportional to ``pmf``.

    Every symbol first gets one count (so every symbol stays codable), the remaining
    ``2**precision - n`` counts are shared in proportion to ``pmf`` (rounded down), and the few
    counts still left go to the symbols with the largest rounding remainders (ties: lower index
    first). Pure integer/float64 arithmetic with a deterministic order: the same ``pmf`` always
    gives the same table.
    """
    p = np.asarray(pmf, dtype=np.float64)
    n, total = p.size, 1 << precision
    if p.ndim != 1 or n < 2 or n > total // 2:
        raise ValueError(f"need 2..{total // 2} probabilities, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or p.sum() <= 0:
        raise ValueError("probabilities must be finite, non-negative and not all zero")
    share = p / p.sum() * (total - n)
    counts = 1 + np.floor(share).astype(np.int64)
    missing = int(total - counts.sum())
    if missing:
        order = np.argsort(-(share - np.floor(share)), kind="stable")
        counts[order[:missing]] += 1
    return counts


class TableCoder(nn.Module):
    """Shared machinery: integer tables as buffers, and range coding of grouped symbols.

    Buffers (saved in checkpoints; :meth:`_load_from_state_dict` resizes them on load):

    * ``pmf_counts``  ``[M, S]`` int32 — counts of table ``m`` in ``pmf_counts[m, :pmf_sizes[m]]``;
      the last used entry is the escape symbol. A checkpoint stores only the used entries, one
      table after another (1-D); the padding of the widest table is not saved.
    * ``pmf_sizes``   ``[M]`` int32 — number of entries (regular symbols + 1 escape).
    * ``pmf_offsets`` ``[M]`` int32 — the integer value coded by entry 0.
    """

    _TABLE_BUFFERS = ("pmf_counts", "pmf_sizes", "pmf_offsets")

    def __init__(self, precision: int = PRECISION) -> None:
        super().__init__()
        if not 2 <= precision <= 24:
            raise ValueError(f"precision must be in 2..24 bits, got {precision}")
        self.precision = int(precision)
        self.register_buffer("pmf_counts", torch.zeros(0, 0, dtype=torch.int32))
        self.register_buffer("pmf_sizes", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("pmf_offsets", torch.zeros(0, dtype=torch.int32))

    def _save_to_state_dict(self, destination, prefix, keep_vars):  # noqa: ANN001
        super()._save_to_state_dict(destination, prefix, keep_vars)
        sizes = self.pmf_sizes.tolist()
        destination[prefix + "pmf_counts"] = torch.cat([row[:n] for row, n in zip(self.pmf_counts, sizes)]) \
            if sizes else self.pmf_counts.reshape(0)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        key, sizes = prefix + "pmf_counts", state_dict.get(prefix + "pmf_sizes")
        if key in state_dict and state_dict[key].ndim == 1 and sizes is not None:  # stored without padding
            rows = state_dict[key].split(sizes.tolist())
            table = torch.zeros(len(rows), max((r.numel() for r in rows), default=0), dtype=torch.int32)
            for m, row in enumerate(rows):
                table[m, :row.numel()] = row
            state_dict[key] = table
        # Table sizes depend on the trained model: take the checkpoint's shapes.
        for name in self._TABLE_BUFFERS + getattr(self, "_EXTRA_RESIZABLE", ()):
            key = prefix + name
            if key in state_dict:
                buf = getattr(self, name)
                setattr(self, name, torch.empty_like(buf).resize_(state_dict[key].shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _set_tables(self, pmfs: Sequence[np.ndarray], offsets: Sequence[int]) -> None:
        """Quantise float64 PMFs (each ending with its escape/tail mass) into the table buffers."""
        counts = [pmf_to_counts(p, self.precision) for p in pmfs]
        width = max(c.size for c in counts)
        table = np.zeros((len(counts), width), dtype=np.int32)
        for m, c in enumerate(counts):
            table[m, : c.size] = c
        device = self.pmf_counts.device
        self.pmf_counts = torch.from_numpy(table).to(device)
        self.pmf_sizes = torch.tensor([c.size for c in counts], dtype=torch.int32, device=device)
        self.pmf_offsets = torch.tensor(list(offsets), dtype=torch.int32, device=device)

    def table_probabilities(self, m: int) -> np.ndarray:
        """Probabilities of table ``m`` as the coder sees them (``counts / 2**precision``).

        Entry ``i`` is the value ``pmf_offsets[m] + i``; the last entry is the escape.
        """
        size = int(self.pmf_sizes[m])
        return self.pmf_counts[m, :size].cpu().numpy().astype(np.float64) / (1 << self.precision)

    def least_bits(self) -> np.ndarray:
        """The fewest bits one symbol can cost with each table: ``-log2`` of its largest probability.

        ``n`` symbols coded with table ``m`` need at least ``n · least_bits()[m]`` bits, whatever
        they are: a decoder checks a header's size against the payload with it before allocating.
        """
        self._check_tables()
        largest = self.pmf_counts.max(dim=1).values.cpu().numpy().astype(np.float64)
        return self.precision - np.log2(largest)

    def _check_tables(self) -> None:
        if self.pmf_sizes.numel() == 0:
            raise RuntimeError(f"{type(self).__name__} has no coding tables: call update() "
                               "after training (and save the model afterwards)")

    def _models(self, used: np.ndarray) -> dict[int, object]:
        """constriction models for the tables in ``used``, equal to our integer tables exactly.

        constriction's range coder works with 24-bit probabilities. Given floats ``q``, its
        ``Categorical(q, perfect=False)`` sets the left cumulative of symbol ``i`` to
        ``floor(Q_i * (2**24 - n) / sum(q)) + i`` (``Q_i`` = sum of ``q`` before ``i``, ``n``
        symbols). We pass ``q = d - 1`` with ``d`` = our counts scaled to 24 bits: then
        ``sum(q) = 2**24 - n``, every float is an integer below 2**53 (so all arithmetic is
        exact), and the left cumulatives come out as exactly ``sum(d) before i``. The coder's
        model is thus a pure function of our integers, identical on every machine.
        """
        sizes = self.pmf_sizes.cpu().numpy()
        counts = self.pmf_counts.cpu().numpy().astype(np.float64) * float(1 << (24 - self.precision))
        return {int(m): constriction.stream.model.Categorical(counts[m, : sizes[m]] - 1.0, perfect=False)
                for m in used}

    def _encode(self, values: np.ndarray, tables: np.ndarray) -> bytes:
        """Range-code integer ``values`` (1-D) where value ``i`` uses table ``tables[i]``."""
        stream = TableStreamEncoder(self)
        stream.encode(values, tables)
        return stream.finish()

    def _decode(self, string: bytes, tables: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`_encode`: integer values (int64, 1-D) for the given table indices."""
        stream = TableStreamDecoder(self, string)
        values = stream.decode(tables)
        stream.finish()
        return values


class TableStreamEncoder:
    """One range-coded string written in steps, each step a batch of values with their tables.

    A step's values are grouped by table (one ``constriction`` call per table), followed by the
    step's escaped values. An autoregressive decoder learns the tables of a step only after
    decoding the steps before it, so it decodes step by step with :class:`TableStreamDecoder`;
    a single step is what :meth:`TableCoder._encode` writes.
    """

    def __init__(self, coder: TableCoder) -> None:
        coder._check_tables()
        self.coder = coder
        self.encoder = constriction.stream.queue.RangeEncoder()
        self.sizes = coder.pmf_sizes.cpu().numpy().astype(np.int64)
        self.offsets = coder.pmf_offsets.cpu().numpy().astype(np.int64)
        self.models: dict[int, object] = {}

    def _model_dict(self, used: np.ndarray) -> dict[int, object]:
        missing = [int(m) for m in used if int(m) not in self.models]
        if missing:
            self.models.update(self.coder._models(np.asarray(missing)))
        return self.models

    def encode(self, values: np.ndarray, tables: np.ndarray) -> None:
        values = np.asarray(values).ravel()
        tables = np.asarray(tables).ravel()
        if values.size and max(-int(values.min()), int(values.max())) >= MAX_ABS_SYMBOL:
            raise ValueError(f"latent values must satisfy |round(y - offset)| < 2**30, "
                             f"got {np.abs(values).max()}")
        order, starts, used = _groups(tables)
        models = self._model_dict(used)
        escaped = []
        for g0, g1 in _batches(starts):  # a few groups at a time: bounded memory for huge steps
            a, b = starts[g0], starts[g1]
            part = (values[a:b] if order is None else values[order[a:b]]).astype(np.int64)
            table = np.repeat(used[g0:g1], np.diff(starts[g0:g1 + 1]))
            offsets, escape = self.offsets[table], self.sizes[table] - 1
            index = part - offsets
            outside = (index < 0) | (index >= escape)
            if outside.any():
                # escaped values: distance beyond the support, sign in the lowest bit
                value, offset = part[outside], offsets[outside]
                below = value < offset
                escaped.append(2 * np.where(below, offset - 1 - value, value - (offset + escape[outside])) + below)
                index[outside] = escape[outside]
            symbols = index.astype(np.int32)
            for m, s0, s1 in zip(used[g0:g1], starts[g0:g1] - a, starts[g0 + 1:g1 + 1] - a):
                self.encoder.encode(symbols[s0:s1], models[int(m)])
        _encode_escapes(self.encoder, np.concatenate(escaped) if escaped else np.zeros(0, np.int64))

    def finish(self) -> bytes:
        return self.encoder.get_compressed().astype("<u4").tobytes()


class TableStreamDecoder:
    """Reads a string of :class:`TableStreamEncoder` step by step (the same tables per step)."""

    def __init__(self, coder: TableCoder, string: bytes) -> None:
        coder._check_tables()
        if len(string) % 4:
            raise BitstreamError(f"corrupt entropy-coded string: {len(string)} bytes is not a "
                                 "whole number of 32-bit words")
        self.coder = coder
        self.sizes = coder.pmf_sizes.cpu().numpy().astype(np.int64)
        self.offsets = coder.pmf_offsets.cpu().numpy().astype(np.int64)
        self.models: dict[int, object] = {}
        try:
            self.decoder = constriction.stream.queue.RangeDecoder(
                np.frombuffer(bytes(string), dtype="<u4").astype(np.uint32))
        except Exception as err:  # noqa: BLE001
            raise BitstreamError(f"corrupt entropy-coded string ({err})") from err

    def decode(self, tables: np.ndarray) -> np.ndarray:
        tables = np.asarray(tables).ravel()
        order, starts, used = _groups(tables)
        values = np.empty(tables.size, dtype=np.int64)  # in the coding order (grouped by table)
        escapes = []
        try:
            missing = [int(m) for m in used if int(m) not in self.models]
            if missing:
                self.models.update(self.coder._models(np.asarray(missing)))
            for g0, g1 in _batches(starts):
                parts = [self.decoder.decode(self.models[int(m)], int(n))
                         for m, n in zip(used[g0:g1], np.diff(starts[g0:g1 + 1]))]
                index = np.concatenate(parts).astype(np.int64)
                table = np.repeat(used[g0:g1], np.diff(starts[g0:g1 + 1]))
                values[starts[g0]:starts[g1]] = index + self.offsets[table]
                escapes.append(starts[g0] + np.flatnonzero(index == self.sizes[table] - 1))
            outside = np.concatenate(escapes) if escapes else np.zeros(0, np.int64)
            escaped = _decode_escapes(self.decoder, int(outside.size))
        except BitstreamError:
            raise
        except Exception as err:  # constriction reports invalid data in several ways
            raise BitstreamError(f"corrupt entropy-coded string ({err})") from err
        if outside.size:
            table = used[np.searchsorted(starts, outside, side="right") - 1]
            offsets, escape = self.offsets[table], self.sizes[table] - 1
            below = (escaped & 1).astype(bool)
            excess = escaped >> 1
            values[outside] = np.where(below, offsets - 1 - excess, offsets + escape + excess)
        if order is None:
            return values
        out = np.empty_like(values)
        out[order] = values
        return out

    def finish(self) -> None:
        """Raise :class:`BitstreamError` if data is left over after the last step."""
        if not self.decoder.maybe_exhausted():
            raise BitstreamError("corrupt entropy-coded string: data left over after decoding")


#: Range coding handles at most about this many symbols at once (whole groups of one table, at least
#: one group): the memory of a huge step stays bounded, and a small step is one vectorised batch.
SYMBOLS_AT_ONCE = 1 << 20


def _batches(starts: np.ndarray) -> list[tuple[int, int]]:
    """Consecutive runs ``[g0, g1)`` of groups (boundaries ``starts``) of about SYMBOLS_AT_ONCE symbols."""
    runs, g, n = [], 0, len(starts) - 1
    while g < n:
        h = max(g + 1, int(np.searchsorted(starts, starts[g] + SYMBOLS_AT_ONCE, side="right")) - 1)
        runs.append((g, min(h, n)))
        g = min(h, n)
    return runs


def _groups(tables: np.ndarray) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Stable sort by table: (order, group boundaries, table of each group); ``order`` is None
    when the tables are sorted already (a factorized prior's channel-major latents)."""
    sizes = np.bincount(tables) if tables.size else np.zeros(0, dtype=np.int64)
    if tables.size == 0 or np.all(tables[1:] >= tables[:-1]):
        order = None
    else:  # small integer keys: numpy's stable sort is then a fast radix sort
        key = tables.astype(np.uint16) if sizes.size <= 1 << 16 else tables
        order = np.argsort(key, kind="stable")
    used = np.flatnonzero(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes[used])])
    return order, starts, used


def _encode_escapes(encoder, escaped: np.ndarray) -> None:  # noqa: ANN001
    """Code non-negative integers ``e`` exactly, in an Elias-gamma-like code.

    With ``u = e + 1`` and ``n`` its number of binary digits (1..32): first ``n - 1`` in 5 bits,
    then the ``n - 1`` digits of ``u`` below its leading 1 (as up to two uniform chunks of at
    most 16 bits). Escapes are rare (probability ≈ ``TAIL_MASS``), so this simple code costs
    nothing measurable on real latents; it only has to be exact.
    """
    if escaped.size == 0:
        return
    u = escaped.astype(np.int64) + 1
    nbits = np.frexp(u.astype(np.float64))[1].astype(np.int64)  # exact bit length for u < 2**53
    rest = u - (np.int64(1) << (nbits - 1))
    low_bits = np.minimum(nbits - 1, 16)
    high_bits = nbits - 1 - low_bits
    uniform = constriction.stream.model.Uniform()
    encoder.encode((nbits - 1).astype(np.int32), constriction.stream.model.Uniform(1 << _ESCAPE_LEN_BITS))
    has_low = low_bits > 0
    if has_low.any():
        encoder.encode((rest[has_low] & ((1 << low_bits[has_low]) - 1)).astype(np.int32), uniform,
                       (1 << low_bits[has_low]).astype(np.int32))
    has_high = high_bits > 0
    if has_high.any():
        encoder.encode((rest[has_high] >> 16).astype(np.int32), uniform,
                       (1 << high_bits[has_high]).astype(np.int32))


def _decode_escapes(decoder, count: int) -> np.ndarray:  # noqa: ANN001
    """Inverse of :func:`_encode_escapes` (``count`` values)."""
    if count == 0:
        return np.zeros(0, dtype=np.int64)
    nbits = decoder.decode(constriction.stream.model.Uniform(1 << _ESCAPE_LEN_BITS), count)
    nbits = nbits.astype(np.int64) + 1
    low_bits = np.minimum(nbits - 1, 16)
    high_bits = nbits - 1 - low_bits
    rest = np.zeros(count, dtype=np.int64)
    uniform = constriction.stream.model.Uniform()
    has_low = low_bits > 0
    if has_low.any():
        rest[has_low] = decoder.decode(uniform, (1 << low_bits[has_low]).astype(np.int32))
    has_high = high_bits > 0
    if has_high.any():
        rest[has_high] |= decoder.decode(uniform, (1 << high_bits[has_high]).astype(np.int32)
                                         ).astype(np.int64) << 16
    return (np.int64(1) << (nbits - 1)) + rest - 1


def _check_symbols(symbols: Tensor) -> None:
    """Refuse NaN/inf and magnitudes the escape code cannot carry (before any integer cast)."""
    if not torch.isfinite(symbols).all():
        raise ValueError("cannot entropy-code latents that are NaN or infinite")
    if symbols.numel() and symbols.abs().max() >= MAX_ABS_SYMBOL:
        raise ValueError(f"latent values must satisfy |round(y - offset)| < 2**30, "
                         f"got {symbols.abs().max().item():g}")
