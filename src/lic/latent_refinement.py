"""Encoder-side latent refinement: a better encoder for a trained decoder, searched per image.

The analysis transform ``g_a`` is trained to give good latents on average over the training images
(amortized inference). For one image, gradient descent on the latents themselves can lower that
image's ``R + λD`` further, while the decoder, the entropy model and the bitstream stay as they
are: any decoder of the codec reads the result. Campos et al. 2019 ("Content adaptive optimization
for neural image compression") refine latents this way; Yang et al. 2020 ("Improving inference for
neural image compression") call what it recovers the amortization gap. Chapter 3 measures how much
of its gap to WebP lies there (``benchmarks/latent_refinement.py``).

Two searches: :func:`refine_latents` for models that send ``g_a``'s latents alone (straight-through
rounding, noisy rate), and :func:`refine_hyperprior` for the hyperprior and context models of
Chapter 5, which refines ``y`` and ``z`` together against the model's whole rate, context included,
with Yang et al.'s annealed soft rounding (:func:`sga_round`). :class:`RefinedEncoder` picks the
one that fits the model; ``lic compress/eval --effort N`` runs it with ``N`` steps.
"""
from __future__ import annotations

import torch

from .codec import Codec, Header, pack
from .data import check_image, pad_to_multiple
from .entropy import quantize
from .learned_codec import LearnedCodec
from .models import LearnedModel
from .models.base import rate_distortion
from .models.minnen2018 import MeanScaleHyperprior


def refine_latents(model: LearnedModel, image: torch.Tensor, rate: int = 0, steps: int = 200,
                   lr: float = 1e-3, lmbda: float | None = None, seed: int = 0) -> torch.Tensor:
    """The latents to send for ``image`` (``[1, 3, H, W]`` in [0, 1]): ``g_a`` of the padded image,
    then ``steps`` Adam steps (``lr`` in units of the quantization bins) on this image's training loss at ``rate``, ``R + λ · 255² · MSE``
    (Zheng & Liang eq. 1; the MS-SSIM loss for a model trained on it). ``λ`` is the model's at
    ``rate``; a model with fewer λ than rates (Dumas et al. 2018) needs ``lmbda``.

    As in training with ``ste``: the rate is the ideal code length of the noisy latents ``y + u``,
    and the decoder sees ``y`` rounded around the coding tables' medians with a straight-through
    gradient; the distortion is measured on the unpadded image, the rate per unpadded pixel. Only
    the latents move; gradients are taken for them alone, and the model is left as it was. The
    noise comes from a generator seeded with ``seed``, so the result is reproducible.
    """
    if type(model).compress is not LearnedModel.compress:
        raise ValueError(f"{type(model).__name__} sends more than its factorized latents; "
                         "latent refinement needs a model whose stream is g_a's latents alone")
    rate = model.check_rate(rate)
    if lmbda is None:
        if len(model.lambdas) != model.rates:
            raise ValueError(f"{type(model).__name__} has {model.rates} rates but {len(model.lambdas)} λ: pass lmbda")
        lmbda = float(model.lambdas[rate])
    with torch.inference_mode(False):  # also when the caller is in inference mode
        image = image.float().clone()
        h, w = image.shape[-2:]
        x = pad_to_multiple(image[0], model.stride)[None].contiguous(memory_format=torch.channels_last)
        target = model.target(image)
        _, width = model.bins(rate)
        step = width if isinstance(width, float) else width.float().reshape(1, -1, 1, 1)
        medians = model.entropy.table_medians.reshape(1, -1, 1, 1)
        generator = torch.Generator(device=x.device).manual_seed(seed)
        with torch.no_grad():
            z = model.analysis(x, rate).float() / step  # the latents in units of their bins
        z.requires_grad_(True)
        optimizer = torch.optim.Adam([z], lr=lr)
        with torch.enable_grad():
            for _ in range(steps):
                noise = torch.rand(z.shape, generator=generator, device=z.device) - 0.5
                y_hat = quantize(z, "ste", medians / step) * step
                out = {"x_hat": model.synthesis(y_hat, rate)[..., :h, :w],
                       "likelihoods": {"y": model.entropy.likelihood((z + noise) * step, width)}}
                loss, _ = rate_distortion(out, target, float(lmbda), model.distortion)
                (z.grad,) = torch.autograd.grad(loss, [z])
                optimizer.step()
        return (z * step).detach()


def sga_round(v: torch.Tensor, tau: float, generator: torch.Generator) -> torch.Tensor:
    """Stochastic Gumbel annealing (Yang et al. 2020, Sec. 4.1): a soft, random rounding of ``v``.

    ``v`` goes down to ``⌊v⌋`` or up to ``⌊v⌋ + 1`` with logits ``-atanh(r) / τ`` and
    ``-atanh(1 - r) / τ`` (``r = v - ⌊v⌋``, the distance to each), relaxed with a Gumbel-softmax
    of temperature ``τ``: the result is ``⌊v⌋`` plus the soft weight of rounding up. As ``τ → 0``
    it becomes hard rounding to the nearer integer; at larger ``τ`` the gradient sees both sides.
    """
    floor = torch.floor(v)
    r = (v - floor).clamp(1e-6, 1 - 1e-6)
    logits = torch.stack([-torch.atanh(r), -torch.atanh(1 - r)], dim=-1) / tau
    uniform = torch.rand(logits.shape, generator=generator, device=v.device).clamp(1e-10, 1 - 1e-7)
    weights = torch.softmax((logits - torch.log(-torch.log(uniform))) / tau, dim=-1)
    return floor + weights[..., 1]


def refine_hyperprior(model: MeanScaleHyperprior, image: torch.Tensor, steps: int = 200, lr: float = 5e-3,
                      tau: tuple[float, float] = (0.5, 0.05), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y, z)`` to send for ``image`` (``[1, 3, H, W]`` in [0, 1]) with a hyperprior model (Chapter 5):
    ``g_a`` and ``h_a`` of the padded image, then ``steps`` Adam steps on this image's
    ``R_y + R_z + λ · 255² · MSE`` (the model's own loss: Minnen et al.'s ``R + λ D`` in CompressAI's
    units, λ on the MSE of 8-bit values; MS-SSIM for a model trained on it).

    Both latents are soft-rounded by :func:`sga_round` at a temperature annealed geometrically from
    ``tau[0]`` to ``tau[1]``: ``ẑ`` around the coding tables' medians, ``ŷ`` around the means that
    ``ψ = h_s(ẑ)`` and the context of ``y`` give. ``R_z`` is the factorized density's code length
    of ``ẑ``, ``R_y`` the Gaussian's of ``ŷ`` with the context model's ``μ``, ``σ``: the rate the
    stream will cost, not a noise proxy. The decoder is untouched: the real encoder then rounds the
    result as usual (:meth:`~lic.models.minnen2018.MeanScaleHyperprior.compress_latents`).
    ``lr`` is in units of the quantization bin; the noise comes from a generator seeded with ``seed``.
    """
    with torch.inference_mode(False):
        image = image.float().clone()
        h, w = image.shape[-2:]
        x = pad_to_multiple(image[0], model.stride)[None].contiguous(memory_format=torch.channels_last)
        target = model.target(image)
        medians = model.entropy.table_medians.reshape(1, -1, 1, 1)
        generator = torch.Generator(device=x.device).manual_seed(seed)
        with torch.no_grad():
            y = model.analysis(x).float()
            z = model.h_a(y)
        y.requires_grad_(True)
        z.requires_grad_(True)
        optimizer = torch.optim.Adam([y, z], lr=lr)
        with torch.enable_grad():
            for t in range(steps):
                temperature = tau[0] * (tau[1] / tau[0]) ** (t / max(steps - 1, 1))
                z_hat = medians + sga_round(z - medians, temperature, generator)
                psi = model.h_s(z_hat)
                means, scales = model.entropy_parameters(psi, model.context_features(y))
                y_hat = means + sga_round(y - means, temperature, generator)
                out = {"x_hat": model.g_s(model.decoder_input(y_hat, psi))[..., :h, :w],
                       "likelihoods": {"y": model.gaussian.likelihood(y_hat, means, scales),
                                       "z": model.entropy.likelihood(z_hat)}}
                loss, _ = rate_distortion(out, target, model.lmbda, model.distortion)
                y.grad, z.grad = torch.autograd.grad(loss, [y, z])
                optimizer.step()
        return y.detach(), z.detach()


class RefinedEncoder(Codec):
    """The streams of a learned ``codec``, written with :func:`refine_latents`:
    the same format, read by ``codec`` itself (:meth:`decompress` hands them to it), from a far
    slower encoder.

    A hyperprior model (Chapter 5) is refined by :func:`refine_hyperprior`, any other by
    :func:`refine_latents`; ``steps`` and ``lr`` (default: that function's) and ``lmbda`` (only
    :func:`refine_latents`: search every quality for this λ instead of its own) are theirs.
    ``steps = 0`` writes exactly what ``codec`` writes.
    """

    def __init__(self, codec: LearnedCodec, steps: int = 200, lr: float | None = None,
                 lmbda: float | None = None) -> None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"the refinement steps (effort) must be an integer >= 0, got {steps!r}")
        self.codec, self.steps, self.lr, self.lmbda = codec, steps, lr, lmbda
        self.name = f"{codec.name}+refined"
        self.qualities = codec.qualities
        self.description = f"{codec.description}, latents refined per image ({self.steps} Adam steps)"

    def check_quality(self, quality: int) -> int:
        return self.codec.check_quality(quality)

    def quality_range(self) -> tuple[int, int]:
        return self.codec.quality_range()

    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        check_image(image)
        if self.steps == 0:
            return self.codec.compress(image, quality)
        model, rate = self.codec.model(quality), self.codec.rate(quality)
        h, w = image.shape[-2:]
        options = {} if self.lr is None else {"lr": self.lr}
        if isinstance(model, MeanScaleHyperprior):
            if self.lmbda is not None:
                raise ValueError("a hyperprior model is refined at its own λ; lmbda is for refine_latents")
            y, z = refine_hyperprior(model, image[None], self.steps, **options)
            payload = model.compress_latents(y, z)
        else:
            y = refine_latents(model, image[None], rate, self.steps, lmbda=self.lmbda, **options)
            payload = model.entropy.compress(y, *model.bins(rate))[0]
        return pack(Header(self.codec.name, quality, h, w), payload)

    def decompress(self, data: bytes) -> torch.Tensor:
        return self.codec.decompress(data)
