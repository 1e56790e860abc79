"""What every learned model shares: the rate-distortion loss and the wrapper that makes a model a Codec."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
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

#: Decoding runs the synthesis transform on this many horizontal strips of the latents, a number
#: fixed in advance so that the decoded image cannot depend on how many threads there are.
DECODE_STRIPS = 2
#: Extra latent rows each strip carries across an inner edge. The synthesis transforms of the book
#: see less than 2 latent rows to either side (four 5×5 stride-2 layers: 1 + ½ + ¼ + ⅛), so 3
#: rows reproduce the whole-image result exactly, up to float rounding.
STRIP_MARGIN = 3


def synthesize(g_s: Callable[[torch.Tensor], torch.Tensor], y_hat: torch.Tensor, scale: int,
               workers: int = 1, strips: int = DECODE_STRIPS, margin: int = STRIP_MARGIN) -> torch.Tensor:
    """``g_s(y_hat)`` computed strip by strip, the strips in parallel on up to ``workers`` threads.

    ``scale`` is the synthesis' upsampling factor (the model's stride). Each strip of latent rows,
    widened by ``margin`` rows where it borders another strip, is synthesised by one thread with
    one intra-op thread, in ``channels_last`` layout (about 1.5× faster on CPU), and its
    widening is cropped from the output. Every strip is thus computed the same way whether
    ``workers`` is 1 or more, and the decoded image is identical for any thread count.
    """
    h = y_hat.shape[-2]
    bounds = [round(i * h / strips) for i in range(strips + 1)]
    spans = [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]

    def run(span: tuple[int, int]) -> torch.Tensor:
        torch.set_num_threads(1)  # per thread: a new thread starts with the default thread count
        a, b = span
        lo, hi = max(a - margin, 0), min(b + margin, h)
        part = y_hat[..., lo:hi, :].contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():  # per thread, like the thread count
            return g_s(part)[..., (a - lo) * scale:(b - lo) * scale, :]

    threads = torch.get_num_threads()
    try:
        if workers <= 1 or len(spans) == 1:
            parts = [run(span) for span in spans]
        else:
            with ThreadPoolExecutor(min(workers, len(spans))) as pool:
                parts = list(pool.map(run, spans))
    finally:
        torch.set_num_threads(threads)
    return torch.cat(parts, dim=-2).contiguous()


def training_psnr(mse: torch.Tensor) -> float:
    """PSNR in dB of an MSE on images in [0, 1], for training logs (floored at 1e-10)."""
    return (-10 * torch.log10(mse.detach().clamp_min(1e-10))).item()


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
                  "psnr": training_psnr(mse)}


class LearnedCodec(Codec):
    """Wrap checkpoints of a model with ``compress(x) -> bytes`` / ``decompress(bytes, (H, W))``.

    ``stems`` maps each quality to a checkpoint stem under ``checkpoints/``; a model is loaded (and
    its sha256 checked) the first time its quality is used. Images are padded to a multiple of the
    model's total stride by edge replication and cropped back after decoding.

    The latents are decoded exactly (integer tables). The synthesis transform is floating point,
    and a convolution's summation order depends on the number of threads, which flips a few 8-bit
    values; so decoding computes fixed strips of the image with one thread each (see
    :func:`synthesize`), in parallel on as many threads as the caller allows, and gives the same
    image whatever the caller's thread setting. Bit-exact decoding across different CPU types would
    need integer arithmetic. Models run in ``channels_last`` layout, which is faster on CPU.
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
            model = load_checkpoint(self.folder / self.stems[quality])
            self._models[quality] = model.to(memory_format=torch.channels_last)
        return self._models[quality]

    def model_kwargs(self, quality: int) -> dict:
        """Extra arguments a model's compress/decompress take for ``quality`` (none by default)."""
        return {}

    @torch.inference_mode()
    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        check_image(image)
        model = self.model(quality)
        h, w = image.shape[-2:]
        x = pad_to_multiple(image.float(), self.multiple)[None].contiguous(memory_format=torch.channels_last)
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
        x_hat = model.decompress(payload, shape, workers=torch.get_num_threads(), **self.model_kwargs(header.quality))
        return crop_to(x_hat[0].clamp(0, 1), header.height, header.width)
