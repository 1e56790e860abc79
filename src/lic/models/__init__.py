"""One module per paper's model; importing this package registers every model (and its codec).

``MODELS`` maps the names used in training configs and checkpoints to model classes; ``CODECS``
lists the codecs the learned models ship as (:mod:`lic.registry` makes them usable).
"""
from . import ashok2019, balle2017, conv_ae, dumas2018, minnen2018, modulated, wen2019  # noqa: F401  (registration)
from .base import LAMBDAS, LearnedModel, has_coding_tables
from .registry import CODECS, MODELS, CodecSpec, register_model

__all__ = ["LAMBDAS", "LearnedModel", "has_coding_tables", "CODECS", "MODELS", "CodecSpec", "register_model"]
