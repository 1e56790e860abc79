"""What every learned model shares: the rate-distortion loss and the wrapper that makes a model a Codec."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from ..codec import BitstreamError, Codec, Header, pack, unpack
from ..data import check_image, crop_to, pad_to_multiple
from ..entropy import estimate_bits

#: The field's reference operating points (CompressAI / tensorflow-compression): quality q uses
#: ``LAMBDAS[q - 1]`` in ``loss = bpp + λ · 255² · MSE`` on images in [0, 1].
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932, 0.18)

REPOSITORY_ROOT = Path(__file__).resolve().parents[3]
CHECKPOINTS = REPOSITORY_ROOT / "checkpoints"
CONFIGS = REPOSITORY_ROOT / "configs"


def rate_distortion(out: Mapping, x: torch.Tensor, lmbda: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Ballé et al. 2017, eq. (2) with MSE distortion: ``L = R + λ · 255² · D``.

    ``R`` is the estimated rate in bits per pixel, ``−Σ log2 p(ŷ) / (B H W)``; ``D`` the MSE on
    images in [0, 1]. Computed in fp32 even under autocast.
    """
    b, _, h, w = x.shape
    bpp = estimate_bits(out["likelihoods"]).float() / (b * h * w)
    mse = torch.mean((out["x_hat"].float() - x.float()) ** 2)
    loss = bpp + lmbda * 255**2 * mse
    return loss, {"loss": loss.item(), "bpp": bpp.item(), "mse": mse.item(),
                  "psnr": (-10 * torch.log10(mse.detach().clamp_min(1e-10))).item()}


class LearnedCodec(Codec):
    """Wrap checkpoints of a model with ``compress(x) -> bytes`` / ``decompress(bytes, (H, W))``.

    ``stems`` maps each quality to a checkpoint stem under ``checkpoints/``; a model is loaded (and
    its sha256 checked) the first time its quality is used. Images are padded to a multiple of the
    model's total stride by edge replication and cropped back after decoding.

    The latents are decoded exactly (integer tables). The synthesis transform is floating point,
    and a convolution's summation order depends on the number of threads, which flips a few 8-bit
    values; so decoding always runs on one thread and gives the same image whatever the caller's
    thread setting. Bit-exact decoding across different CPU types would need integer arithmetic.
    """

    def __init__(self, stems: Mapping[int, str], multiple: int = 16, folder: Path = CHECKPOINTS) -> None:
        self.stems = dict(stems)
        self.qualities = tuple(sorted(self.stems))
        self.multiple = multiple
        self.folder = folder
        self._models: dict[int, nn.Module] = {}

    def quality_range(self) -> tuple[int, int]:
        return (min(self.qualities), max(self.qualities))

    def check_quality(self, quality: int) -> int:
        if quality not in self.stems:
            raise ValueError(f"codec {self.name!r}: quality must be one of {list(self.qualities)}, got {quality!r}")
        return int(quality)

    def model(self, quality: int) -> nn.Module:
        """The model for ``quality`` (loaded once, sha256-verified, in eval mode)."""
        from ..train import load_checkpoint

        quality = self.check_quality(quality)
        if quality not in self._models:
            self._models[quality] = load_checkpoint(self.folder / self.stems[quality])
        return self._models[quality]

    def model_kwargs(self, quality: int) -> dict:
        """Extra arguments a model's compress/decompress take for ``quality`` (none by default)."""
        return {}

    @torch.inference_mode()
    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        check_image(image)
        model = self.model(quality)
        h, w = image.shape[-2:]
        x = pad_to_multiple(image.float(), self.multiple)[None]
        payload = model.compress(x, **self.model_kwargs(quality))
        return pack(Header(self.name, quality, h, w), payload)

    @torch.inference_mode()
    def decompress(self, data: bytes) -> torch.Tensor:
        header, payload = unpack(data)
        if header.codec != self.name:
            raise BitstreamError(f"stream was written by codec {header.codec!r}, not {self.name!r}")
        if header.quality not in self.stems:
            raise BitstreamError(f"stream has quality {header.quality}, which {self.name!r} does not have")
        model = self.model(header.quality)
        shape = (-(-header.height // self.multiple) * self.multiple, -(-header.width // self.multiple) * self.multiple)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            x_hat = model.decompress(payload, shape, **self.model_kwargs(header.quality))
        finally:
            torch.set_num_threads(threads)
        return crop_to(x_hat[0].clamp(0, 1), header.height, header.width)
