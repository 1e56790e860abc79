"""The command line, run as readers run it: compress, decompress, eval, and clear errors."""
import json

import pytest

from lic.__main__ import main
from lic.codec import BitstreamError
from lic.data import save_image


@pytest.fixture
def photo(tmp_path):
    from lic.data import evaluation_set

    _, image = evaluation_set(["kodim23"])[0]
    path = tmp_path / "photo.png"
    save_image(image[:, 100:164, 200:280], path)
    return path


def test_codecs_lists_jpeg(capsys):
    assert main(["codecs"]) == 0
    assert "jpeg-scratch" in capsys.readouterr().out


@pytest.mark.parametrize("codec, quality, decoder", [  # Chapter 1's baseline JPEG writes a standard JPEG file
    ("jpeg", 75, "jpeg"), ("jpeg-scratch", 75, "jpeg"), ("jpeg-scratch-ac", 75, "jpeg-scratch-ac"), ("webp", 75, "webp"),
    ("minnen2018", 3, "minnen2018"), ("wen2019", 3, "wen2019")])
def test_compress_then_decompress(tmp_path, photo, codec, quality, decoder, capsys):
    out, rec = tmp_path / "photo.bin", tmp_path / "rec.png"
    assert main(["compress", str(photo), str(out), "--codec", codec, "--quality", str(quality)]) == 0
    assert f"{out.stat().st_size} bytes" in capsys.readouterr().out
    assert main(["decompress", str(out), str(rec)]) == 0
    assert f"decoded with {decoder}" in capsys.readouterr().out
    from lic.data import load_image

    assert load_image(rec).shape == load_image(photo).shape


def test_eval_writes_json(tmp_path, photo):
    report = tmp_path / "r.json"
    assert main(["eval", "--codec", "jpeg", "--quality", "30", "80", "--images", str(photo.parent),
                 "--json", str(report), "-q"]) == 0
    data = json.loads(report.read_text())
    assert len(data["points"]) == 2 and len(data["mean"]) == 2
    low, high = sorted(data["mean"], key=lambda r: r["quality"])
    assert low["bpp"] < high["bpp"] and low["psnr"] < high["psnr"]
    p = data["points"][0]
    assert p["bpp"] == pytest.approx(8 * p["bytes"] / (p["height"] * p["width"]))


def test_corrupt_file_is_a_readable_error(tmp_path, photo, capsys):
    out = tmp_path / "photo.lic"
    assert main(["compress", str(photo), str(out), "--codec", "jpeg-scratch-ac", "--quality", "50"]) == 0
    out.write_bytes(out.read_bytes()[:-7])
    assert main(["decompress", str(out), str(tmp_path / "rec.png")]) == 2
    assert "error:" in capsys.readouterr().err


def test_not_an_image_is_a_readable_error(tmp_path, capsys):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    assert main(["compress", str(bad), str(tmp_path / "x"), "--codec", "jpeg", "--quality", "50"]) == 1
    assert "not a readable image" in capsys.readouterr().err


def test_unknown_codec_is_a_readable_error(photo, tmp_path, capsys):
    assert main(["compress", str(photo), str(tmp_path / "x"), "--codec", "nope", "--quality", "5"]) == 1
    assert "unknown codec" in capsys.readouterr().err


def test_codecs_json_lists_every_codec_with_its_qualities(capsys):
    assert main(["codecs", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["balle2017"]["qualities"] == [1, 3, 5, 7] and rows["jpeg"]["quality_range"] == [1, 100]
    assert all(row["description"] for row in rows.values())


def test_a_bitstream_error_outside_decompress_is_reported_without_an_input_file(photo, monkeypatch, capsys):
    """eval and train have no ``input`` argument; the handler must not crash on it."""
    import lic.evaluate

    def broken(*args, **kwargs):
        raise BitstreamError("corrupt stream: checksum (CRC-32) does not match")

    monkeypatch.setattr(lic.evaluate, "evaluate", broken)
    assert main(["eval", "--codec", "jpeg", "--quality", "50", "--images", str(photo.parent)]) == 2
    assert capsys.readouterr().err.strip() == "error: corrupt stream: checksum (CRC-32) does not match"


def test_truncate_keeps_the_first_rounds_of_a_progressive_stream(tmp_path, capsys):
    from lic.codec import Header, pack_progressive

    full, cut = tmp_path / "full.lic", tmp_path / "cut.lic"
    full.write_bytes(pack_progressive(Header("ashok2019", 26, 32, 64), bytes([0x21]), [b"abc", b"de", b"f"]))
    assert main(["truncate", str(full), str(cut), "--rounds", "2"]) == 0
    assert cut.read_bytes() == pack_progressive(Header("ashok2019", 26, 32, 64), bytes([0x21]), [b"abc", b"de"])
    assert "the first 2 round(s)" in capsys.readouterr().out
    assert main(["truncate", str(full), str(cut), "--rounds", "0"]) == 1   # a stream needs a round


def test_truncate_refuses_a_stream_that_is_not_progressive(tmp_path, photo, capsys):
    jpeg, cut = tmp_path / "photo.jpg", tmp_path / "cut.lic"
    assert main(["compress", str(photo), str(jpeg), "--codec", "jpeg", "--quality", "50"]) == 0
    assert main(["truncate", str(jpeg), str(cut), "--rounds", "1"]) == 2
    assert "error:" in capsys.readouterr().err and not cut.exists()
