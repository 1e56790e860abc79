"""Entropy models and real entropy coding: the part of a learned codec that turns latents into bits.

* :mod:`.quantize` — rounding, its training proxies, and the ideal code length ``-Σ log2 p``;
* :mod:`.tables` — integer tables from a density, and range coding with ``constriction``;
* :mod:`.factorized` — :class:`FactorizedDensity`, one learned density per channel (Ballé et al.
  2018, appendix 6.1), used for the latents of Ballé 2017;
* :mod:`.gaussian` — :class:`~.gaussian.GaussianConditional`, a Gaussian per latent whose mean and
  scale the hyperprior and context model predict (Minnen et al. 2018), with tables per scale;
* :mod:`.short_strings` — a byte-granular range coder for strings of a few dozen symbols (the
  progressive codec's rounds).

Training uses likelihoods (:func:`estimate_bits`); compression uses real bits from the tables.
"""
from .factorized import LIKELIHOOD_BOUND, FactorizedDensity
from .quantize import estimate_bits, quantize
from .tables import MAX_ABS_SYMBOL, PRECISION, TAIL_MASS, TableCoder, pmf_to_counts

__all__ = ["quantize", "estimate_bits", "pmf_to_counts", "TableCoder", "FactorizedDensity", "LIKELIHOOD_BOUND",
           "TAIL_MASS", "PRECISION", "MAX_ABS_SYMBOL"]
