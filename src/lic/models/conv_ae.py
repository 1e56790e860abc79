"""Paka & Khatter, "Training Autoencoder for Image Compression": a plain convolutional autoencoder.

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
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1)


class PakaKhatterAE(nn.Module):
    """The paper's autoencoder, layer for layer (316,355 parameters with the default widths)."""

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
        """``x``: ``[B, 3, H, W]`` with H, W divisible by 4. Returns the reconstruction and the latent."""
        latent = self.encoder(x)
        return {"x_hat": self.decoder(latent), "latent": latent}

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The paper's loss: MSE between input and reconstruction (no rate term)."""
        mse = F.mse_loss(self(x)["x_hat"], x)
        return mse, {"mse": mse.item(), "psnr": (-10 * torch.log10(mse.detach())).item()}
