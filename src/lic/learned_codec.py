"""A learned model's shipped checkpoints as a :class:`~lic.codec.Codec`: images in, bytes out.

The latents are decoded exactly (integer tables). The synthesis transform is floating point, and a
convolution's summation order depends on the number of threads, which flips a few 8-bit values;
so decoding computes fixed strips of the image with one thread each (see
:func:`lic.models.base.synthesize`), in parallel on as many threads as the caller allows, and gives
the same image whatever the caller's thread setting. Bit-exact decoding across different CPU types
would need integer arithmetic. Models run in ``channels_last`` layout, which is faster on CPU.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoints import load_checkpoint, weights_dir
from .codec import BitstreamError, Codec, Header, pack, unpack
from .data import check_image, crop_to, pad_to_multiple
from .models import LearnedModel
from .models.registry import CodecSpec


#: What a range coder's flush may save against a payload's ideal length (a generous 8 bytes).
PAYLOAD_SLACK_BITS = 64


class LearnedCodec(Codec):
    """The codec of a :class:`~lic.models.registry.CodecSpec`: quality ``q`` is the checkpoint
    ``spec.qualities[q][0]`` at the model's rate index ``spec.qualities[q][1]``.

    A checkpoint is loaded (and its sha256 checked) the first time one of its qualities is used,
    from ``folder`` (default :func:`lic.checkpoints.weights_dir`). Images are padded to a multiple
    of the model's stride by edge replication and cropped back after decoding.
    """

    def __init__(self, spec: CodecSpec, folder: Path | None = None, name: str = "") -> None:
        self.name = name  # the registry sets the registered name
        self.description = spec.description
        self.spec = dict(spec.qualities)
        self.qualities = tuple(sorted(self.spec))
        self.folder = folder
        self._models: dict[str, LearnedModel] = {}

    def quality_range(self) -> tuple[int, int]:
        return (min(self.qualities), max(self.qualities))

    def check_quality(self, quality: int) -> int:
        if quality not in self.spec:
            raise ValueError(f"codec {self.name!r}: quality must be one of {list(self.qualities)}, got {quality!r}")
        return int(quality)

    def model(self, quality: int) -> LearnedModel:
        """The model of ``quality`` (loaded once, sha256-verified, in eval mode, channels_last).

        Loaded outside inference mode even when :meth:`compress` asks first, so that its weights stay
        ordinary tensors that gradients can pass through later (:mod:`lic.latent_refinement`)."""
        stem, _ = self.spec[self.check_quality(quality)]
        if stem not in self._models:
            with torch.inference_mode(False):
                model = load_checkpoint((self.folder or weights_dir()) / stem)
                self._models[stem] = model.to(memory_format=torch.channels_last)
        return self._models[stem]

    def rate(self, quality: int) -> int:
        """The model's rate index for ``quality``."""
        return self.spec[self.check_quality(quality)][1]

    def padded_shape(self, quality: int, height: int, width: int) -> tuple[int, int]:
        """The image size the model codes: each side rounded up to a multiple of its stride."""
        m = self.model(quality).stride
        return -(-height // m) * m, -(-width // m) * m

    @torch.inference_mode()
    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        check_image(image)
        model = self.model(quality)
        h, w = image.shape[-2:]
        x = pad_to_multiple(image.float(), model.stride)[None].contiguous(memory_format=torch.channels_last)
        return pack(Header(self.name, quality, h, w), model.compress(x, self.rate(quality)))

    @torch.inference_mode()
    def decompress(self, data: bytes) -> torch.Tensor:
        header, payload = unpack(data)
        if header.codec != self.name:
            raise BitstreamError(f"stream was written by codec {header.codec!r}, not {self.name!r}")
        if header.quality not in self.spec:
            raise BitstreamError(f"stream has quality {header.quality}, which {self.name!r} does not have")
        model = self.model(header.quality)
        shape = self.padded_shape(header.quality, header.height, header.width)
        least = model.least_payload_bits(shape, self.rate(header.quality))
        if 8 * len(payload) + PAYLOAD_SLACK_BITS < least:
            raise BitstreamError(f"stream too short for its header: a {header.width}x{header.height} image needs at "
                                 f"least {least / 8:.0f} bytes of payload with this model, the stream has {len(payload)}")
        x_hat = model.decompress(payload, shape, self.rate(header.quality), workers=torch.get_num_threads())
        return crop_to(x_hat[0].clamp(0, 1), header.height, header.width)
