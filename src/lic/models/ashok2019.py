"""Ashok & Palani, "Autoencoders with variable sized latent vector for image compression" (CVPR
workshop CLIC 2018): a recurrent encoder that attends over the image with Cauchy glimpses, and a
code that grows one codeword at a time until the image is good enough.

The paper's pieces, with its equations next to the code:

- **Glimpse parameters** from the previous state, ``Ω_t = W_g h_{t-1}`` (:meth:`glimpse`), mapped to
  the grid centre, stride and kernel width (:func:`glimpse_geometry`)::

      x = (S - 1)(x̂ + 1)/2,  y = (S - 1)(ŷ + 1)/2,  δ = (S/N)(1 - |δ̂|),  γ = exp(1 - 2|δ̂|)

- **An N×N grid of Cauchy kernels** at ``μ_X^i = x + (i - (N + 1)/2) δ`` (and ``μ_Y^j`` likewise),
  normalised filterbanks ``F_X[i, a] ∝ 1 / (πγ [1 + ((a - μ_X^i)/γ)²])`` with ``Σ_a F_X[i, a] = 1``
  (:func:`cauchy_filterbank`), and the glimpse ``F_Y I F_Xᵀ`` per colour channel
  (:func:`attend`). The paper prints ``attend(I, Ω_t) = F_Y F_Xᵀ``, which omits the image ``I``.
- **An RNN controller** that takes ``n`` glimpses per session; the state after a session is the
  codeword ``c``, and the code grows as ``L_t = [L_{t-1}, c]`` (:meth:`session`). We use a GRU (the
  paper does not say which RNN): it has one state vector, which *is* the codeword, where an LSTM
  would also carry a cell state that the codeword leaves out.
- **A transposed-convolution decoder** that adds each codeword's image to the canvas,
  ``reconstructed_t = reconstructed_{t-1} + W_upconv(L[t])`` (:meth:`decode_codeword`).

What the paper leaves open, and what we chose:

- **What the glimpses read.** The paper says the reconstruction "is compared to the original input
  image and the error is found out". As in DRAW (Gregor et al. 2015), which the attention comes
  from, every glimpse reads both the image and the current error ``I - reconstructed``: the encoder
  sees what the decoder already has, and each codeword can encode what is still missing.
- **Bits.** The paper never says how a codeword becomes bits. The state (in (-1, 1), a GRU's
  ``tanh``) is scaled by a learned gain per dimension, rounded, and entropy-coded with the
  library's factorized density; training uses the additive-noise proxy and the loss
  ``R + λ · 255² · D``, with ``D`` the mean squared error averaged over the sessions, so every
  prefix of the code is trained to be a good image.
- **Images.** ``channels = 3`` codes RGB tiles of ``size``²; ``channels = 1`` codes the luminance
  (MNIST), and reconstructs a grey image.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..codec import BitstreamError
from ..data import luminance
from ..entropy import FactorizedDensity, estimate_bits
from .base import LAMBDAS, one_thread, training_psnr
from .registry import register_model

#: Bounded memory: the encoder codes at most this many tiles at a time (a 4-Mpx image of 32-pixel
#: tiles in one piece) and the decoder updates its canvases in the same batches, so that both
#: compute the same canvases whatever the image's size.
TILE_BATCH = 4096


def glimpse_geometry(omega: torch.Tensor, size: int, grid: int) -> tuple[torch.Tensor, ...]:
    """``(x, y, δ, γ)`` from ``Ω = (x̂, ŷ, δ̂)`` ``[B, 3]``: the paper's equations, as written.

    They assume ``x̂, ŷ, δ̂`` in [-1, 1] (the grid inside the tile, a stride between 0 and S/N);
    :meth:`RecurrentAttentionCodec.glimpse` keeps them there with ``tanh``."""
    x_hat, y_hat, d_hat = omega.unbind(-1)
    x = (size - 1) * (x_hat + 1) / 2
    y = (size - 1) * (y_hat + 1) / 2
    delta = size / grid * (1 - d_hat.abs())
    gamma = torch.exp(1 - 2 * d_hat.abs())
    return x, y, delta, gamma


def kernel_centres(centre: torch.Tensor, delta: torch.Tensor, grid: int) -> torch.Tensor:
    """``μ^i = centre + (i - (N + 1)/2) δ`` for ``i = 1 .. N``: ``[B, N]``."""
    i = torch.arange(1, grid + 1, dtype=centre.dtype, device=centre.device)
    return centre[:, None] + (i - (grid + 1) / 2) * delta[:, None]


def cauchy_filterbank(mu: torch.Tensor, gamma: torch.Tensor, size: int) -> torch.Tensor:
    """``F[i, a] = {πγ [1 + ((a - μ^i)/γ)²]}⁻¹ / Z`` for pixels ``a = 0 .. size-1``: ``[B, N, size]``,
    each row summing to 1 (the constant ``Z``)."""
    a = torch.arange(size, dtype=mu.dtype, device=mu.device)
    g = gamma[:, None, None]
    kernel = 1 / (math.pi * g * (1 + ((a - mu[:, :, None]) / g) ** 2))
    return kernel / kernel.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def attend(image: torch.Tensor, omega: torch.Tensor, grid: int) -> torch.Tensor:
    """The glimpse ``F_Y I F_Xᵀ`` of every channel of ``image`` ``[B, C, S, S]``: ``[B, C, N, N]``
    (the geometry and the filterbanks in at least float32, also under autocast)."""
    size = image.shape[-1]
    x, y, delta, gamma = glimpse_geometry(omega.to(torch.promote_types(omega.dtype, torch.float32)), size, grid)
    f_x = cauchy_filterbank(kernel_centres(x, delta, grid), gamma, size)
    f_y = cauchy_filterbank(kernel_centres(y, delta, grid), gamma, size)
    return f_y[:, None] @ image @ f_x[:, None].transpose(-1, -2)


class UpconvDecoder(nn.Module):
    """``W_upconv``: a codeword -> an image update of ``channels × size × size`` (two 2× upsamplings)."""

    def __init__(self, code: int, channels: int, size: int, width: int = 64) -> None:
        super().__init__()
        if size % 4:
            raise ValueError(f"the tile size must be a multiple of 4, got {size}")
        self.width, self.start = width, size // 4
        self.project = nn.Linear(code, width * self.start**2)
        self.up = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1), nn.ReLU(),
                                nn.ConvTranspose2d(width // 2, channels, 4, stride=2, padding=1))
        with torch.no_grad():  # small first updates: the canvas starts empty and fills in
            self.up[-1].weight.mul_(0.1)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(code).reshape(-1, self.width, self.start, self.start))


@register_model("ashok2019")
class RecurrentAttentionCodec(nn.Module):
    """Tiles of ``size``² with ``channels`` 1 (luminance) or 3 (RGB); a ``grid``² glimpse, ``glimpses``
    per session, a GRU state (= codeword) of ``code`` numbers, ``sessions`` codewords in training,
    trained at ``lmbda``."""

    def __init__(self, size: int = 32, channels: int = 3, grid: int = 8, glimpses: int = 4, code: int = 32,
                 sessions: int = 8, lmbda: float = LAMBDAS[2], init_gain: float = 4.0) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (luminance) or 3 (RGB), got {channels}")
        self.size, self.channels, self.grid, self.glimpses = size, channels, grid, glimpses
        self.code, self.sessions, self.lmbda = code, sessions, float(lmbda)
        self.lambdas = (self.lmbda,)
        self.glimpse_params = nn.Linear(code, 3)          # W_g
        nn.init.zeros_(self.glimpse_params.weight)        # the first glimpse sees (almost) the whole tile;
        with torch.no_grad():                             # δ̂ ≠ 0, since |δ̂| has no gradient at 0
            self.glimpse_params.bias.copy_(torch.tensor([0.0, 0.0, 0.1]))
        self.controller = nn.GRUCell(2 * channels * grid * grid, code)
        self.log_gain = nn.Parameter(torch.full((code,), math.log(init_gain)))
        self.decoder = UpconvDecoder(code, channels, size)
        self.entropy = FactorizedDensity(code)

    # -- the paper's pieces ---------------------------------------------------------------------
    def target(self, x: torch.Tensor) -> torch.Tensor:
        """What the codec reconstructs: RGB tiles, or their luminance (``channels = 1``)."""
        return luminance(x) if self.channels == 1 else x

    def omega(self, h: torch.Tensor) -> torch.Tensor:
        """The glimpse parameters ``Ω_t = tanh(W_g h_{t-1})``.

        The paper writes ``Ω_t = W_g h_{t-1}`` and maps it with equations that assume values in
        [-1, 1]; like the attentive recurrent comparators whose attention it uses, we squash with
        ``tanh`` (without it the grid can leave the tile and ``γ`` underflow to 0)."""
        return torch.tanh(self.glimpse_params(h))

    def glimpse(self, x: torch.Tensor, error: torch.Tensor, omega: torch.Tensor) -> torch.Tensor:
        """One glimpse of the tile and of the current error at ``Ω``, flattened."""
        return torch.cat([attend(x, omega, self.grid), attend(error, omega, self.grid)], dim=1).flatten(1)

    def session(self, x: torch.Tensor, canvas: torch.Tensor, h: torch.Tensor,
                where: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``n`` glimpses, each updating the RNN state; the state afterwards is the next codeword.
        ``where`` (optional) collects each glimpse's geometry ``(x, y, δ, γ)`` ``[B, 4]``."""
        error = x - canvas
        for _ in range(self.glimpses):
            omega = self.omega(h)
            if where is not None:
                where.append(torch.stack(glimpse_geometry(omega, self.size, self.grid), dim=-1))
            h = self.controller(self.glimpse(x, error, omega), h)
        return h

    def to_latent(self, h: torch.Tensor) -> torch.Tensor:
        """The codeword on the quantizer's grid: ``c · exp(s)``, shaped ``[B, code, 1, 1]``."""
        return (h * torch.exp(self.log_gain))[:, :, None, None]

    def decode_codeword(self, latent: torch.Tensor) -> torch.Tensor:
        """``W_upconv(L[t])``: the update one (quantized) codeword adds to the canvas."""
        return self.decoder(latent.flatten(1))

    # -- training -------------------------------------------------------------------------------
    @property
    def stride(self) -> int:
        """Images are coded in tiles: their sides must be multiples of the tile size."""
        return self.size

    def forward(self, x: torch.Tensor, sessions: int | None = None) -> dict:
        """Code images ``x`` ``[B, C_in, H, W]`` in [0, 1] (sides multiples of ``size``), tile by
        tile, with ``sessions`` codewords per tile; noisy codewords when training, rounded ones in
        eval mode. Returns the image after every session and the likelihoods of every codeword
        (``[tiles, codewords · code, 1, 1]``)."""
        target = self.target(x)
        height, width = target.shape[-2:]
        tiles = tile(target, self.size)
        h = tiles.new_zeros(len(tiles), self.code)
        canvas = torch.zeros_like(tiles)
        canvases, likelihoods = [], []
        for _ in range(sessions or self.sessions):
            h = self.session(tiles, canvas, h)
            latent, p = self.entropy(self.to_latent(h), training=self.training)
            canvas = canvas + self.decode_codeword(latent)
            canvases.append(untile(canvas, height, width))
            likelihoods.append(p)
        return {"canvases": canvases, "x_hat": canvases[-1], "likelihoods": {"y": torch.cat(likelihoods, dim=1)}}

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """``R + λ · 255² · D`` with ``R`` the bits of all codewords per pixel and ``D`` the MSE
        averaged over the sessions (every prefix of the code should give a good image)."""
        out = self(x)
        target = self.target(x)
        bpp = estimate_bits(out["likelihoods"]) / target[:, 0].numel()
        mses = torch.stack([F.mse_loss(c, target) for c in out["canvases"]])
        loss = bpp + self.lmbda * 255**2 * mses.mean()
        return loss, {"loss": loss.item(), "bpp": bpp.item(), "mse": mses[-1].item(),
                      "mean_mse": mses.mean().item(), "psnr": training_psnr(mses[-1])}

    @torch.no_grad()
    def attention_trace(self, x: torch.Tensor, sessions: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Where every glimpse looked, and the canvas after every codeword, for tiles ``x``
        ``[B, C_in, S, S]`` (eval mode, rounded codewords): the glimpse geometry ``(x, y, δ, γ)``
        ``[sessions, glimpses, B, 4]`` and the canvases ``[sessions, B, C, S, S]``."""
        target = self.target(x)
        h = target.new_zeros(len(target), self.code)
        canvas = torch.zeros_like(target)
        where, canvases = [], []
        for _ in range(sessions or self.sessions):
            looks: list[torch.Tensor] = []
            h = self.session(target, canvas, h, looks)
            latent, _ = self.entropy(self.to_latent(h), training=False)
            canvas = canvas + self.decode_codeword(latent)
            where.append(torch.stack(looks))
            canvases.append(canvas)
        return torch.stack(where), torch.stack(canvases)

    @torch.no_grad()
    def update(self) -> None:
        """Build the integer coding tables of the codewords (after training, before saving)."""
        self.entropy.update()

    # -- coding: rounds of codewords ------------------------------------------------------------
    def _update(self, latent: torch.Tensor) -> torch.Tensor:
        """``W_upconv(latent)`` on one thread, so that encoder and decoder (which decode the same
        tiles of a round in the same order) compute bit-identical canvases."""
        with one_thread():
            return self.decode_codeword(latent)

    @torch.no_grad()
    def compress_tiles(self, x: torch.Tensor, target_psnr: float | None = None, codewords: int | None = None,
                       valid: torch.Tensor | None = None) -> tuple[list[int], list[bytes]]:
        """Code tiles ``x`` ``[n, C_in, S, S]`` codeword by codeword: ``(counts, rounds)``.

        Round ``r`` is one entropy-coded string holding codeword ``r`` of every tile that is still
        coding, in tile order, coded byte-granularly (:mod:`lic.entropy.short_strings`): a round
        of one tile holds only a few dozen bits. ``counts[i]`` is tile ``i``'s number of codewords.
        A tile stops

        - after ``codewords`` (default: the trained ``sessions``);
        - with ``target_psnr``, as soon as its decoded canvas reaches that PSNR (quality-flexible
          encoding: each tile gets its own code length);
        - as soon as its next codeword would not lower its error. Nothing in the model forces a
          codeword to improve the canvas, so the encoder checks: decoding more rounds of a stream
          never lowers the PSNR of any tile, nor of the image.

        Tiles are coded in batches of :data:`TILE_BATCH` (bounded memory); a round's string holds
        the codewords of every batch. The encoder decodes each round as the decoder will, so the
        glimpses read the error the decoder really has. A tile's error is measured as :func:`lic.metrics.psnr` measures the
        decoded image: its 8-bit values (a grey canvas on every channel) against the input ``x``,
        exactly, in integers, over the pixels where ``valid`` ``[n, 1, S, S]`` is 1: the image's own
        pixels, not the padding of tiles that cross its border (default: every pixel).
        """
        limit = codewords or self.sessions
        valid = torch.ones_like(x[:, :1]) if valid is None else valid
        counts, latents = [], []  # per batch: its tiles' counts, and its codewords of each round
        for start in range(0, len(x), TILE_BATCH):
            batch = slice(start, start + TILE_BATCH)
            batch_counts, batch_latents = self._code_batch(x[batch], valid[batch], limit, target_psnr)
            counts += batch_counts.tolist()
            latents.append(batch_latents)
        rounds = []
        for r in range(max(len(b) for b in latents) if latents else 0):  # each round: all its tiles, in tile order
            latent = torch.cat([b[r] for b in latents if len(b) > r], dim=2)
            rounds.append(self.entropy.compress(latent, short=True)[0])
        return counts, rounds

    def _code_batch(self, x: torch.Tensor, valid: torch.Tensor, limit: int,
                    target_psnr: float | None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """:meth:`compress_tiles` for one batch of tiles: their counts, and for each round the
        codewords ``[1, code, k, 1]`` of its tiles that code in it (before rounding)."""
        target = self.target(x)
        n = len(x)
        pixels = (valid.flatten(1).sum(dim=1) * x.shape[1]).double().clamp_min(1)
        x8 = x.float().clamp(0, 1).mul(255).round().double()

        def error(canvas: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
            """Per-tile MSE on the 0-255 scale, as the decoded 8-bit image will have it."""
            decoded8 = canvas.clamp(0, 1).mul(255).round().double()
            return ((decoded8 - x8[which]).pow(2) * valid[which]).flatten(1).sum(dim=1) / pixels[which]

        h, canvas = target.new_zeros(n, self.code), torch.zeros_like(target)
        mse = error(canvas, torch.ones(n, dtype=torch.bool))
        counts = torch.zeros(n, dtype=torch.long)
        active = torch.ones(n, dtype=torch.bool)
        rounds = []
        for r in range(limit):
            if not active.any():
                break
            h[active] = self.session(target[active], canvas[active], h[active])
            codewords_now = self.to_latent(h[active]).float().permute(2, 1, 0, 3)  # [1, code, k, 1]
            keep = torch.ones(codewords_now.shape[2], dtype=torch.bool)
            while True:  # drop the tiles whose codeword would not lower their error (none in round 0)
                latent = codewords_now[:, :, keep]
                string = self.entropy.compress(latent, short=True)[0]
                decoded = self.entropy.decompress([string], latent.shape[2:], short=True)  # the decoder's codewords
                update = self._update(decoded.permute(2, 1, 0, 3))
                chosen = active.clone()
                chosen[active] = keep
                if r == 0:
                    break
                better = error(canvas[chosen] + update, chosen) < mse[chosen]
                if better.all():
                    break
                keep[keep.clone()] = better
                if not keep.any():
                    break
            if not keep.any():
                break
            active = chosen
            canvas[active] += update
            counts[active] += 1
            rounds.append(latent)
            mse[active] = error(canvas[active], active)
            if target_psnr is not None:
                active &= 10 * torch.log10(255**2 / mse.clamp_min(1e-12)) < target_psnr
        return counts, rounds

    def _decoded_rounds(self, counts: list[int], rounds: list[bytes]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """For each round: the mask of the tiles it codes, and their decoded codewords ``[1, code, k, 1]``."""
        counts_t = torch.tensor(counts, dtype=torch.long)
        for r, string in enumerate(rounds):
            active = counts_t > r
            k = int(active.sum())
            if k == 0:
                raise BitstreamError(f"round {r} has no tile left to code")
            yield active, self.entropy.decompress([string], (k, 1), short=True)

    @torch.no_grad()
    def decompress_tiles(self, counts: list[int], rounds: list[bytes]) -> torch.Tensor:
        """The canvases ``[n, C, S, S]`` of ``len(counts)`` tiles from the first ``len(rounds)``
        rounds (a stream cut after any round gives a coarser image: quality-progressive decoding)."""
        canvas = torch.zeros(len(counts), self.channels, self.size, self.size)
        for active, decoded in self._decoded_rounds(counts, rounds):
            coding = torch.nonzero(active).flatten()
            for start in range(0, len(counts), TILE_BATCH):  # the encoder's batches: the same arithmetic
                lo, hi = (int(i) for i in torch.searchsorted(coding, torch.tensor([start, start + TILE_BATCH])))
                if hi > lo:
                    canvas[coding[lo:hi]] += self._update(decoded[:, :, lo:hi].permute(2, 1, 0, 3))
        return canvas

    @torch.no_grad()
    def estimated_bits(self, counts: list[int], rounds: list[bytes]) -> list[float]:
        """The entropy model's estimate ``-Σ log2 p(ĉ)`` of each round's codewords, read back from the
        rounds: what the rounds' bytes should hold (a tile stopped early adds no estimate)."""
        return [float(estimate_bits(self.entropy.likelihood(decoded)))
                for _, decoded in self._decoded_rounds(counts, rounds)]


def tile(images: torch.Tensor, size: int) -> torch.Tensor:
    """Cut ``[B, C, H, W]`` images (sides multiples of ``size``) into ``[B · H/size · W/size, C, size, size]``
    tiles, row by row."""
    b, c, h, w = images.shape
    if h % size or w % size:
        raise ValueError(f"image sides {h}x{w} are not multiples of the tile size {size}")
    t = images.reshape(b, c, h // size, size, w // size, size).permute(0, 2, 4, 1, 3, 5)
    return t.reshape(-1, c, size, size)


def untile(tiles: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The inverse of :func:`tile` for images of ``height × width`` (multiples of the tile size)."""
    n, c, size, _ = tiles.shape
    rows, cols = height // size, width // size
    t = tiles.reshape(-1, rows, cols, c, size, size).permute(0, 3, 1, 4, 2, 5)
    return t.reshape(-1, c, height, width)
