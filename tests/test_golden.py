"""Golden bitstreams: every stream written by the book's codecs at the golden commit still decodes
to exactly the same pixels, and encoding the same crop still writes exactly the same bytes. (Where a
CPU's floating-point rounding moved a decoded pixel by one level, that CPU's pixel hash is listed
beside the golden one in the manifest: conv-ae quality 4, first seen in session 14.)

A change that breaks this must be deliberate (a new checkpoint or container version): then rerun
``scripts/make_golden.py`` in the same commit and say so in its message.
"""
import hashlib
import importlib.util
import json
from pathlib import Path

import pytest

from lic.registry import get_codec

GOLDEN = Path(__file__).parent / "golden"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
STREAMS = MANIFEST["streams"]

_spec = importlib.util.spec_from_file_location("make_golden", Path(__file__).parents[1] / "scripts" / "make_golden.py")
make_golden = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_golden)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_every_codec_of_the_book_has_golden_streams():
    assert {entry["codec"] for entry in STREAMS.values()} == set(make_golden.CODECS)
    for name in make_golden.CODECS:
        qualities = {e["quality"] for e in STREAMS.values() if e["codec"] == name}
        assert qualities == set(get_codec(name).qualities), name


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_golden_stream_decodes_bit_exactly(stream):
    entry = STREAMS[stream]
    data = (GOLDEN / stream).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["stream_sha256"]
    decoded = get_codec(entry["codec"]).decompress(data)
    assert decoded.shape == (3, MANIFEST["crop"]["height"], MANIFEST["crop"]["width"])
    # the synthesis is floating point: a CPU whose rounding differs may move a pixel by one 8-bit
    # level (the streams stay identical); such a CPU's hash is listed beside the golden one
    assert make_golden.pixels_sha256(decoded) in {entry["pixels_sha256"], *entry.get("pixels_sha256_other_cpus", ())}


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_encoding_the_golden_crop_writes_the_same_bytes(stream):
    entry = STREAMS[stream]
    data = get_codec(entry["codec"]).compress(make_golden.crop(), entry["quality"])
    assert hashlib.sha256(data).hexdigest() == entry["stream_sha256"]
