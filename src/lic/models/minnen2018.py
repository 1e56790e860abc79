"""Minnen, Ballé & Toderici 2018, "Joint autoregressive and hierarchical priors for learned image
compression": the "Original" that Wen et al. (Chapter 5) build on.

Ballé's transforms (Chapter 3) around a better entropy model for ``y``:

    y = g_a(x),   z = h_a(y),   ẑ = Q(z) with a factorized density (Ballé et al. 2018),
    ψ = h_s(ẑ)                                  hyperprior features (side information)
    φ_i = g_cm(ŷ_<i)                            the context: a masked 5x5 convolution (Sec. 3)
    (μ_i, σ_i) = g_ep(ψ_i, φ_i)                 entropy parameters: 1x1 convolutions
    p(ŷ_i | ẑ, ŷ_<i) = (N(μ_i, σ_i²) * U(-½, ½))(ŷ_i)                         (eq. 3)

and the rate is split into the bits of ``y`` and of ``z`` (``R = R_y + R_z``). ``context`` chooses
how ``ŷ_<i`` is read:

- ``"serial"``: the masked convolution of Minnen et al. (everything above, and to the left in the
  same row). The decoder must decode one position at a time.
- ``"checkerboard"``: He et al. 2021. The "anchors" (``(h + w)`` even) are coded first from the
  hyperprior alone; the others then see the anchors around them. Two passes, each in parallel.
- ``"none"``: the mean-scale hyperprior without context (Minnen et al.'s ablation).

**Bit-exact decoding.** The decoder computes ``μ`` and ``σ`` from what it has decoded; one flipped
table index and the rest of the stream is garbage (CompressAI issues #279, #309). So the encoder
does not compute the parameters its own way: it runs exactly the decoder's computation, position
by position (serial) or pass by pass (checkerboard), on one thread, on the same values
(:meth:`MeanScaleHyperprior.coding_parameters`, and ``ψ`` by :meth:`~MeanScaleHyperprior.hyper`).
Both sides then hold bit-identical inputs to the same operations, whatever the caller's thread
count, as long as both run the model in the same memory format (:class:`lic.learned_codec.LearnedCodec`
always uses channels-last).
"""
from __future__ import annotations

import struct
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..codec import BitstreamError
from ..entropy import FactorizedDensity, estimate_bits
from ..entropy.gaussian import GaussianConditional
from ..entropy.tables import TableStreamDecoder, TableStreamEncoder
from ..layers import GDN
from .balle2017 import FactorizedPrior, conv, deconv
from .base import DISTORTIONS, LAMBDAS, LearnedModel, Rate, one_thread, synthesize
from .registry import CodecSpec, register_model

CONTEXTS = ("serial", "checkerboard", "none")
#: The shipped rates: qualities on the λ grid of ``LAMBDAS``, as in Chapter 3.
QUALITIES = (1, 3, 5, 7)
#: The codec of the shipped checkpoints (registered when they ship).
SPEC = CodecSpec("Minnen et al. 2018: scale hyperprior with mean, serial context model (Chapter 5)",
                 {q: (f"minnen2018-q{q}", 0) for q in QUALITIES})


class MaskedConv2d(nn.Conv2d):
    """A 5x5 convolution that sees only already-decoded neighbours: ``"serial"`` (mask type A: the
    rows above and the left part of the current row) or ``"checkerboard"`` (the anchors: positions
    at an odd offset ``di + dj`` from the centre)."""

    def __init__(self, cin: int, cout: int, kind: str, kernel: int = 5) -> None:
        super().__init__(cin, cout, kernel, padding=kernel // 2)
        mask = torch.zeros(kernel, kernel)
        c = kernel // 2
        if kind == "serial":
            mask[:c] = 1
            mask[c, :c] = 1
        elif kind == "checkerboard":
            di, dj = torch.meshgrid(torch.arange(kernel) - c, torch.arange(kernel) - c, indexing="ij")
            mask[(di + dj) % 2 == 1] = 1
        else:
            raise ValueError(f"mask kind must be 'serial' or 'checkerboard', got {kind!r}")
        self.register_buffer("mask", mask[None, None])

    def forward(self, x: torch.Tensor, pad: bool = True) -> torch.Tensor:
        """The masked convolution; ``pad=False`` computes only the positions whose whole window
        is inside ``x`` (a window of the kernel's size gives the one value at its centre)."""
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding if pad else 0)


def anchors(height: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """The checkerboard's anchor positions, ``(h + w)`` even: a ``[1, 1, H, W]`` 0/1 mask."""
    h, w = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    return ((h + w) % 2 == 0).float()[None, None]


@register_model("minnen2018", codec=SPEC)
class MeanScaleHyperprior(LearnedModel):
    """Ballé's ``g_a``/``g_s`` (``N``, ``M``), a hyperprior of ``N`` channels, and a context model;
    trained at ``lmbda`` on ``distortion`` (``"mse"`` or ``"ms-ssim"``, Wen et al.'s Table 4).
    ``ste``: the decoder sees rounded latents in training (as in Chapter 3)."""

    stride = 64  # images are padded to a multiple of z's grid: y is 1/16 of the image, z 1/64
    latent_stride = 16
    int8_modules = ("h_a", "h_s", "g_cm", "g_ep")

    def __init__(self, N: int = 128, M: int = 192, lmbda: float = LAMBDAS[2], context: str = "serial",
                 ste: bool = False, distortion: str = "mse") -> None:
        super().__init__()
        if context not in CONTEXTS:
            raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}")
        if distortion not in DISTORTIONS:
            raise ValueError(f"distortion must be one of {DISTORTIONS}, got {distortion!r}")
        self.N, self.M, self.lmbda, self.context, self.ste = N, M, float(lmbda), context, bool(ste)
        self.distortion = distortion
        self.lambdas = (self.lmbda,)
        self.g_a = nn.Sequential(conv(3, N), GDN(N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.g_s = nn.Sequential(deconv(M, N), GDN(N, inverse=True), deconv(N, N), GDN(N, inverse=True),
                                 deconv(N, N), GDN(N, inverse=True), deconv(N, 3))
        self.h_a = nn.Sequential(nn.Conv2d(M, N, 3, padding=1), nn.LeakyReLU(), conv(N, N), nn.LeakyReLU(), conv(N, N))
        self.h_s = nn.Sequential(deconv(N, M), nn.LeakyReLU(), deconv(M, M * 3 // 2), nn.LeakyReLU(),
                                 nn.Conv2d(M * 3 // 2, 2 * M, 3, padding=1))
        self.g_cm = MaskedConv2d(M, 2 * M, context) if context != "none" else None
        width = 4 * M if context != "none" else 2 * M
        self.g_ep = nn.Sequential(nn.Conv2d(width, 10 * M // 3, 1), nn.LeakyReLU(),
                                  nn.Conv2d(10 * M // 3, 8 * M // 3, 1), nn.LeakyReLU(),
                                  nn.Conv2d(8 * M // 3, 2 * M, 1))
        self.entropy = FactorizedDensity(N)  # the density of z
        self.gaussian = GaussianConditional()

    # -- transforms ----------------------------------------------------------------------------
    def analysis(self, x: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        return self.g_a(x)

    def synthesis(self, y_hat: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        return self.g_s(y_hat)

    def warm_start_from(self, source: nn.Module) -> None:
        """Start from another model's parameters wherever name and shape agree: from Chapter 3's
        transforms (a :class:`FactorizedPrior` of the same ``N``, ``M``: transforms first, a better
        entropy model next), or from a trained model of this family (Chapter 5's variants start
        from the "Original"). Everything else starts from scratch."""
        if not isinstance(source, (FactorizedPrior, MeanScaleHyperprior)):
            raise ValueError(f"a {type(source).__name__} cannot initialise a {type(self).__name__}")
        theirs = dict(source.named_parameters())
        names = {n: n for n, p in self.named_parameters() if n in theirs and theirs[n].shape == p.shape}
        if not names:
            raise ValueError(f"{type(source).__name__} shares no parameter with this {type(self).__name__}")
        self.copy_parameters(names, source)

    def decoder_input(self, y_hat: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """What ``g_s`` decodes: ``ŷ`` (Wen et al. add side information from ``ψ``)."""
        return y_hat

    # -- entropy parameters --------------------------------------------------------------------
    def entropy_parameters(self, psi: torch.Tensor, phi: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, σ) = g_ep(ψ, φ)``; ``φ`` is ``None`` without a context model."""
        out = self.g_ep(psi if phi is None else torch.cat([psi, phi], dim=1))
        scales, means = out.chunk(2, dim=1)
        return means, scales

    #: how far the context model reaches: a (2r + 1)² window of latents around a position
    context_radius = 2

    def context_features(self, y_hat: torch.Tensor, window: bool = False) -> torch.Tensor | None:
        """``φ = g_cm(ŷ)`` at every position (the masks keep it causal); for the checkerboard, the
        anchors' context is zero and the others see only the anchors. ``window``: ``y_hat`` is one
        (2r + 1)² window of the serial decoder, and the result is the context at its centre."""
        if self.context == "none":
            return None
        if self.context == "serial":
            return self.g_cm(y_hat, pad=not window)
        mask = anchors(*y_hat.shape[-2:], device=y_hat.device)
        return self.g_cm(y_hat * mask) * (1 - mask)

    def forward(self, x: torch.Tensor, rate: Rate = 0) -> dict:
        """Noisy latents when training, rounded ones in eval mode; likelihoods of ``y`` and ``z``."""
        y = self.analysis(x).float()
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy(z, training=self.training)
        psi = self.h_s(z_hat) if self.training else self.hyper(z_hat)
        if self.training:
            y_noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
            means, scales = self.entropy_parameters(psi, self.context_features(y_noisy))
            y_likelihoods = self.gaussian.likelihood(y_noisy, means, scales)
            y_dec = y + (torch.round(y - means) + means - y).detach() if self.ste else y_noisy
        else:
            y_dec, means, scales = self.coding_parameters(y, psi)
            coded_scales = self.gaussian.scale_table[self.gaussian.scale_indexes(scales)]  # the tables sent
            y_likelihoods = self.gaussian.likelihood(y_dec, means, coded_scales)
        return {"x_hat": self.g_s(self.decoder_input(y_dec.to(x.dtype), psi)), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods},
                "y": y, "y_hat": y_dec}

    # -- what encoder and decoder compute alike ------------------------------------------------
    #: latent rows each decoding strip borrows from its neighbours (``lic.models.base.synthesize``)
    strip_margin = 3

    @torch.no_grad()
    def hyper(self, z_hat: torch.Tensor) -> torch.Tensor:
        """``ψ = h_s(ẑ)`` as encoder and decoder both compute it: contiguous, on one thread."""
        with one_thread():
            return self.h_s(z_hat.contiguous())

    @torch.no_grad()
    def coding_parameters(self, y: torch.Tensor | None, psi: torch.Tensor,
                          read: Callable[[torch.Tensor, torch.Tensor, tuple], torch.Tensor] | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(ŷ, μ, σ)`` computed exactly as the decoder computes them, in decoding order.

        ``read(means, scales, where)`` returns the quantised latents of one step (the decoder
        reads them from the stream); without it, they are ``round(y - μ) + μ`` of the given ``y``
        (the encoder, and evaluation). ``where`` is a position ``(h, w)`` (serial), ``"anchors"``,
        ``"others"`` (checkerboard) or ``"all"`` (no context). Every step runs on one thread.
        """
        if read is None:
            def read(means: torch.Tensor, scales: torch.Tensor, where: tuple | str) -> torch.Tensor:
                part = _select(y, where)
                return torch.round(part - means) + means
        with one_thread():
            return self._coding_parameters(psi, read)

    def _coding_parameters(self, psi: torch.Tensor, read: Callable) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, _, height, width = psi.shape
        if self.context == "none":
            means, scales = self.entropy_parameters(psi, None)
            return read(means, scales, "all"), means, scales
        if self.context == "checkerboard":
            mask = anchors(height, width, psi.device)
            means_a, scales_a = self.entropy_parameters(psi, self.context_features(psi.new_zeros(b, self.M, height, width)))
            y_hat = read(means_a, scales_a, "anchors") * mask
            means_o, scales_o = self.entropy_parameters(psi, self.context_features(y_hat))
            y_hat = y_hat + read(means_o, scales_o, "others") * (1 - mask)
            return y_hat, means_a * mask + means_o * (1 - mask), scales_a * mask + scales_o * (1 - mask)
        pad = self.context_radius
        k = 2 * pad + 1
        y_hat = psi.new_zeros(b, self.M, height + 2 * pad, width + 2 * pad)
        means = psi.new_zeros(b, self.M, height, width)
        scales = psi.new_zeros(b, self.M, height, width)
        for h in range(height):
            for w in range(width):
                phi = self.context_features(y_hat[..., h:h + k, w:w + k], window=True)  # the window's centre
                mu, sigma = self.entropy_parameters(psi[..., h:h + 1, w:w + 1], phi)
                y_hat[..., h + pad:h + pad + 1, w + pad:w + pad + 1] = read(mu, sigma, (h, w))
                means[..., h:h + 1, w:w + 1], scales[..., h:h + 1, w:w + 1] = mu, sigma
        return y_hat[..., pad:pad + height, pad:pad + width], means, scales

    # -- coding ----------------------------------------------------------------------------------
    @torch.no_grad()
    def update(self) -> None:
        self.entropy.update()
        self.gaussian.update()

    def compress(self, x: torch.Tensor, rate: int = 0) -> bytes:
        """``len(z string)`` (4 bytes), the factorized code of ``ẑ``, then the Gaussian code of ``ŷ``."""
        self.check_rate(rate)
        y = self.analyze(x).float()
        return self.compress_latents(y, self.h_a(y))

    @torch.no_grad()
    def compress_latents(self, y: torch.Tensor, z: torch.Tensor) -> bytes:
        """The stream of latents ``y`` and hyper-latents ``z``: :meth:`compress` sends ``g_a(x)`` and
        ``h_a(y)``; an encoder that refines both per image (:mod:`lic.latent_refinement`) its own."""
        y = y.float()
        z_string = self.entropy.compress(z)[0]
        z_hat = self.entropy.decompress([z_string], z.shape[-2:])
        psi = self.hyper(z_hat)
        stream = TableStreamEncoder(self.gaussian)

        def read(means: torch.Tensor, scales: torch.Tensor, where: tuple | str) -> torch.Tensor:
            part = _select(y, where)
            mask = _where_mask(where, y)
            self.gaussian.encode(stream, _pick(part, mask), _pick(means, mask), _pick(scales, mask))
            return torch.round(part - means) + means

        self.coding_parameters(y, psi, read)
        return struct.pack(">I", len(z_string)) + z_string + stream.finish()

    def least_payload_bits(self, shape: tuple[int, int], rate: int = 0) -> float:
        """The fewest bits of ``ẑ`` (its factorized tables) and ``ŷ`` (the most peaked Gaussian table
        for every latent), plus the 4-byte length."""
        self.check_rate(rate)
        z_positions = (shape[0] // self.stride) * (shape[1] // self.stride)
        y_positions = (shape[0] // self.latent_stride) * (shape[1] // self.latent_stride)
        return (32 + self.entropy.least_bits_for(z_positions)
                + y_positions * self.M * float(self.gaussian.least_bits().min()))

    def decompress(self, payload: bytes, shape: tuple[int, int], rate: int = 0, workers: int = 1) -> torch.Tensor:
        self.check_rate(rate)
        if len(payload) < 4:
            raise BitstreamError("truncated stream: no hyperprior length")
        n = struct.unpack(">I", payload[:4])[0]
        if 4 + n > len(payload):
            raise BitstreamError(f"truncated stream: the hyperprior needs {n} bytes")
        z_shape = (shape[0] // self.stride, shape[1] // self.stride)
        z_hat = self.entropy.decompress([payload[4:4 + n]], z_shape)
        psi = self.hyper(z_hat)
        stream = TableStreamDecoder(self.gaussian, payload[4 + n:])
        template = psi.new_zeros(1, self.M, *psi.shape[-2:])

        def read(means: torch.Tensor, scales: torch.Tensor, where: tuple | str) -> torch.Tensor:
            mask = _where_mask(where, template)
            values = self.gaussian.decode(stream, _pick(means, mask), _pick(scales, mask))
            out = means.clone()
            _put(out, mask, values)
            return out

        y_hat = self.coding_parameters(None, psi, read)[0]
        stream.finish()
        with one_thread():  # Wen's side information is a convolution of ψ: thread-independent too
            features = self.decoder_input(y_hat, psi)
        return synthesize(lambda part: self.g_s(part), features, self.latent_stride, workers, margin=self.strip_margin)

    @torch.no_grad()
    def estimate_bits(self, x: torch.Tensor, rate: int = 0) -> float:
        """``R_y + R_z``: the ideal code length of what :meth:`compress` sends (eval mode; ``y``
        with the table scales it is coded with)."""
        out = self.eval()(x)
        return float(estimate_bits(out["likelihoods"]))


def _select(y: torch.Tensor, where: tuple | str) -> torch.Tensor:
    return y if isinstance(where, str) else y[..., where[0]:where[0] + 1, where[1]:where[1] + 1]


def _where_mask(where: tuple | str, like: torch.Tensor) -> torch.Tensor | None:
    """The positions a step codes: ``None`` (all of the given tensor) or the checkerboard's half."""
    if where in ("anchors", "others"):
        mask = anchors(*like.shape[-2:], like.device).bool().expand_as(like)
        return mask if where == "anchors" else ~mask
    return None


def _pick(t: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return t if mask is None else t[mask]


def _put(out: torch.Tensor, mask: torch.Tensor | None, values: torch.Tensor) -> None:
    if mask is None:
        out.copy_(values.reshape(out.shape))
    else:
        out[mask] = values.reshape(-1)
