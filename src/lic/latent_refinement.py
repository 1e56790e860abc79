"""Encoder-side latent refinement: a better encoder for a trained decoder, searched per image.

The analysis transform ``g_a`` is trained to give good latents on average over the training images
(amortized inference). For one image, gradient descent on the latents themselves can lower that
image's ``R + λD`` further, while the decoder, the entropy model and the bitstream stay as they
are: any decoder of the codec reads the result. Campos et al. 2019 ("Content adaptive optimization
for neural image compression") refine latents this way; Yang et al. 2020 ("Improving inference for
neural image compression") call what it recovers the amortization gap. Chapter 3 measures how much
of its gap to WebP lies there (``benchmarks/latent_refinement.py``).
"""
from __future__ import annotations

import torch

from .codec import Codec, Header, pack
from .data import check_image, pad_to_multiple
from .entropy import quantize
from .learned_codec import LearnedCodec
from .models import LearnedModel
from .models.base import rate_distortion


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


class RefinedEncoder(Codec):
    """The streams of a learned ``codec``, written with :func:`refine_latents`:
    the same format, read by ``codec`` itself (:meth:`decompress` hands them to it), from a far
    slower encoder.

    ``steps``, ``lr`` and ``lmbda`` are those of :func:`refine_latents` (``lmbda``: search every
    quality for this λ instead of its own); ``steps = 0`` writes exactly what ``codec`` writes.
    """

    def __init__(self, codec: LearnedCodec, steps: int = 200, lr: float = 1e-3, lmbda: float | None = None) -> None:
        self.codec, self.steps, self.lr, self.lmbda = codec, int(steps), float(lr), lmbda
        self.name = f"{codec.name}+refined"
        self.qualities = codec.qualities
        self.description = f"{codec.description}, latents refined per image ({self.steps} Adam steps)"

    def check_quality(self, quality: int) -> int:
        return self.codec.check_quality(quality)

    def quality_range(self) -> tuple[int, int]:
        return self.codec.quality_range()

    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        check_image(image)
        model, rate = self.codec.model(quality), self.codec.rate(quality)
        y = refine_latents(model, image[None], rate, self.steps, self.lr, self.lmbda)
        h, w = image.shape[-2:]
        return pack(Header(self.codec.name, quality, h, w), model.entropy.compress(y, *model.bins(rate))[0])

    def decompress(self, data: bytes) -> torch.Tensor:
        return self.codec.decompress(data)
