"""Chapter 1: baseline JPEG, encoder and decoder written from scratch in numpy.

The pipeline of ITU-T T.81 (the JPEG standard), with the choices of JFIF and of the IJG
library (libjpeg, and libjpeg-turbo behind Pillow), one small public function per step::

    RGB --rgb_to_ycbcr--> YCbCr --subsample_420--> 4:2:0 --blockify--> 8x8 blocks --dct2-->
    coefficients --quantize_coefficients--> integers --zigzag, DC prediction, run_length--> symbols
    --Huffman (Annex K tables) or adaptive arithmetic coding--> bits

and the decoder runs the same steps backwards (``upsample_420`` is libjpeg's "fancy"
triangle filter). :func:`encode` writes a real baseline JFIF file that any viewer opens;
:func:`decode` reads baseline files (ours, and Pillow's standard 4:2:0 or 4:4:4 ones).

Two codecs are registered:

* ``jpeg-scratch``: :func:`encode` / :func:`decode`, a ``.jpg`` file.
* ``jpeg-scratch-ac``: the same quantised coefficients and the same symbols, but entropy-coded
  with adaptive arithmetic coding (``constriction``) instead of the fixed Huffman tables, in
  our container. The models start from the Huffman tables' probabilities and adapt after every
  symbol, in contexts the decoder can track (see :class:`AdaptiveFrequencies` and
  ``_ArithmeticContexts``); rebuilding a lazy ``constriction`` model per symbol costs about a
  microsecond, so per-symbol adaptation is fast enough. :func:`entropy_coded_bytes` compares
  what the two entropy coders spend.

Both codecs share the symbol logic (:func:`encode_blocks`, :func:`decode_blocks`); only the
coder behind :class:`SymbolWriter` / :class:`SymbolReader` differs.

One module per step: :mod:`.colour` (colour and blocks), :mod:`.dct` (DCT and quantisation),
:mod:`.symbols` (zig-zag, DC prediction, run-lengths), :mod:`.huffman`, :mod:`.scans` (the symbol
logic shared by both coders), :mod:`.jfif` (the file format), :mod:`.arithmetic`, and
:mod:`.codecs` (registration). Every public name is also available here, as ``lic.jpeg.<name>``.
"""

from __future__ import annotations

from .colour import blockify, rgb_to_ycbcr, round_samples, subsample_420, unblockify, upsample_420, ycbcr_to_rgb
from .dct import CHROMA_QTABLE, LUMA_QTABLE, dct2, dct_basis, dct_matrix, dequantize_coefficients, idct2, quant_tables, quantize_coefficients
from .symbols import EOB, UNZIGZAG, ZIGZAG, ZRL, amplitude_bits, dc_differences, extend, magnitude_category, run_length, undo_dc_differences, unzigzag, zigzag
from .huffman import AC_CHROMA_BITS, AC_CHROMA_VALUES, AC_LUMA_BITS, AC_LUMA_VALUES, BitReader, BitWriter, DC_CHROMA_BITS, DC_LUMA_BITS, DC_VALUES, HuffmanTable, STANDARD_HUFFMAN_TABLES, huffman_codes, standard_huffman_tables
from .scans import Coefficients, HuffmanScanReader, HuffmanScanWriter, SymbolReader, SymbolWriter, decode_blocks, encode_blocks, from_scan_order, scan_order
from .jfif import APP0, COM, DHT, DQT, DRI, EOI, SAMPLING_420, SOF0, SOI, SOS, decode, encode, huffman_scan, parse_jpeg, quantized_coefficients, reconstruct
from .arithmetic import AC_CODEC, AdaptiveFrequencies, ArithmeticScanReader, ArithmeticScanWriter, arithmetic_scan, decode_arithmetic, encode_arithmetic, entropy_coded_bytes, huffman_prior
from .codecs import JPEG_QUALITIES, ScratchJPEG, ScratchJPEGArithmetic

__all__ = [
    "blockify",
    "rgb_to_ycbcr",
    "round_samples",
    "subsample_420",
    "unblockify",
    "upsample_420",
    "ycbcr_to_rgb",
    "CHROMA_QTABLE",
    "LUMA_QTABLE",
    "dct2",
    "dct_basis",
    "dct_matrix",
    "dequantize_coefficients",
    "idct2",
    "quant_tables",
    "quantize_coefficients",
    "EOB",
    "UNZIGZAG",
    "ZIGZAG",
    "ZRL",
    "amplitude_bits",
    "dc_differences",
    "extend",
    "magnitude_category",
    "run_length",
    "undo_dc_differences",
    "unzigzag",
    "zigzag",
    "AC_CHROMA_BITS",
    "AC_CHROMA_VALUES",
    "AC_LUMA_BITS",
    "AC_LUMA_VALUES",
    "BitReader",
    "BitWriter",
    "DC_CHROMA_BITS",
    "DC_LUMA_BITS",
    "DC_VALUES",
    "HuffmanTable",
    "STANDARD_HUFFMAN_TABLES",
    "huffman_codes",
    "standard_huffman_tables",
    "Coefficients",
    "HuffmanScanReader",
    "HuffmanScanWriter",
    "SymbolReader",
    "SymbolWriter",
    "decode_blocks",
    "encode_blocks",
    "from_scan_order",
    "scan_order",
    "APP0",
    "COM",
    "DHT",
    "DQT",
    "DRI",
    "EOI",
    "SAMPLING_420",
    "SOF0",
    "SOI",
    "SOS",
    "decode",
    "encode",
    "huffman_scan",
    "parse_jpeg",
    "quantized_coefficients",
    "reconstruct",
    "AC_CODEC",
    "AdaptiveFrequencies",
    "ArithmeticScanReader",
    "ArithmeticScanWriter",
    "arithmetic_scan",
    "decode_arithmetic",
    "encode_arithmetic",
    "entropy_coded_bytes",
    "huffman_prior",
    "JPEG_QUALITIES",
    "ScratchJPEG",
    "ScratchJPEGArithmetic",
]
