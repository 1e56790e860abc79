"""Wen, Zhou, Nakagawa, Kazui & Tan 2019, "Variational autoencoder based image compression with
pyramidal features and context entropy model" (CLIC 2019): Minnen et al.'s codec
(:mod:`lic.models.minnen2018`, the paper's "Original") with four additions, each switchable.

1. ``separate_entropy`` (Sec. 2.3, Table 1): one context model and one entropy-parameter network
   for μ and another pair for σ. Each context model has three masked 3×3 convolutions of ``M``
   channels ("Masked 128×3×3" three times for M = 128; receptive field 7×7), each entropy-parameter
   network 1×1 convolutions of 3M, 3M/2 and M channels (384, 192, 128). "An absolute function is
   added before the entropy model for σ": we take the absolute value of the σ network's input.
2. ``multiscale`` (Sec. 2.1, Figs. 2-3): the text says the image is resized to 4 scales with
   bilinear interpolation, that the full-size image goes through "a network of four layers" and
   each resized image through "a network of one layer", and that the results are "aligned and
   merged ... through a convolution layer". Figure 2 is not in our copy of the paper (its caption
   mentions 3×3 stride-2 convolutions, down- and upsampling, and N = 192). Our reading: scales 1,
   ½, ¼, ⅛ (anti-aliased bilinear); the full-size path starts with the inception block of Fig. 3
   (parallel 1×1, 3×3 and 5×5 convolutions with the same channel count, concatenated, fused by a
   1×1 convolution, then GDN) and continues with Ballé's strided 5×5 convolutions to the 1/16 grid;
   each resized image gets one strided 5×5 convolution to that grid; a 1×1 convolution merges the
   four to M channels (a 3×3 one would add 0.4 MB to every checkpoint).
3. ``residual`` (Sec. 2.2, Fig. 4): a two-layer residual block (3×3, LeakyReLU, 3×3, plus the
   input) after each of the first three upsampling layers of ``g_s``, and "multi-scale assistant
   information" from the hyperprior's output ``ψ`` through a "Pyramid Atrous" model (parallel 3×3
   convolutions with dilations 1, 2 and 4; our choice of rates), concatenated with ``ŷ``.
4. ``weighted`` (Sec. 2.4, Fig. 5): a weighted (channel-attention) layer before the convolution that
   reduces the channels to ``M``: global average pooling, two 1×1 convolutions, a sigmoid, and a
   per-channel weight.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import GDN
from .balle2017 import conv, deconv
from .base import LAMBDAS
from .minnen2018 import QUALITIES, MaskedConv2d, MeanScaleHyperprior, anchors
from .registry import CodecSpec, register_model

#: The codec of the shipped checkpoints (registered when they ship).
SPEC = CodecSpec("Wen et al. 2019: Minnen et al. with separate mean/scale context models, multi-scale "
                 "encoder, residual decoder (Chapter 5)", {q: (f"wen2019-q{q}", 0) for q in QUALITIES})


class ContextStack(nn.Module):
    """Three 3×3 convolutions (Table 1) that see only decoded latents: the first masked (serial:
    type A; checkerboard: the anchors), the others causal (serial: type B, the centre included) or
    plain (checkerboard: after the first layer every feature depends on anchors only).

    The input is zero-padded by 3 once and the convolutions are unpadded, so a 7×7 window of the
    serial decoder gives exactly the value that training computes at the window's centre, also at
    the image's borders (per-layer padding would not: the inner layers' padding would differ)."""

    radius = 3

    def __init__(self, cin: int, width: int, context: str) -> None:
        super().__init__()
        self.first = MaskedConv2d(cin, width, context, kernel=3)
        rest = [MaskedConv2d(width, width, "serial", kernel=3) if context == "serial" else nn.Conv2d(width, width, 3)
                for _ in range(2)]
        if context == "serial":
            for layer in rest:
                layer.mask[0, 0, 1, 1] = 1  # type B: the centre of a causal feature is decoded
        self.rest = nn.ModuleList(rest)

    def forward(self, y_hat: torch.Tensor, pad: bool = True) -> torch.Tensor:
        """The context at every position (``pad``), or at the centre of a 7×7 window (``pad=False``)."""
        x = F.pad(y_hat, (self.radius,) * 4) if pad else y_hat
        x = self.first(x, pad=False)
        for layer in self.rest:
            x = F.leaky_relu(x)
            x = layer(x, pad=False) if isinstance(layer, MaskedConv2d) else layer(x)
        return x


class Inception(nn.Module):
    """Parallel 1×1, 3×3 and 5×5 convolutions (stride 2, ``width`` channels each), concatenated and
    fused by a 1×1 convolution to ``cout``, then GDN (Fig. 3).

    The 1×1 branch subsamples, then convolves: the same values as a stride-2 1×1 convolution, whose
    backward pass corrupts memory in channels-last on CPU (PyTorch 2.14)."""

    def __init__(self, cin: int, width: int, cout: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(cin, width, k, stride=1 if k == 1 else 2, padding=k // 2)
                                      for k in (1, 3, 5))
        self.fuse = nn.Conv2d(3 * width, cout, 1)
        self.gdn = GDN(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [b(x[..., ::2, ::2] if b.kernel_size == (1, 1) else x) for b in self.branches]
        return self.gdn(self.fuse(torch.cat(features, dim=1)))


class Weighted(nn.Module):
    """The weighted layer (Fig. 5): ``x · 2 sigmoid(W₂ ReLU(W₁ mean(x)))``, one weight per channel.

    The factor 2 and the zeroed ``W₂`` make every weight 1 at the start, so that a model warm-started
    from the Original starts from the Original's output (any constant factor is absorbed by the
    convolution that follows)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(),
                                 nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid())
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 * self.net(x.mean(dim=(2, 3), keepdim=True))


class MultiScaleEncoder(nn.Module):
    """Sec. 2.1: four layers on the full image (the inception block, then Ballé's strided
    convolutions to ``M`` channels), one layer on each of three resized copies, merged by a 1×1
    convolution (after the weighted layer, when there is one)."""

    def __init__(self, N: int, M: int, weighted: bool) -> None:
        super().__init__()
        self.full = nn.Sequential(Inception(3, N, N), conv(N, N), GDN(N), conv(N, N), GDN(N), conv(N, M))
        self.resized = nn.ModuleList(nn.Conv2d(3, N, 5, stride=s, padding=2) for s in (8, 4, 2))
        self.weighted = Weighted(M + 3 * N) if weighted else nn.Identity()
        self.merge = nn.Conv2d(M + 3 * N, M, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.scales(x))

    def scales(self, x: torch.Tensor) -> torch.Tensor:
        """The four scales' features on the latent grid, concatenated (local: strips can compute it)."""
        h, w = x.shape[-2:]
        features = [self.full(x)]
        for factor, layer in zip((2, 4, 8), self.resized):
            small = F.interpolate(x, size=(h // factor, w // factor), mode="bilinear", align_corners=False,
                                  antialias=True)
            features.append(layer(small))
        return torch.cat(features, dim=1)

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """The weighted layer (a mean over the whole image) and the merge."""
        return self.merge(self.weighted(features))

    @torch.no_grad()
    def start_from(self, g_a: nn.Sequential) -> None:
        """Compute Ballé's ``g_a`` (conv, GDN, conv, GDN, conv, GDN, conv) exactly: its first layer
        becomes the inception block's 5×5 branch, which the fusion passes on alone; the merge passes
        the full-size path on alone. The other branches and scales start with zero weight."""
        inception = self.full[0]
        inception.branches[2].load_state_dict(g_a[0].state_dict())
        inception.gdn.load_state_dict(g_a[1].state_dict())
        n = g_a[0].out_channels
        inception.fuse.weight.zero_()
        inception.fuse.weight[:, 2 * n:, 0, 0] = torch.eye(n)
        inception.fuse.bias.zero_()
        for k in range(1, 6):
            self.full[k].load_state_dict(g_a[k + 1].state_dict())
        m = self.merge.out_channels
        self.merge.weight.zero_()
        self.merge.weight[:, :m, 0, 0] = torch.eye(m)
        self.merge.bias.zero_()


class ResidualBlock(nn.Module):
    """``x + conv(LeakyReLU(conv(x)))`` (Fig. 4); the second convolution starts at zero, so that the
    block starts as the identity."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(),
                                  nn.Conv2d(channels, channels, 3, padding=1))
        nn.init.zeros_(self.body[2].weight)
        nn.init.zeros_(self.body[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class PyramidAtrous(nn.Module):
    """Parallel dilated 3×3 convolutions of the hyperprior's output ``ψ`` (Sec. 2.2), concatenated."""

    def __init__(self, cin: int, width: int, rates: tuple[int, ...] = (1, 2, 4)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(nn.Conv2d(cin, width, 3, padding=r, dilation=r) for r in rates)

    def forward(self, psi: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.leaky_relu(b(psi)) for b in self.branches], dim=1)


@register_model("wen2019", codec=SPEC)
class Wen2019(MeanScaleHyperprior):
    """:class:`MeanScaleHyperprior` with Wen et al.'s additions switched on or off (all on by default)."""

    # (with ``residual``, ``h_s``'s output ψ also feeds the decoder's side information)
    int8_modules = (*MeanScaleHyperprior.int8_modules, "context_mu", "context_sigma", "ep_mu", "ep_sigma")

    def __init__(self, N: int = 192, M: int = 128, lmbda: float = LAMBDAS[2], context: str = "serial",
                 ste: bool = False, separate_entropy: bool = True, multiscale: bool = True, residual: bool = True,
                 weighted: bool = True, distortion: str = "mse") -> None:
        super().__init__(N, M, lmbda, context, ste, distortion)
        self.separate_entropy, self.multiscale, self.residual, self.weighted = separate_entropy, multiscale, residual, weighted
        if multiscale:
            self.g_a = MultiScaleEncoder(N, M, weighted)
        self.weigh = Weighted(N) if weighted and not multiscale else None
        if residual:
            side = M // 4
            self.side = PyramidAtrous(2 * M, side)
            layers: list[nn.Module] = [deconv(M + 3 * side, N)]
            for k in range(3):
                layers += [GDN(N, inverse=True), ResidualBlock(N), deconv(N, N) if k < 2 else deconv(N, 3)]
            self.g_s = nn.Sequential(*layers)
            self.strip_margin = 4  # the residual blocks reach about 3.6 latent rows
        if separate_entropy and context != "none":
            self.g_cm = None
            self.context_mu, self.context_sigma = ContextStack(M, M, context), ContextStack(M, M, context)
            self.context_radius = ContextStack.radius
            width = 2 * M + M
            self.g_ep = None
            self.ep_mu, self.ep_sigma = self._ep(width, M), self._ep(width, M)
            nn.init.zeros_(self.ep_mu[-1].weight)  # μ starts at 0: plain rounding until the mean is learned
            nn.init.zeros_(self.ep_mu[-1].bias)

    @torch.no_grad()
    def warm_start_from(self, source: nn.Module) -> None:
        """Start from the Original (or from Chapter 3's transforms) with every addition neutral: the
        multi-scale encoder computes the source's ``g_a``, the residual blocks and weighted layers
        are identities, and the side information enters ``g_s`` with zero weight. Training then
        starts from the source's reconstructions and learns only what the additions add. The
        separate context and entropy-parameter networks are new and start from scratch, with
        ``μ = 0``: the latents are rounded plainly until the mean is learned."""
        super().warm_start_from(source)
        if self.multiscale and not getattr(source, "multiscale", False):
            self.g_a.start_from(source.g_a)
        if self.residual and not getattr(source, "residual", False):
            first, theirs = self.g_s[0], source.g_s[0]
            first.weight.zero_()
            first.weight[:theirs.in_channels] = theirs.weight
            first.bias.copy_(theirs.bias)
            for i in range(1, len(source.g_s)):  # a residual block after each inverse GDN
                self.g_s[i + i // 2].load_state_dict(source.g_s[i].state_dict())

    @staticmethod
    def _ep(cin: int, M: int) -> nn.Sequential:
        """Table 1's entropy-parameter network: 1×1 convolutions of 3M, 3M/2 and M channels."""
        return nn.Sequential(nn.Conv2d(cin, 3 * M, 1), nn.LeakyReLU(), nn.Conv2d(3 * M, 3 * M // 2, 1), nn.LeakyReLU(),
                             nn.Conv2d(3 * M // 2, M, 1))

    def context_features(self, y_hat: torch.Tensor, window: bool = False) -> torch.Tensor | None:
        if not (self.separate_entropy and self.context != "none"):
            return super().context_features(y_hat, window)
        if self.context == "serial":
            return torch.cat([self.context_mu(y_hat, pad=not window), self.context_sigma(y_hat, pad=not window)], dim=1)
        mask = anchors(*y_hat.shape[-2:], device=y_hat.device)
        anchored = y_hat * mask
        return torch.cat([self.context_mu(anchored), self.context_sigma(anchored)], dim=1) * (1 - mask)

    def entropy_parameters(self, psi: torch.Tensor, phi: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if not (self.separate_entropy and self.context != "none"):
            return super().entropy_parameters(psi, phi)
        phi_mu, phi_sigma = phi.chunk(2, dim=1)
        means = self.ep_mu(torch.cat([psi, phi_mu], dim=1))
        scales = self.ep_sigma(torch.cat([psi, phi_sigma], dim=1).abs())  # |·| before the σ model
        return means, scales

    def analysis(self, x: torch.Tensor, rate: int = 0) -> torch.Tensor:
        """``y = g_a(x)``; with the weighted layer before the last convolution of Ballé's ``g_a``."""
        if self.weigh is None:
            return self.g_a(x)
        return self.g_a[-1](self.weigh(self.g_a[:-1](x)))

    def analysis_parts(self, rate: int = 0) -> tuple:
        """The weighted layer averages over the whole image: strips compute what comes before it."""
        if self.multiscale:
            return self.g_a.scales, self.g_a.head
        if self.weigh is not None:
            return self.g_a[:-1], lambda features: self.g_a[-1](self.weigh(features))
        return self.g_a, None

    def decoder_input(self, y_hat: torch.Tensor, psi: torch.Tensor) -> torch.Tensor:
        """``ŷ``, with the pyramid-atrous features of ``ψ`` concatenated when ``residual``."""
        return torch.cat([y_hat, self.side(psi)], dim=1) if self.residual else y_hat
