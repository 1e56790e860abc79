"""Chapter 6's codec (Ashok & Palani): tiles that each get as many codewords as they need, in a
stream that can be cut short.

The image is padded to a multiple of the model's tile size and cut into tiles. Quality ``q`` is a
**target PSNR in dB**: every tile gets codewords until its decoded 8-bit pixels reach ``q`` dB
against the input, or until it has the model's maximum (quality-flexible encoding). Busy tiles get
long codes, flat ones short codes. A tile also stops when its next codeword would not improve it,
so every codeword received raises the image's PSNR or leaves it unchanged. The stream is a
progressive container (:func:`lic.codec.pack_progressive`):

- index: the number of codewords of every tile, 4 bits each (two tiles per byte), in raster order;
- chunks: round ``r`` holds codeword ``r`` of every tile that has more than ``r`` codewords, as one
  entropy-coded string.

A stream cut after any round decodes to the image of the codewords received so far
(quality-progressive decoding); :meth:`ProgressiveCodec.truncate` makes such a prefix.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .checkpoints import load_checkpoint, weights_dir
from .codec import BitstreamError, Codec, Header, pack_progressive, unpack_progressive
from .data import check_image, crop_to, pad_to_multiple
from .models.ashok2019 import RecurrentAttentionCodec, tile, untile

MAX_CODEWORDS = 15  # per tile: the index stores each count in 4 bits


def _pack_counts(counts: list[int]) -> bytes:
    padded = counts + [0] * (len(counts) % 2)
    return bytes((a << 4) | b for a, b in zip(padded[::2], padded[1::2]))


def _unpack_counts(index: bytes, tiles: int) -> list[int]:
    if len(index) != (tiles + 1) // 2:
        raise BitstreamError(f"corrupt index: {len(index)} bytes for {tiles} tiles")
    counts = [v for byte in index for v in (byte >> 4, byte & 15)][:tiles]
    if any(c == 0 for c in counts):
        raise BitstreamError("corrupt index: a tile without codewords")
    return counts


class ProgressiveCodec(Codec):
    """The shipped checkpoint ``stem`` as a codec whose quality is a target PSNR (dB); registered
    as ``ashok2019`` in :mod:`lic.registry`."""

    qualities = (20, 23, 26, 29, 32)  # the default sweep: target PSNR in dB

    def __init__(self, stem: str = "ashok2019", folder: Path | None = None, name: str = "") -> None:
        self.stem, self.folder, self.name = stem, folder, name
        self._model: RecurrentAttentionCodec | None = None

    def quality_range(self) -> tuple[int, int]:
        return (1, 99)

    def model(self) -> RecurrentAttentionCodec:
        """The checkpoint's model (loaded once, sha256-verified, in eval mode)."""
        if self._model is None:
            model = load_checkpoint((self.folder or weights_dir()) / self.stem)
            if not isinstance(model, RecurrentAttentionCodec) or model.sessions > MAX_CODEWORDS:
                raise ValueError(f"{self.stem} is not a recurrent attention model of at most {MAX_CODEWORDS} codewords")
            self._model = model
        return self._model

    def _tiles(self, height: int, width: int) -> tuple[int, int, int]:
        size = self.model().size
        ph, pw = -(-height // size) * size, -(-width // size) * size
        return ph, pw, (ph // size) * (pw // size)

    @torch.inference_mode()
    def compress(self, image: torch.Tensor, quality: int) -> bytes:
        check_image(image)
        quality = self.check_quality(quality)
        model = self.model()
        h, w = image.shape[-2:]
        tiles = tile(pad_to_multiple(image.float(), model.size)[None], model.size)
        ph, pw, _ = self._tiles(h, w)
        valid = torch.zeros(1, 1, ph, pw)
        valid[..., :h, :w] = 1
        counts, rounds = model.compress_tiles(tiles, target_psnr=float(quality), valid=tile(valid, model.size))
        return pack_progressive(Header(self.name, quality, h, w), _pack_counts(counts), rounds)

    @torch.inference_mode()
    def decompress(self, data: bytes) -> torch.Tensor:
        header, index, rounds = unpack_progressive(data)
        if header.codec != self.name:
            raise BitstreamError(f"stream was written by codec {header.codec!r}, not {self.name!r}")
        ph, pw, n = self._tiles(header.height, header.width)
        counts = _unpack_counts(index, n)
        if len(rounds) > max(counts):
            raise BitstreamError(f"{len(rounds)} rounds for at most {max(counts)} codewords per tile")
        canvas = self.model().decompress_tiles(counts, rounds)
        image = crop_to(untile(canvas, ph, pw)[0], header.height, header.width).clamp(0, 1)
        return image.expand(3, -1, -1).contiguous() if image.shape[0] == 1 else image

    def rounds(self, data: bytes) -> tuple[int, int]:
        """``(held, written)``: the rounds that ``data`` holds, and how many its encoder wrote (the
        largest codeword count of a tile). Fewer held than written: the stream was cut short between
        rounds, and decodes to the coarser image of the rounds it holds."""
        header, index, chunks = unpack_progressive(data)
        return len(chunks), max(_unpack_counts(index, self._tiles(header.height, header.width)[2]))

    @staticmethod
    def truncate(data: bytes, rounds: int) -> bytes:
        """The prefix of a stream that holds its first ``rounds`` rounds (a coarser image)."""
        if rounds < 1:
            raise ValueError(f"a stream needs at least one round, got rounds={rounds}")
        header, index, chunks = unpack_progressive(data)
        return pack_progressive(header, index, chunks[:rounds])  # a prefix of ``data``
