"""One module per paper's model; importing this package registers their codecs.

``MODELS`` maps the names used in training configs to model classes. Learned codecs are
registered with the checkpoints they ship with (see ``checkpoints/``); a codec whose checkpoints
are missing is still listed, and says so when used.
"""
from torch import nn

from ..codec import register
from .balle2017 import FactorizedPrior
from .common import LearnedCodec
from .conv_ae import ConvAECodec, PakaKhatterAE
from .modulated import ModulatedAutoencoder

MODELS: dict[str, type[nn.Module]] = {
    "balle2017": FactorizedPrior,
    "modulated": ModulatedAutoencoder,
    "conv_ae": PakaKhatterAE,
    "conv_ae_codec": ConvAECodec,
}

#: Qualities 1-8 are the λ grid of ``common.LAMBDAS``; the shipped single-rate models.
BALLE2017_QUALITIES = (1, 3, 5, 7)


@register("balle2017", "Ballé et al. 2017 factorized prior, one model per λ (Chapter 3)")
def _balle2017() -> LearnedCodec:
    return LearnedCodec({q: f"balle2017-q{q}" for q in BALLE2017_QUALITIES})


class _ModulatedCodec(LearnedCodec):
    """One checkpoint for every quality; quality ``k`` is the model's k-th λ."""

    def model_kwargs(self, quality: int) -> dict:
        return {"rate": BALLE2017_QUALITIES.index(quality)}


@register("modulated", "Modulated autoencoder (Yang et al. 2020): one network, λ as input (Chapter 3)")
def _modulated() -> LearnedCodec:
    return _ModulatedCodec({q: "modulated" for q in BALLE2017_QUALITIES})


#: Chapter 2's codec: the paper's autoencoder with a small bottleneck, quantized and entropy-coded;
#: quality k is the shipped checkpoint ``conv-ae-q<k>`` (see configs/conv-ae-q<k>.toml).
CONV_AE_QUALITIES = (1, 2, 3, 4)


@register("conv-ae", "Paka & Khatter's conv autoencoder made a codec: small bottleneck + factorized prior (Chapter 2)")
def _conv_ae() -> LearnedCodec:
    return LearnedCodec({q: f"conv-ae-q{q}" for q in CONV_AE_QUALITIES}, multiple=ConvAECodec.stride)
