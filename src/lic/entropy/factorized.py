"""The factorized density of Ballé et al. 2018 (appendix 6.1): one learned univariate density per
channel, the "entropy bottleneck" of Ballé 2017's codec, with its integer coding tables."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import lower_bound
from . import short_strings
from .quantize import quantize
from .tables import PRECISION, TAIL_MASS, TableCoder, _check_symbols

LIKELIHOOD_BOUND = 1e-9  # no symbol is ever modelled as less likely than this (≤ 30 bits)

#: Training steps between two bisections for the straight-through medians (see ``_training_medians``).
MEDIAN_REFRESH = 16

#: A quantization bin width: one number for every channel, or a ``[C]`` tensor of one per channel.
Width = float | Tensor


def _per_channel(width: Width, like: Tensor) -> Tensor | float:
    """``width`` shaped to multiply latents ``[B, C, H, W]`` like ``like`` (a float stays a float)."""
    return width if isinstance(width, float) else width.to(like).reshape(1, -1, 1, 1)


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
class FactorizedDensity(TableCoder):
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
        self._median_calls, self._cached_medians = 0, torch.zeros(0)  # see _training_medians

    # -- the density ---------------------------------------------------------------------------
    def logits_cdf(self, x: Tensor) -> Tensor:
        """Logit of the CDF, ``c(x)`` before its final sigmoid; ``x`` has shape ``[C, 1, N]``."""
        for k, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(matrix.to(x)), x) + bias.to(x)
            if k < len(self.factors):
                x = x + torch.tanh(self.factors[k].to(x)) * torch.tanh(x)
        return x

    def likelihood(self, y_hat: Tensor, width: Width = 1.0) -> Tensor:
        """``p(ŷ) = c(ŷ + w/2) - c(ŷ - w/2)`` for ``ŷ`` of shape ``[B, C, H, W]`` (appendix 6.1).

        ``w`` is the quantization bin width: 1 for the book's unit-step models, or one width per
        channel (a ``[C]`` tensor) for learned step sizes (Dumas et al. 2018, eq. 2). Always
        float32, also under autocast: in bf16 the difference of two CDF values would keep about
        3 significant digits, and the rate estimate and its gradient would be noise.
        """
        b, c = y_hat.shape[:2]
        v = y_hat.float().transpose(0, 1).reshape(c, 1, -1)
        half = 0.5 * width if isinstance(width, float) else 0.5 * width.float().reshape(c, 1, 1)
        with _full_precision(y_hat):
            lower = self.logits_cdf(v - half)
            upper = self.logits_cdf(v + half)
        p = _sign_trick_mass(lower, upper)
        p = p.reshape(c, b, *y_hat.shape[2:]).transpose(0, 1)
        return lower_bound(p, self.likelihood_bound)

    def forward(self, y: Tensor, training: bool | None = None, ste: bool = False,
                width: Width = 1.0) -> tuple[Tensor, Tensor]:
        """``(ŷ, p)``: noisy ``ŷ`` when training, else rounded around the medians.

        ``width`` is the bin width of the quantizer (a float, or one per channel): training adds
        ``w · u`` with ``u ~ U(-½, ½)`` (Dumas et al. 2018, eq. 4: ``Y + Δ ⊙ T``), testing rounds
        to the grid ``m + w k``. With ``ste`` (training only), the returned ``ŷ`` — the decoder's
        input — is rounded around the current medians with a straight-through gradient, while
        ``p`` stays the likelihood of the noisy latents: the decoder learns on the values it will
        really receive, and the rate keeps its smooth proxy (Minnen & Singh 2020 train this way).

        Test-time rounding uses the medians of the coding tables once :meth:`update` has made
        them, so ``ŷ`` is exactly what :meth:`compress` sends (a model loaded with fp16 weights
        would otherwise find slightly different medians than those exported from fp32).
        """
        training = self.training if training is None else training
        w = _per_channel(width, y)
        if training:
            y_hat = y + w * quantize(torch.zeros_like(y), "noise")  # u ~ U(-½, ½)
            if ste:
                medians = self._training_medians().to(y).reshape(1, -1, 1, 1)
                return quantize(y / w, "ste", medians / w) * w, self.likelihood(y_hat, width)
        else:
            medians = self.table_medians if self.table_medians.numel() == self.channels else self.medians()
            medians = medians.to(y).reshape(1, -1, 1, 1)
            y_hat = quantize((y - medians) / w, "round") * w + medians
        return y_hat, self.likelihood(y_hat, width)

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

    def _training_medians(self) -> Tensor:
        """The medians for straight-through rounding in training, refreshed every
        ``MEDIAN_REFRESH`` calls: the bisection costs about 7 % of a CPU training step, and the
        medians move by a tiny fraction of a bin between refreshes."""
        if self._median_calls % MEDIAN_REFRESH == 0:
            self._cached_medians = self.medians()
        self._median_calls += 1
        return self._cached_medians

    def medians(self) -> Tensor:
        """The channel medians (c(m) = ½), found by bisection; shape ``[C]`` float32."""
        return self._quantiles([0.0])[:, 0, 0].float().to(self.matrices[0].device)

    @torch.no_grad()
    def update(self, widths: Tensor | None = None) -> None:
        """Export the integer coding tables (call once after training, then save the model).

        Per channel: the median ``m``, the support ``[m + k_lo, m + k_hi]`` where each tail holds
        at most ``tail_mass / 2`` (capped to ``max_symbols`` values around ``m``), the bin
        probabilities there plus the escape (the mass outside), all in float64 → integer counts.

        ``widths`` (``[S, C]``, optional) asks for ``S`` sets of tables, set ``s`` for the bins
        ``[m + (k - ½) w, m + (k + ½) w)`` with ``w = widths[s, c]`` (learned step sizes scaled at
        test time, Dumas et al. 2018, Sec. 4); the table of channel ``c`` in set ``s`` has index
        ``s · C + c``. The default is one set of unit bins.
        """
        tail = math.log(self.tail_mass / 2) - math.log1p(-self.tail_mass / 2)  # logit(tail/2)
        q = self._quantiles([tail, 0.0, -tail])[:, 0, :]
        medians = q[:, 1].float().double()  # the float32 medians the decoder will use
        widths = torch.ones(1, self.channels) if widths is None else widths.detach().cpu().reshape(-1, self.channels)
        pmfs, offsets = [], []
        for w in widths.float().double():  # the float32 widths the coder will divide by
            set_pmfs, k_lo = self._bin_tables(q, medians, w)
            pmfs += set_pmfs
            offsets += k_lo.tolist()
        self._set_tables(pmfs, offsets)
        self.table_medians = medians.float().to(self.pmf_counts.device)

    def _bin_tables(self, q: Tensor, medians: Tensor, w: Tensor) -> tuple[list[np.ndarray], Tensor]:
        """The PMFs (escape last) and first symbols of one table set with bin widths ``w`` ``[C]``."""
        half = self.max_symbols // 2
        k_lo = torch.clamp(torch.floor((q[:, 0] - medians) / w), -half, 0).long()
        k_hi = torch.clamp(torch.ceil((q[:, 2] - medians) / w), 0, half).long()
        n = int((k_hi - k_lo).max()) + 1
        grid = k_lo.double().reshape(-1, 1, 1) + torch.arange(n, dtype=torch.float64).reshape(1, 1, -1)
        x = grid * w.reshape(-1, 1, 1) + medians.reshape(-1, 1, 1)
        lower = self._logits64(x - 0.5 * w.reshape(-1, 1, 1))
        upper = self._logits64(x + 0.5 * w.reshape(-1, 1, 1))
        mass = _sign_trick_mass(lower, upper)[:, 0, :].numpy()
        below = torch.sigmoid(lower[:, 0, 0]).numpy()  # mass left of the first bin
        pmfs = []
        for ch in range(self.channels):
            size = int(k_hi[ch] - k_lo[ch]) + 1
            above = float(torch.sigmoid(-upper[ch, 0, size - 1]))  # mass right of the last bin
            pmfs.append(np.append(mass[ch, :size], below[ch] + above))
        return pmfs, k_lo

    # -- coding --------------------------------------------------------------------------------
    def _tables(self, table_set: int, positions: int) -> np.ndarray:
        """The table index of every symbol of one image: set ``table_set``, channel-major."""
        sets = self.pmf_sizes.numel() // self.channels
        if not 0 <= table_set < sets:
            raise ValueError(f"table set must be in 0..{sets - 1}, got {table_set}")
        return table_set * self.channels + np.repeat(np.arange(self.channels, dtype=np.int32), positions)

    def least_bits_for(self, positions: int, table_set: int = 0) -> float:
        """The fewest bits that :meth:`compress` can spend on ``positions`` latent positions."""
        least = self.least_bits()
        return positions * float(least[self._tables(table_set, 1)].sum())

    def compress(self, y: Tensor, table_set: int = 0, width: Width = 1.0, short: bool = False) -> list[bytes]:
        """Entropy-code latents ``y`` ``[B, C, H, W]``: one byte string per image.

        Sends ``round((y - m) / w)`` per channel with that channel's table in ``table_set``
        (medians ``m`` and tables from :meth:`update`; ``w`` the set's bin widths). ``short``
        codes with the byte-granular coder of :mod:`.short_strings` (about one byte of overhead
        per string instead of up to eight; for strings of a few dozen symbols).
        """
        self._check_tables()
        if y.dim() != 4 or y.shape[1] != self.channels:
            raise ValueError(f"expected latents [B, {self.channels}, H, W], got {tuple(y.shape)}")
        y = y.detach().float().cpu()
        symbols = torch.round((y - self.table_medians.cpu().reshape(1, -1, 1, 1)) / _per_channel(width, y))
        _check_symbols(symbols)
        tables = self._tables(table_set, y.shape[2] * y.shape[3])
        if short:
            arrays = short_strings.table_arrays(self)
            return [short_strings.encode(s.reshape(-1).numpy().astype(np.int64), tables, *arrays, self.precision)
                    for s in symbols]
        return [self._encode(s.reshape(-1).numpy().astype(np.int32), tables) for s in symbols]

    def decompress(self, strings: Sequence[bytes], shape: tuple[int, int], table_set: int = 0,
                   width: Width = 1.0, short: bool = False) -> Tensor:
        """Decode strings from :meth:`compress` into ``ŷ`` ``[len(strings), C, H, W]``.

        ``shape`` is the latents' spatial size ``(H, W)``; ``table_set``, ``width`` and ``short``
        those the strings were coded with. Raises :class:`lic.codec.BitstreamError` for strings that cannot
        be decoded.
        """
        self._check_tables()
        h, w = (int(s) for s in shape)
        tables = self._tables(table_set, h * w)
        if short:
            arrays = short_strings.table_arrays(self)
            decode = lambda s: short_strings.decode(s, tables, *arrays, self.precision)  # noqa: E731
        else:
            decode = lambda s: self._decode(s, tables)  # noqa: E731
        symbols = np.stack([decode(s) for s in strings]) if strings else \
            np.zeros((0, self.channels * h * w), dtype=np.int64)
        medians = self.table_medians.reshape(1, -1, 1, 1)
        out = torch.from_numpy(symbols.astype(np.float32)).reshape(-1, self.channels, h, w).to(medians.device)
        return out * _per_channel(width, out) + medians
