"""Entropy models and real entropy coding: the part of a learned codec that turns latents into bits.

Two densities, both following Ballé et al.:

* :class:`FactorizedDensity` — one learned, non-parametric density per channel (Ballé et al.
  2018, "Variational image compression with a scale hyperprior", appendix 6.1; the "entropy
  bottleneck"). Used for the latents of Ballé 2017 and the hyper-latents of Ballé 2018.
* :class:`GaussianConditional` — a Gaussian with a mean and scale given per element (by a
  hyperprior or a context model), convolved with a unit-width box (Ballé 2018, Sec. 3).

Training uses likelihoods: the rate term of the loss is ``-Σ log2 p(ŷ)`` (Ballé et al. 2017,
Sec. 2), here :func:`estimate_bits`. Compression uses real bits: every model is turned ONCE,
by ``update()``, into integer tables (one probability mass function per channel or per scale,
counts ≥ 1 summing to exactly ``2**precision``), which a range coder (``constriction``) uses.
The tables are buffers, saved in the checkpoint, so encoder and decoder use the very same
integers on every machine; nothing on the decoding side depends on floating-point roundings
of the density itself. The default precision is 24 bits, the range coder's own: the coder's
model is then *exactly* our table (see ``_TableCoder._models``), and the "at least one count"
floor of rare symbols costs 2**-24 instead of 2**-16 of the mass (16-bit tables, as in
CompressAI, also work: ``precision=16``).

Integers beyond a table's support are still coded exactly: the table's last symbol is an
*escape*, followed by the distance to the support in an Elias-gamma-like code (see
:func:`_encode_escapes`). So ANY integer latent (|value| < 2**30) round-trips.

Stream layout of one image (one "string"): the symbols grouped by table, tables in increasing
index order, each group in raster order (channel-major); then the escaped values. Decoder and
encoder know the table of every position (the channel, or the scale index computed from the
hyperprior), so they form the same groups. Grouping is what makes coding fast: ``constriction``
codes an array of symbols that share one model in a single call.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import constriction
import numpy as np
import scipy.special
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .codec import BitstreamError
from .layers import lower_bound

__all__ = [
    "quantize",
    "estimate_bits",
    "pack_strings",
    "unpack_strings",
    "pmf_to_counts",
    "FactorizedDensity",
    "GaussianConditional",
    "default_scale_table",
    "LIKELIHOOD_BOUND",
    "TAIL_MASS",
    "PRECISION",
]

LIKELIHOOD_BOUND = 1e-9  # no symbol is ever modelled as less likely than this (≤ 30 bits)
TAIL_MASS = 1e-9  # probability mass left outside a table's support (coded with the escape)
PRECISION = 24  # integer tables sum to 2**PRECISION (= the range coder's own precision)
MAX_ABS_SYMBOL = 2**30  # largest |round(y - offset)| that can be coded
_ESCAPE_LEN_BITS = 5  # the escape code spends 5 bits on the length of the escaped value


# ----------------------------------------------------------------------------- quantization
def quantize(x: Tensor, mode: str, means: Tensor | None = None) -> Tensor:
    """Quantize latents: ``"noise"`` for training, ``"round"`` for coding, ``"ste"`` in between.

    * ``"round"`` — ``round(x - means) + means`` (``means`` = 0 if not given): what the codec
      really transmits. Its derivative is zero almost everywhere (and undefined at the steps), so
      gradient descent through it learns nothing.
    * ``"noise"`` — ``x + u`` with ``u ~ U(-1/2, 1/2)``, the training proxy of Ballé et al. 2017
      (Sec. 3): the density of ``x + u`` is the density of ``x`` convolved with a unit box, and at
      the integers it equals the probability mass of ``round(x)``. The proxy is differentiable, and
      the rate measured on it is a continuous relaxation of the true discrete rate. ``means`` is
      ignored (shifting the grid does not change the noise).
    * ``"ste"`` — the straight-through estimator: the forward value of ``"round"`` with the
      gradient of the identity (Theis et al. 2017), often used for the decoder's input.
    """
    if mode == "noise":
        return x + torch.empty_like(x).uniform_(-0.5, 0.5)
    if mode not in ("round", "ste"):
        raise ValueError(f"quantize mode must be 'noise', 'round' or 'ste', got {mode!r}")
    rounded = torch.round(x - means) + means if means is not None else torch.round(x)
    if mode == "round":
        return rounded
    return x + (rounded - x).detach()


def estimate_bits(likelihoods: Tensor | Sequence[Tensor] | Mapping[str, Tensor]) -> Tensor:
    """The ideal code length ``-Σ log2 p`` in bits: the rate term R of the loss R + λD (Ballé et al. 2017, Sec. 2; Zheng & Liang eq. 1).

    Accepts one tensor of likelihoods, or a list/tuple/dict of them (e.g. ``{"y": ..., "z": ...}``)
    and returns their total as a scalar tensor (differentiable).
    """
    if isinstance(likelihoods, Tensor):
        return -torch.log2(likelihoods).sum()
    values: Iterable[Tensor] = likelihoods.values() if isinstance(likelihoods, Mapping) else likelihoods
    return sum((-torch.log2(p).sum() for p in values), torch.zeros(()))


# ----------------------------------------------------------------------------- byte helpers
def pack_strings(strings: Sequence[bytes]) -> bytes:
    """Concatenate byte strings, each preceded by its length as an unsigned LEB128 varint.

    A varint costs 1 byte for strings shorter than 128 bytes, 2 below 16 KiB, 3 below 2 MiB.
    """
    out = bytearray()
    for s in strings:
        n = len(s)
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                break
        out += s
    return bytes(out)


def unpack_strings(data: bytes, n: int) -> list[bytes]:
    """Split what :func:`pack_strings` wrote back into ``n`` strings.

    Raises :class:`lic.codec.BitstreamError` if ``data`` is truncated, has a malformed length,
    or has bytes left over after the ``n``-th string.
    """
    data = bytes(data)
    strings, pos = [], 0
    for i in range(n):
        length, shift = 0, 0
        while True:
            if pos >= len(data):
                raise BitstreamError(f"truncated payload: length of string {i + 1}/{n} is missing")
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
            if shift >= 35:
                raise BitstreamError("corrupt payload: string length does not fit 32 bits")
        if pos + length > len(data):
            raise BitstreamError(
                f"truncated payload: string {i + 1}/{n} announces {length} bytes, "
                f"{len(data) - pos} left")
        strings.append(data[pos : pos + length])
        pos += length
    if pos != len(data):
        raise BitstreamError(f"corrupt payload: {len(data) - pos} unexpected bytes after {n} strings")
    return strings


# ----------------------------------------------------------------------------- integer tables
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


class _TableCoder(nn.Module):
    """Shared machinery: integer tables as buffers, and range coding of grouped symbols.

    Buffers (saved in checkpoints; :meth:`_load_from_state_dict` resizes them on load):

    * ``pmf_counts``  ``[M, S]`` int32 — counts of table ``m`` in ``pmf_counts[m, :pmf_sizes[m]]``;
      the last used entry is the escape symbol.
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

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
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
        self._check_tables()
        values = np.asarray(values, dtype=np.int64).ravel()
        tables = np.asarray(tables, dtype=np.int64).ravel()
        if values.size and np.abs(values).max() >= MAX_ABS_SYMBOL:
            raise ValueError(f"latent values must satisfy |round(y - offset)| < 2**30, "
                             f"got {np.abs(values).max()}")
        order, starts, used = _groups(tables)
        values = values[order]
        tables = tables[order]
        offsets = self.pmf_offsets.cpu().numpy().astype(np.int64)[tables]
        escape = self.pmf_sizes.cpu().numpy().astype(np.int64)[tables] - 1
        index = values - offsets
        outside = (index < 0) | (index >= escape)
        index[outside] = escape[outside]
        # escaped values: distance beyond the support, sign in the lowest bit
        below = values < offsets
        excess = np.where(below, offsets - 1 - values, values - (offsets + escape))
        escaped = (2 * excess + below)[outside]

        encoder = constriction.stream.queue.RangeEncoder()
        models = self._models(used)
        symbols = index.astype(np.int32)
        for m, a, b in zip(used, starts[:-1], starts[1:]):
            encoder.encode(symbols[a:b], models[int(m)])
        _encode_escapes(encoder, escaped)
        return encoder.get_compressed().astype("<u4").tobytes()

    def _decode(self, string: bytes, tables: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`_encode`: integer values (int64, 1-D) for the given table indices."""
        self._check_tables()
        tables = np.asarray(tables, dtype=np.int64).ravel()
        if len(string) % 4:
            raise BitstreamError(f"corrupt entropy-coded string: {len(string)} bytes is not a "
                                 "whole number of 32-bit words")
        words = np.frombuffer(bytes(string), dtype="<u4").astype(np.uint32)
        order, starts, used = _groups(tables)
        sorted_tables = tables[order]
        try:
            decoder = constriction.stream.queue.RangeDecoder(words)
            models = self._models(used)
            parts = [decoder.decode(models[int(m)], int(b - a))
                     for m, a, b in zip(used, starts[:-1], starts[1:])]
            index = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
            escape = self.pmf_sizes.cpu().numpy().astype(np.int64)[sorted_tables] - 1
            offsets = self.pmf_offsets.cpu().numpy().astype(np.int64)[sorted_tables]
            outside = index == escape
            escaped = _decode_escapes(decoder, int(outside.sum()))
            exhausted = decoder.maybe_exhausted()
        except BitstreamError:
            raise
        except Exception as err:  # constriction reports invalid data in several ways
            raise BitstreamError(f"corrupt entropy-coded string ({err})") from err
        if not exhausted:
            raise BitstreamError("corrupt entropy-coded string: data left over after decoding")
        values = offsets + index
        below = (escaped & 1).astype(bool)
        excess = escaped >> 1
        values[outside] = np.where(below, offsets[outside] - 1 - excess,
                                   offsets[outside] + escape[outside] + excess)
        out = np.empty_like(values)
        out[order] = values
        return out


def _groups(tables: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable sort by table: (order, group boundaries, table of each group)."""
    sizes = np.bincount(tables) if tables.size else np.zeros(0, dtype=np.int64)
    if tables.size and np.all(tables[1:] >= tables[:-1]):
        order = np.arange(tables.size)
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


def _full_precision(like: Tensor) -> torch.autocast:
    """A context in which autocast is off on ``like``'s device (likelihoods need float32)."""
    return torch.autocast(device_type=like.device.type, enabled=False)


def _sign_trick_mass(lower: Tensor, upper: Tensor) -> Tensor:
    """``sigmoid(upper) - sigmoid(lower)`` for logits ``lower ≤ upper``, without cancellation.

    In the right tail both sigmoids are ≈ 1 and their difference loses all precision; there we
    compute ``sigmoid(-lower) - sigmoid(-upper)`` instead, which is the same number (the "sign
    trick" of Ballé's tensorflow-compression).
    """
    sign = -torch.sign(lower + upper)
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))


# ----------------------------------------------------------------------------- factorized density
class FactorizedDensity(_TableCoder):
    r"""A learned univariate density per channel: Ballé et al. 2018, appendix 6.1.

    The cumulative c(x) of each channel is a small monotone network, ``K = len(filters) + 1``
    layers (appendix 6.1)::

        c = f_K ∘ f_{K-1} ∘ … ∘ f_1,   f_k(x) = g_k(H_k x + b_k)   (k < K),
        f_K(x) = sigmoid(H_K x + b_K),  g_k(x) = x + a_k ⊙ tanh(x),
        H_k = softplus(Ĥ_k) > 0,        a_k = tanh(â_k) > -1.

    Positive matrices and ``g_k`` with slope ``1 + a_k (1 - tanh²) > 0`` make every ``f_k``
    increasing, so c is a valid CDF for any parameter values. The model of a quantised latent is
    the density convolved with a unit box: ``p(ŷ) = c(ŷ + ½) - c(ŷ - ½)`` (appendix 6.1 / Ballé
    2017, Sec. 3), computed from logits with the sign trick and floored at ``likelihood_bound``.

    **Support (our choice).** Instead of learning tail quantiles with an auxiliary loss
    (CompressAI's ``aux_loss``), :meth:`update` finds them by bisection on the monotone CDF in
    float64: the points where each tail holds ``tail_mass / 2``, and the median. No extra loss
    term or optimiser is needed and the result cannot be stale. Values outside the table (at most
    ``max_symbols`` wide) are coded through the escape symbol.

    **Offset (our choice, as Ballé 2018 / CompressAI).** Latents are rounded around the channel
    median ``m``: ``ŷ = round(y - m) + m``; the symbol sent is ``round(y - m)``. For a peaked,
    possibly skewed density this puts a bin exactly on the mode region and saves bits compared to
    rounding around 0. Noise training is unchanged (``y + u``; the offset does not matter).
    """

    _EXTRA_RESIZABLE = ("table_medians",)

    def __init__(self, channels: int, filters: Sequence[int] = (3, 3, 3), init_scale: float = 10.0,
                 likelihood_bound: float = LIKELIHOOD_BOUND, tail_mass: float = TAIL_MASS,
                 precision: int = PRECISION, max_symbols: int = 4095) -> None:
        super().__init__(precision)
        self.channels = int(channels)
        self.filters = tuple(int(f) for f in filters)
        self.likelihood_bound = float(likelihood_bound)
        self.tail_mass = float(tail_mass)
        self.max_symbols = int(max_symbols)
        dims = (1, *self.filters, 1)
        # Initialisation (as in Ballé's code): the composed slopes give an initial density of
        # width ~init_scale, i.e. much wider than the latents at the start of training.
        scale = float(init_scale) ** (1.0 / (len(dims) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for k in range(len(dims) - 1):
            init = math.log(math.expm1(1.0 / scale / dims[k + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[k + 1], dims[k]), init)))
            self.biases.append(nn.Parameter(torch.empty(channels, dims[k + 1], 1).uniform_(-0.5, 0.5)))
            if k < len(dims) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[k + 1], 1)))
        self.register_buffer("table_medians", torch.zeros(0))

    # -- the density ---------------------------------------------------------------------------
    def logits_cdf(self, x: Tensor) -> Tensor:
        """Logit of the CDF, ``c(x)`` before its final sigmoid; ``x`` has shape ``[C, 1, N]``."""
        for k, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(matrix.to(x)), x) + bias.to(x)
            if k < len(self.factors):
                x = x + torch.tanh(self.factors[k].to(x)) * torch.tanh(x)
        return x

    def likelihood(self, y_hat: Tensor) -> Tensor:
        """``p(ŷ) = c(ŷ + ½) - c(ŷ - ½)`` for ``ŷ`` of shape ``[B, C, H, W]`` (appendix 6.1).

        Always float32, also under autocast: in bf16 the difference of two CDF values would keep
        about 3 significant digits, and the rate estimate and its gradient would be noise.
        """
        b, c = y_hat.shape[:2]
        v = y_hat.float().transpose(0, 1).reshape(c, 1, -1)
        with _full_precision(y_hat):
            lower = self.logits_cdf(v - 0.5)
            upper = self.logits_cdf(v + 0.5)
        p = _sign_trick_mass(lower, upper)
        p = p.reshape(c, b, *y_hat.shape[2:]).transpose(0, 1)
        return lower_bound(p, self.likelihood_bound)

    def forward(self, y: Tensor, training: bool | None = None, ste: bool = False) -> tuple[Tensor, Tensor]:
        """``(ŷ, p)``: noisy ``ŷ`` when training, else rounded around the medians.

        With ``ste`` (training only), the returned ``ŷ`` — the decoder's input — is rounded around
        the current medians with a straight-through gradient, while ``p`` stays the likelihood of
        the noisy latents: the decoder learns on the values it will really receive, and the rate
        keeps its smooth proxy (Minnen & Singh 2020 train this way).

        Test-time rounding uses the medians of the coding tables once :meth:`update` has made
        them, so ``ŷ`` is exactly what :meth:`compress` sends (a model loaded with fp16 weights
        would otherwise find slightly different medians than those exported from fp32).
        """
        training = self.training if training is None else training
        if training:
            y_hat = quantize(y, "noise")
            if ste:
                medians = self.medians().to(y).reshape(1, -1, 1, 1)
                return quantize(y, "ste", medians), self.likelihood(y_hat)
        else:
            medians = self.table_medians if self.table_medians.numel() == self.channels else self.medians()
            y_hat = quantize(y, "round", medians.to(y).reshape(1, -1, 1, 1))
        return y_hat, self.likelihood(y_hat)

    @torch.no_grad()
    def _quantiles(self, targets: Sequence[float]) -> Tensor:
        """Per channel, the x where the CDF logit equals each target (bisection, float64, CPU).

        The CDF is increasing, so bisection cannot fail: first widen ``[lo, hi]`` by doubling
        until it brackets the target, then halve it 60 times (far below float32 resolution).
        """
        c = self.channels
        t = torch.tensor(list(targets), dtype=torch.float64).reshape(1, 1, -1).expand(c, 1, -1)
        lo = torch.full_like(t, -1.0)
        hi = torch.full_like(t, 1.0)
        for _ in range(64):
            too_high = self._logits64(lo) > t
            too_low = self._logits64(hi) < t
            if not (too_high.any() or too_low.any()):
                break
            lo = torch.where(too_high, lo * 2, lo)
            hi = torch.where(too_low, hi * 2, hi)
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            below = self._logits64(mid) < t
            lo = torch.where(below, mid, lo)
            hi = torch.where(below, hi, mid)
        return 0.5 * (lo + hi)  # [C, 1, len(targets)]

    def _logits64(self, x: Tensor) -> Tensor:
        """:meth:`logits_cdf` evaluated on the CPU in float64, without gradients."""
        with torch.no_grad():
            return self.logits_cdf(x.to("cpu", torch.float64))

    def medians(self) -> Tensor:
        """The channel medians (c(m) = ½), found by bisection; shape ``[C]`` float32."""
        return self._quantiles([0.0])[:, 0, 0].float().to(self.matrices[0].device)

    @torch.no_grad()
    def update(self) -> None:
        """Export the integer coding tables (call once after training, then save the model).

        Per channel: the median ``m``, the support ``[m + k_lo, m + k_hi]`` where each tail holds
        at most ``tail_mass / 2`` (capped to ``max_symbols`` values around ``m``), the bin
        probabilities there plus the escape (the mass outside), all in float64 → integer counts.
        """
        tail = math.log(self.tail_mass / 2) - math.log1p(-self.tail_mass / 2)  # logit(tail/2)
        q = self._quantiles([tail, 0.0, -tail])[:, 0, :]
        medians = q[:, 1].float().double()  # the float32 medians the decoder will use
        half = self.max_symbols // 2
        k_lo = torch.clamp(torch.floor(q[:, 0] - medians), -half, 0).long()
        k_hi = torch.clamp(torch.ceil(q[:, 2] - medians), 0, half).long()
        n = int((k_hi - k_lo).max()) + 1
        grid = k_lo.double().reshape(-1, 1, 1) + torch.arange(n, dtype=torch.float64).reshape(1, 1, -1)
        x = grid + medians.reshape(-1, 1, 1)
        lower = self._logits64(x - 0.5)
        upper = self._logits64(x + 0.5)
        mass = _sign_trick_mass(lower, upper)[:, 0, :].numpy()
        below = torch.sigmoid(lower[:, 0, 0]).numpy()  # mass left of the first bin
        pmfs = []
        for ch in range(self.channels):
            size = int(k_hi[ch] - k_lo[ch]) + 1
            above = float(torch.sigmoid(-upper[ch, 0, size - 1]))  # mass right of the last bin
            pmfs.append(np.append(mass[ch, :size], below[ch] + above))
        self._set_tables(pmfs, k_lo.tolist())
        self.table_medians = medians.float().to(self.pmf_counts.device)

    # -- coding --------------------------------------------------------------------------------
    def compress(self, y: Tensor) -> list[bytes]:
        """Entropy-code latents ``y`` ``[B, C, H, W]``: one byte string per image.

        Sends ``round(y - m)`` per channel with that channel's table (medians ``m`` and tables
        from :meth:`update`).
        """
        self._check_tables()
        if y.dim() != 4 or y.shape[1] != self.channels:
            raise ValueError(f"expected latents [B, {self.channels}, H, W], got {tuple(y.shape)}")
        symbols = torch.round(y.detach().float().cpu() - self.table_medians.cpu().reshape(1, -1, 1, 1))
        _check_symbols(symbols)
        tables = np.repeat(np.arange(self.channels), y.shape[2] * y.shape[3])
        return [self._encode(s.reshape(-1).numpy().astype(np.int64), tables) for s in symbols]

    def decompress(self, strings: Sequence[bytes], shape: tuple[int, int]) -> Tensor:
        """Decode strings from :meth:`compress` into ``ŷ`` ``[len(strings), C, H, W]``.

        ``shape`` is the latents' spatial size ``(H, W)``. Raises
        :class:`lic.codec.BitstreamError` for strings that cannot be decoded.
        """
        self._check_tables()
        h, w = (int(s) for s in shape)
        tables = np.repeat(np.arange(self.channels), h * w)
        symbols = np.stack([self._decode(s, tables) for s in strings]) if strings else \
            np.zeros((0, self.channels * h * w), dtype=np.int64)
        medians = self.table_medians.reshape(1, -1, 1, 1)
        out = torch.from_numpy(symbols.astype(np.float32)).reshape(-1, self.channels, h, w)
        return out.to(medians.device) + medians


def _check_symbols(symbols: Tensor) -> None:
    """Refuse NaN/inf and magnitudes the escape code cannot carry (before any integer cast)."""
    if not torch.isfinite(symbols).all():
        raise ValueError("cannot entropy-code latents that are NaN or infinite")
    if symbols.numel() and symbols.abs().max() >= MAX_ABS_SYMBOL:
        raise ValueError(f"latent values must satisfy |round(y - offset)| < 2**30, "
                         f"got {symbols.abs().max().item():g}")


# ----------------------------------------------------------------------------- Gaussian conditional
def default_scale_table(low: float = 0.11, high: float = 256.0, levels: int = 64) -> Tensor:
    """``levels`` scales spaced evenly in log between ``low`` and ``high`` (float32)."""
    return torch.exp(torch.linspace(math.log(low), math.log(high), levels, dtype=torch.float64)).float()


class GaussianConditional(_TableCoder):
    r"""A Gaussian per element, convolved with a unit box: Ballé et al. 2018, Sec. 3.

    Given a mean ``μ`` and a scale ``σ`` for every latent (predicted by the hyperprior),
    ``p(ŷ | μ, σ) = Φ((ŷ - μ + ½)/σ) - Φ((ŷ - μ - ½)/σ)`` (the unit bin of ``N(μ, σ²)``), with
    ``σ`` bounded below by ``scale_bound`` (0.11) and ``p`` by ``likelihood_bound`` (1e-9). It is
    computed as ``Φ((½ - |v|)/σ) - Φ((-½ - |v|)/σ)`` with ``v = ŷ - μ``, the mirror image that
    keeps both terms in the left tail where they are accurate.

    **Coding.** A continuum of Gaussians cannot each get a table, so we fix a table of scales
    (``scale_table``; 64 log-spaced values from 0.11 to 256 by default) and code every element
    with the table whose scale is nearest to its ``σ`` in log (neighbours are ~13 % apart; this
    costs 0.05–0.4 % of the rate in our tests, most at the lowest rates). The symbol is
    ``round(y - μ)``, centred on 0, and ``ŷ = symbol + μ``. Each table covers ``±ceil(s · z)``
    with ``Φ(-z) = tail_mass / 2``; the rest is escaped. Tables depend only on ``scale_table`` and
    are built at construction; they are also saved in the checkpoint so that a decoder uses
    exactly the encoder's integers.
    """

    _EXTRA_RESIZABLE = ("scale_table", "scale_boundaries")

    def __init__(self, scale_table: Sequence[float] | Tensor | None = None,
                 scale_bound: float = 0.11, likelihood_bound: float = LIKELIHOOD_BOUND,
                 tail_mass: float = TAIL_MASS, precision: int = PRECISION) -> None:
        super().__init__(precision)
        table = default_scale_table() if scale_table is None else torch.as_tensor(
            scale_table, dtype=torch.float32).flatten()
        if table.numel() < 1 or not torch.all(table > 0) or not torch.all(table[1:] > table[:-1]):
            raise ValueError("scale_table must be positive and strictly increasing")
        self.scale_bound = float(scale_bound)
        self.likelihood_bound = float(likelihood_bound)
        self.tail_mass = float(tail_mass)
        self.register_buffer("scale_table", table)
        self.register_buffer("scale_boundaries", torch.zeros(0))
        self.update()

    @staticmethod
    def _standard_cdf(x: Tensor) -> Tensor:
        return 0.5 * torch.erfc(-x * (2**-0.5))

    def likelihood(self, y_hat: Tensor, scales: Tensor, means: Tensor | None = None) -> Tensor:
        """``p(ŷ | μ, σ)`` of the unit bin around ``ŷ`` (Ballé 2018, Sec. 3), elementwise; float32."""
        with _full_precision(y_hat):
            y_hat, scales = y_hat.float(), scales.float()
            v = torch.abs(y_hat - means.float() if means is not None else y_hat)
            s = lower_bound(scales, self.scale_bound)
            p = self._standard_cdf((0.5 - v) / s) - self._standard_cdf((-0.5 - v) / s)
        return lower_bound(p, self.likelihood_bound)

    def forward(self, y: Tensor, scales: Tensor, means: Tensor | None = None,
                training: bool | None = None) -> tuple[Tensor, Tensor]:
        """``(ŷ, p(ŷ | μ, σ))``: noisy when training, else rounded around the means."""
        training = self.training if training is None else training
        y_hat = quantize(y, "noise" if training else "round", means)
        return y_hat, self.likelihood(y_hat, scales, means)

    @torch.no_grad()
    def update(self) -> None:
        """(Re)build the integer tables of ``scale_table`` (float64 → counts), one per scale."""
        table = self.scale_table.detach().cpu().double().numpy()
        z = -scipy.special.ndtri(self.tail_mass / 2)
        pmfs, offsets = [], []
        for s in table:
            half = int(math.ceil(s * z))
            k = np.abs(np.arange(-half, half + 1, dtype=np.float64))
            mass = scipy.special.ndtr((0.5 - k) / s) - scipy.special.ndtr((-0.5 - k) / s)
            tail = 2 * scipy.special.ndtr((-half - 0.5) / s)
            pmfs.append(np.append(mass, tail))
            offsets.append(-half)
        self._set_tables(pmfs, offsets)
        # index boundaries: geometric midpoints between neighbouring table scales
        self.scale_boundaries = torch.sqrt(self.scale_table[1:] * self.scale_table[:-1])

    def build_indexes(self, scales: Tensor) -> Tensor:
        """The table index of each scale: the table scale nearest in log (int64, same shape)."""
        s = scales.detach().float().clamp_min(self.scale_bound).contiguous()
        return torch.bucketize(s, self.scale_boundaries.to(s.device))

    def compress(self, y: Tensor, scales: Tensor, means: Tensor | None = None) -> list[bytes]:
        """Entropy-code ``y`` ``[B, ...]`` given ``scales`` (and ``means``): one string per image."""
        self._check_tables()
        if scales.shape != y.shape or (means is not None and means.shape != y.shape):
            raise ValueError("y, scales and means must have the same shape")
        centred = y.detach().float() - (means.detach().float() if means is not None else 0.0)
        symbols = torch.round(centred).cpu()
        _check_symbols(symbols)
        indexes = self.build_indexes(scales).cpu()
        return [self._encode(s.reshape(-1).numpy().astype(np.int64), i.reshape(-1).numpy())
                for s, i in zip(symbols, indexes)]

    def decompress(self, strings: Sequence[bytes], scales: Tensor,
                   means: Tensor | None = None) -> Tensor:
        """Decode strings from :meth:`compress`; ``scales`` (and ``means``) give the shape.

        Raises :class:`lic.codec.BitstreamError` for strings that cannot be decoded.
        """
        self._check_tables()
        if len(strings) != scales.shape[0]:
            raise ValueError(f"{len(strings)} strings for a batch of {scales.shape[0]} scales")
        indexes = self.build_indexes(scales).cpu()
        symbols = np.stack([self._decode(s, i.reshape(-1).numpy()) for s, i in zip(strings, indexes)]) \
            if len(strings) else np.zeros((0, *scales.shape[1:]), dtype=np.int64)
        out = torch.from_numpy(symbols.astype(np.float32)).reshape(scales.shape).to(scales.device)
        return out + means.to(out.dtype) if means is not None else out
