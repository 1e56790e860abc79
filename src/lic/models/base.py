"""The contract of every learned codec in the book: transforms around a factorized entropy model.

A model file only writes the paper's transforms::

    class MyModel(LearnedModel):
        stride = 16                                   # total downsampling of the analysis
        def analysis(self, x, rate): ...              # y = g_a(x)
        def synthesis(self, y_hat, rate): ...         # x̂ = g_s(ŷ)

and sets ``self.lambdas`` (the λ of each rate it trains) and ``self.entropy``. Everything else
is here, once: the forward pass with the quantization proxy, the rate-distortion loss summed over
the model's rates, the coding tables, ``compress``/``decompress`` of one padded image, the rate
estimate of exactly what ``compress`` sends, and strip-parallel synthesis. A variable-rate model
takes its rate index through the same ``rate`` argument that a single-rate model ignores. A model
whose rates differ only in the quantizer (Dumas et al. 2018) overrides :meth:`bins`, and one that
reconstructs something other than the RGB image (luminance) overrides :meth:`target`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytorch_msssim
import torch
from torch import nn

from ..entropy import FactorizedDensity, TableCoder, estimate_bits
from ..entropy.factorized import Width

#: The field's reference operating points (CompressAI / tensorflow-compression): quality q uses
#: ``LAMBDAS[q - 1]`` in ``loss = bpp + λ · 255² · MSE`` on images in [0, 1] (= bpp + λ · MSE on
#: 8-bit values).
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483, 0.0932, 0.18)

#: Decoding runs the synthesis transform on at least this many horizontal strips of the latents, a
#: number fixed by the image's size alone, so that the decoded image cannot depend on how many
#: threads there are.
DECODE_STRIPS = 2
#: Extra latent rows each strip carries across an inner edge. The synthesis transforms of the book
#: see less than 2 latent rows to either side (four 5×5 stride-2 layers: 1 + ½ + ¼ + ⅛), so 3
#: rows reproduce the whole-image result exactly, up to float rounding.
STRIP_MARGIN = 3
#: Bounded memory: an image of more pixels than this is analysed, and synthesised, in horizontal
#: strips of at most about this many pixels each, so that a transform's activations never hold more
#: than one strip per thread (a 24-Mpx photo would otherwise take up to 12 GB). Smaller images are
#: analysed whole and synthesised in ``DECODE_STRIPS`` strips, exactly as before strips existed.
STRIP_PIXELS = 2**20

Rate = int | torch.Tensor


def strip_spans(rows: int, pixels: int, minimum: int = 1) -> list[tuple[int, int]]:
    """Split ``rows`` latent rows of an image of ``pixels`` pixels into contiguous, near-equal spans:
    ``minimum`` of them, or more where the image exceeds :data:`STRIP_PIXELS` per span."""
    strips = min(rows, max(minimum, -(-pixels // STRIP_PIXELS)))
    bounds = [round(i * rows / strips) for i in range(strips + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def analyze(g_a: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, stride: int,
            margin: int = STRIP_MARGIN) -> torch.Tensor:
    """``g_a(x)``, in horizontal strips when ``x`` has more than :data:`STRIP_PIXELS` pixels.

    ``stride`` is the model's total downsampling; ``g_a`` may stop on any finer grid (the local part
    of an analysis whose last step is global, :meth:`LearnedModel.analysis_parts`). Each strip of
    ``stride``-pixel rows is widened by ``margin`` such rows where it borders another, and the
    widening is cropped from its output: the result is the whole-image one up to float rounding,
    which only moves the encoder's choices, never what a decoder reads.
    """
    rows, (height, width) = x.shape[-2] // stride, x.shape[-2:]
    spans = strip_spans(rows, height * width)
    if len(spans) == 1:
        return g_a(x)
    parts = []
    for a, b in spans:
        lo, hi = max(a - margin, 0), min(b + margin, rows)
        out = g_a(x[..., lo * stride:hi * stride, :].contiguous(memory_format=torch.channels_last))
        k = out.shape[-2] // (hi - lo)  # output rows per latent row (1 on the latent grid)
        parts.append(out[..., (a - lo) * k:(b - lo) * k, :])
    return torch.cat(parts, dim=-2)


def synthesize(g_s: Callable[[torch.Tensor], torch.Tensor], y_hat: torch.Tensor, scale: int,
               workers: int = 1, strips: int = DECODE_STRIPS, margin: int = STRIP_MARGIN) -> torch.Tensor:
    """``g_s(y_hat)`` computed strip by strip, the strips in parallel on up to ``workers`` threads.

    ``scale`` is the synthesis' upsampling factor (the model's stride). The latent rows are split
    into ``strips`` strips, or more for an image above :data:`STRIP_PIXELS` (bounded memory; the
    number depends on the image's size alone). Each strip, widened by ``margin`` rows where it
    borders another strip, is synthesised by one thread with one intra-op thread, in
    ``channels_last`` layout (about 1.5× faster on CPU), and its widening is cropped from the
    output. Every strip is thus computed the same way whether ``workers`` is 1 or more, and the
    decoded image is identical for any thread count.
    """
    h, w = y_hat.shape[-2:]
    spans = strip_spans(h, h * w * scale**2, minimum=strips)

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


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one intra-op thread (then restore the caller's thread count): what encoder
    and decoder must compute alike, bit for bit, whatever thread count the caller set."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def has_coding_tables(model: nn.Module) -> bool:
    """Whether ``model`` codes real bits through integer tables that its ``update()`` builds: every
    codec model of the book (not the paper-faithful autoencoder of Chapter 2)."""
    return isinstance(getattr(model, "entropy", None), TableCoder)


def training_psnr(mse: torch.Tensor) -> float:
    """PSNR in dB of an MSE on images in [0, 1], for training logs (floored at 1e-10)."""
    return (-10 * torch.log10(mse.detach().clamp_min(1e-10))).item()


#: The distortions a model can be trained on (its ``distortion`` attribute).
DISTORTIONS = ("mse", "ms-ssim")


def rate_distortion(out: Mapping, x: torch.Tensor, lmbda: float,
                    distortion: str = "mse") -> tuple[torch.Tensor, dict[str, float]]:
    """The rate–distortion loss ``R + λ D`` of Ballé et al. 2017, in CompressAI's units:
    ``L = R + λ · 255² · MSE`` on images in [0, 1] (λ weighs the MSE of 8-bit values; the 255² is
    CompressAI's convention), or ``R + λ · (1 - MS-SSIM)``.

    ``R`` is the estimated rate in bits per pixel, ``−Σ log2 p(ŷ) / (B H W)``; the MSE and MS-SSIM
    are measured on images in [0, 1] (MS-SSIM: ``pytorch_msssim``, 5 scales, so sides above 160
    pixels; λ then on CompressAI's MS-SSIM scale, 2.4 … 220). Computed in fp32 even under autocast.
    """
    if distortion not in DISTORTIONS:
        raise ValueError(f"distortion must be one of {DISTORTIONS}, got {distortion!r}")
    b, _, h, w = x.shape
    bpp = estimate_bits(out["likelihoods"]).float() / (b * h * w)
    mse = torch.mean((out["x_hat"].float() - x.float()) ** 2)
    logs = {"bpp": bpp.item(), "mse": mse.item(), "psnr": training_psnr(mse)}
    if distortion == "mse":
        loss = bpp + lmbda * 255**2 * mse
    else:
        ms_ssim = pytorch_msssim.ms_ssim(out["x_hat"].float().clamp(0, 1), x.float(), data_range=1.0)
        loss = bpp + lmbda * (1 - ms_ssim)
        logs["ms_ssim"] = ms_ssim.item()
    return loss, {"loss": loss.item(), **logs}


class LearnedModel(nn.Module):
    """Analysis and synthesis transforms around a :class:`~lic.entropy.FactorizedDensity`.

    Subclasses set ``stride``, ``lambdas`` (a sequence, or a buffer, of one λ per rate index) and
    ``entropy``, and define :meth:`analysis` and :meth:`synthesis`. ``ste`` (training only): the
    decoder sees rounded latents with a straight-through gradient, the rate the noisy ones.
    """

    stride: int = 16
    ste: bool = False
    distortion: str = "mse"  # or "ms-ssim" (see rate_distortion)
    #: submodules whose weights a shipped checkpoint stores in 8 bits (:func:`lic.checkpoints.export_weights`):
    #: the entropy model's networks, whose precision matters less than the transforms' (measured in Chapter 5)
    int8_modules: tuple[str, ...] = ()
    lambdas: tuple[float, ...]
    entropy: FactorizedDensity

    def analysis(self, x: torch.Tensor, rate: Rate) -> torch.Tensor:
        """``y = g_a(x)`` for images ``x`` in [0, 1] at rate index ``rate``."""
        raise NotImplementedError

    def synthesis(self, y_hat: torch.Tensor, rate: Rate) -> torch.Tensor:
        """``x̂ = g_s(ŷ)`` at rate index ``rate`` (not clamped)."""
        raise NotImplementedError

    @property
    def rates(self) -> int:
        """How many rates the model serves (one per λ unless :meth:`bins` says otherwise); rate
        indices are ``0 .. rates - 1``."""
        return len(self.lambdas)

    def bins(self, rate: Rate) -> tuple[int, Width]:
        """The coding-table set and the quantization bin width(s) at ``rate``: unit bins and one
        table set for every rate, unless the model scales its quantizer (Dumas et al. 2018)."""
        return 0, 1.0

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """What the synthesis reconstructs of images ``x``: the images themselves."""
        return x

    def check_rate(self, rate: int) -> int:
        """``rate`` as an int, or ``ValueError`` naming the valid indices."""
        if int(rate) != rate or not 0 <= rate < self.rates:
            raise ValueError(f"{type(self).__name__}: rate index must be in 0..{self.rates - 1}, got {rate!r}")
        return int(rate)

    def forward(self, x: torch.Tensor, rate: Rate = 0) -> dict:
        """Noisy latents in training mode, rounded ones in eval mode; likelihoods for the rate."""
        y = self.analysis(x, rate).float()
        y_hat, likelihoods = self.entropy(y, training=self.training, ste=self.ste, width=self.bins(rate)[1])
        return {"x_hat": self.synthesis(y_hat.to(x.dtype), rate), "likelihoods": {"y": likelihoods},
                "y": y, "y_hat": y_hat}

    def training_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Σ over the model's λ values of ``w_λ (bpp + λ · 255² · MSE)``: Zheng & Liang's eq. (2)-(3),
        ``Σ w (R + λ D)``, in CompressAI's units (their λ weigh the MSE on [0, 1]; Chapter 3
        converts), the weights from :meth:`loss_weights`; one term for a single-λ model. Logs each
        rate's bpp and PSNR when there are several."""
        target = self.target(x)
        if len(self.lambdas) == 1:
            return rate_distortion(self(x), target, float(self.lambdas[0]), self.distortion)
        total, logs = 0.0, {}
        for i, (lmbda, weight) in enumerate(zip((float(v) for v in self.lambdas), self.loss_weights())):
            loss, parts = rate_distortion(self(x, i), target, lmbda, self.distortion)
            total = total + weight * loss
            logs[f"bpp{i}"], logs[f"psnr{i}"] = parts["bpp"], parts["psnr"]
        logs["loss"] = total.item()
        logs["bpp"] = sum(logs[f"bpp{i}"] for i in range(len(self.lambdas))) / len(self.lambdas)
        return total, logs

    def loss_weights(self) -> list[float]:
        """The weight of each λ's loss in :meth:`training_loss`: 1 unless a model says otherwise."""
        return [1.0] * len(self.lambdas)

    def warm_start_from(self, source: nn.Module) -> None:
        """Start training from ``source``'s weights (``lic train --init``): a model of the same class,
        possibly trained at another λ. Models that can start from another architecture's
        transforms override this."""
        if type(source) is not type(self):
            raise ValueError(f"a {type(source).__name__} cannot initialise a {type(self).__name__}")
        self.copy_parameters({name: name for name, _ in self.named_parameters()}, source)

    @torch.no_grad()
    def copy_parameters(self, names: Mapping[str, str], source: nn.Module) -> None:
        """Copy ``source``'s parameter ``names[k]`` into this model's parameter ``k`` (same shapes).

        Only parameters: the coding tables are rebuilt by :meth:`update` when the model is saved."""
        own, theirs = dict(self.named_parameters()), dict(source.named_parameters())
        for mine, other in names.items():
            if own[mine].shape != theirs[other].shape:
                raise ValueError(f"cannot copy {other} {tuple(theirs[other].shape)} into {mine} "
                                 f"{tuple(own[mine].shape)}: the models differ in width")
            own[mine].copy_(theirs[other])

    @torch.no_grad()
    def update(self) -> None:
        """Build the integer coding tables (after training, before saving)."""
        self.entropy.update()

    #: latent rows each analysis strip borrows from its neighbours (:func:`analyze`)
    analysis_margin: int = STRIP_MARGIN

    @property
    def latent_stride(self) -> int:
        """How many times smaller than the image the latent ``y`` is: ``stride``, unless a model pads
        images further for a coarser latent of its own (a hyperprior's ``z``)."""
        return self.stride

    def analysis_parts(self, rate: Rate) -> tuple[Callable[[torch.Tensor], torch.Tensor],
                                                  Callable[[torch.Tensor], torch.Tensor] | None]:
        """:meth:`analysis` as a local part, which strips of the image can compute, and a global
        tail applied to the whole of the local part's output (``None``: the analysis is local)."""
        return (lambda x: self.analysis(x, rate)), None

    def analyze(self, x: torch.Tensor, rate: Rate = 0) -> torch.Tensor:
        """:meth:`analysis` in bounded memory: its local part strip by strip for a large image
        (:func:`analyze`), then its global tail; a small image is analysed whole."""
        local, tail = self.analysis_parts(rate)
        features = analyze(local, x, self.latent_stride, self.analysis_margin)
        return features if tail is None else tail(features)

    def compress(self, x: torch.Tensor, rate: int = 0) -> bytes:
        """Entropy-code one padded image ``[1, 3, H, W]`` (H, W multiples of ``stride``)."""
        rate = self.check_rate(rate)
        return self.entropy.compress(self.analyze(x, rate).float(), *self.bins(rate))[0]

    def least_payload_bits(self, shape: tuple[int, int], rate: int = 0) -> float:
        """The fewest bits a :meth:`compress` payload of an image of padded ``shape`` can have: a
        stream shorter than that cannot be of that size, whatever its header says."""
        positions = (shape[0] // self.stride) * (shape[1] // self.stride)
        return self.entropy.least_bits_for(positions, self.bins(self.check_rate(rate))[0])

    def decompress(self, payload: bytes, shape: tuple[int, int], rate: int = 0, workers: int = 1) -> torch.Tensor:
        """Decode ``payload`` into a ``[1, 3, H, W]`` image for the padded ``shape`` (on ``workers`` threads)."""
        rate = self.check_rate(rate)
        y_hat = self.entropy.decompress([payload], (shape[0] // self.stride, shape[1] // self.stride),
                                        *self.bins(rate))
        return synthesize(lambda part: self.synthesis(part, rate), y_hat, self.stride, workers)

    @torch.no_grad()
    def estimate_bits(self, x: torch.Tensor, rate: int = 0) -> float:
        """``−Σ log2 p(ŷ)`` of the latents that :meth:`compress` sends for ``x`` (eval mode)."""
        rate = self.check_rate(rate)
        y = self.analyze(x, rate).float()
        _, likelihoods = self.entropy(y, training=False, width=self.bins(rate)[1])
        return float(estimate_bits(likelihoods))
