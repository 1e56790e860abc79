"""Paka & Khatter, "Training Autoencoder for Image Compression": a plain convolutional autoencoder,
and the few changes that turn it into a real codec (Chapter 2).

The paper's layer table (its Figure 4), in Keras terms, for a 512x768 YCbCr input in [0, 1]::

    conv2d_1  3x3, 3 -> 32,    ReLU        896 parameters
    maxpool   2x2                          (256 x 384)
    conv2d_2  3x3, 32 -> 64,   ReLU     18 496
    maxpool   2x2                          (128 x 192)
    conv2d_3  3x3, 64 -> 128,  ReLU     73 856
    conv2d_4  3x3, 128 -> 128, ReLU    147 584   <- the bottleneck: 128 x 128 x 192
    upsample  2x                           (256 x 384)
    conv2d_5  3x3, 128 -> 64,  ReLU     73 792
    upsample  2x                           (512 x 768)
    conv2d_6  3x3, 64 -> 3              1 731
                                       -------
                                       316 355

The table does not say which activation the last layer has; we use a sigmoid, since the targets are
in [0, 1]. Training minimises the MSE between input and output (the paper's only loss): nothing in
the model limits the rate, and the bottleneck holds 128 * (H/4) * (W/4) = 8 H W numbers, more than
the 3 H W of the input.

**Where the colours are converted.** The paper converts every image to YCbCr (and scales it to
[0, 1]) before the network sees it. Here both models take and return **RGB** images in [0, 1], like
every codec of the book, and convert inside ``forward`` with :func:`rgb_to_ycbcr` /
:func:`ycbcr_to_rgb`: the JFIF (full-range BT.601) matrix of :mod:`lic.jpeg`, written in torch so
that gradients flow through it. The conversion has no parameters, so the count stays 316,355.

* :class:`PakaKhatterAE` is the paper's network, trained on the paper's loss: the MSE **in YCbCr**.
  Its ``forward`` returns the RGB reconstruction (``x_hat``) and the YCbCr tensors the loss uses.
* :class:`ConvAECodec` is the same six convolutions made into a codec: the bottleneck moves
  between ``conv2d_3`` and ``conv2d_4`` and shrinks from 128 to ``bottleneck`` channels (three
  convolutions on each side); the latent is quantized (uniform noise in training, rounding when
  coding, Ballé et al. 2017); a learned factorized density (:class:`lic.entropy.FactorizedDensity`)
  gives its rate; training minimises ``R + λ · 255² · MSE`` with the MSE in RGB, the book's quality
  measure (:func:`lic.models.base.rate_distortion`); ``compress`` writes real bytes with
  ``constriction`` and ``decompress`` reads them back (:class:`lic.models.base.LearnedModel`).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..entropy import FactorizedDensity
from ..jpeg.colour import CHROMA_OFFSET, RGB_TO_YCBCR, YCBCR_TO_RGB
from .base import LAMBDAS, LearnedModel, Rate, training_psnr
from .registry import CodecSpec, register_model

#: Chapter 2's codec: quality k is the shipped checkpoint ``conv-ae-q<k>`` (configs/conv-ae-q<k>.toml).
QUALITIES = (1, 2, 3, 4)

#: On values in [0, 1] JFIF's chroma offset 128 (of 255) becomes 128/255.
_CHROMA_OFFSET = CHROMA_OFFSET / 255


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` RGB in [0, 1] -> YCbCr in [0, 1] (JFIF), differentiable.

    The torch twin of :func:`lic.jpeg.rgb_to_ycbcr` (numpy, 8-bit, written for bit-exact JPEG),
    with the same numbers, :data:`lic.jpeg.colour.RGB_TO_YCBCR`.
    """
    m = torch.tensor(RGB_TO_YCBCR, dtype=x.dtype, device=x.device)
    offset = torch.tensor([0.0, _CHROMA_OFFSET, _CHROMA_OFFSET], dtype=x.dtype, device=x.device)
    return torch.einsum("ij,bjhw->bihw", m, x) + offset.reshape(1, 3, 1, 1)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """The inverse JFIF equations: ``[B, 3, H, W]`` YCbCr in [0, 1] -> RGB (not clamped)."""
    m = torch.tensor(YCBCR_TO_RGB, dtype=x.dtype, device=x.device)
    offset = torch.tensor([0.0, _CHROMA_OFFSET, _CHROMA_OFFSET], dtype=x.dtype, device=x.device)
    return torch.einsum("ij,bjhw->bihw", m, x - offset.reshape(1, 3, 1, 1))


def _conv(cin: int, cout: int) -> nn.Conv2d:
    """3x3 convolution, stride 1, 'same' padding (Keras ``Conv2D(cout, 3, padding="same")``)."""
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1)


@register_model("conv-ae-paper")
class PakaKhatterAE(nn.Module):
    """The paper's autoencoder, layer for layer (316,355 parameters with the default widths).

    ``encoder`` is conv2d_1 .. conv2d_4 (with the two max-pools), ``decoder`` the two upsamplings
    with conv2d_5 and conv2d_6. Input and output are RGB; the network itself sees YCbCr.
    """

    stride = 4

    def __init__(self, widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        a, b, c = widths
        self.encoder = nn.Sequential(
            _conv(3, a), nn.ReLU(), nn.MaxPool2d(2),
            _conv(a, b), nn.ReLU(), nn.MaxPool2d(2),
            _conv(b, c), nn.ReLU(),
            _conv(c, c), nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(c, b), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(b, 3), nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x``: RGB ``[B, 3, H, W]`` in [0, 1], H and W divisible by 4.

        Returns ``x_hat`` (RGB, not clamped), ``latent`` (the bottleneck, ``[B, 128, H/4, W/4]``),
        and ``ycc``/``ycc_hat``, the network's own input and output.
        """
        ycc = rgb_to_ycbcr(x)
        latent = self.encoder(ycc)
        ycc_hat = self.decoder(latent)
        return {"x_hat": ycbcr_to_rgb(ycc_hat), "latent": latent, "ycc": ycc, "ycc_hat": ycc_hat}

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The paper's loss: MSE between the YCbCr input and its reconstruction (no rate term).

        Logs that MSE and the RGB PSNR of the same batch.
        """
        out = self(x)
        mse = F.mse_loss(out["ycc_hat"].float(), out["ycc"].float())
        rgb_mse = torch.mean((out["x_hat"].float().clamp(0, 1) - x.float()) ** 2)
        return mse, {"mse": mse.item(), "psnr": training_psnr(rgb_mse)}


@register_model("conv-ae", codec=CodecSpec(
    "Paka & Khatter's conv autoencoder made a codec: small bottleneck + factorized prior (Chapter 2)",
    {q: (f"conv-ae-q{q}", 0) for q in QUALITIES}))
class ConvAECodec(LearnedModel):
    """The paper's six convolutions as a codec: a ``bottleneck``-channel latent at 1/4 resolution,
    quantized and entropy-coded with a learned factorized density, trained at ``lmbda``.

    ::

        g_a:  conv2d_1 3->32, ReLU, maxpool, conv2d_2 32->64, ReLU, maxpool, conv2d_3 64->bottleneck
        y = g_a(YCbCr(x));  ŷ = round(y - median) + median  (y + U(-½, ½) in training)
        g_s:  conv2d_4 bottleneck->128, ReLU, up 2x, conv2d_5 128->64, ReLU, up 2x, conv2d_6 64->3
        x̂ = RGB(g_s(ŷ))

    The latent has no ReLU (a ReLU would send half the values to one symbol and waste the other
    half of the quantizer), and the output no sigmoid (the codec clamps to [0, 1] after decoding).
    """

    stride = 4

    def __init__(self, bottleneck: int = 16, lmbda: float = LAMBDAS[2],
                 widths: tuple[int, int, int] = (32, 64, 128)) -> None:
        super().__init__()
        a, b, c = widths
        self.bottleneck, self.lmbda = int(bottleneck), float(lmbda)
        self.lambdas = (self.lmbda,)
        self.g_a = nn.Sequential(
            _conv(3, a), nn.ReLU(), nn.MaxPool2d(2),
            _conv(a, b), nn.ReLU(), nn.MaxPool2d(2),
            _conv(b, self.bottleneck),
        )
        self.g_s = nn.Sequential(
            _conv(self.bottleneck, c), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(c, b), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"), _conv(b, 3),
        )
        self.entropy = FactorizedDensity(self.bottleneck)

    def analysis(self, x: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        """``y = g_a(YCbCr(x))``."""
        return self.g_a(rgb_to_ycbcr(x))

    def synthesis(self, y_hat: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        """``x̂ = RGB(g_s(ŷ))`` (not clamped)."""
        return ycbcr_to_rgb(self.g_s(y_hat))
