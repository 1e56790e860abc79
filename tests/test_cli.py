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


def test_codecs_lists_every_registered_codec(capsys):
    from lic.registry import available

    assert main(["codecs"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == sorted(available())


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


def test_eval_defaults_to_the_codecs_own_qualities(tmp_path, photo):
    from lic.registry import get_codec

    report = tmp_path / "r.json"
    assert main(["eval", "--codec", "webp", "--images", str(photo.parent), "--json", str(report), "-q"]) == 0
    assert sorted(r["quality"] for r in json.loads(report.read_text())["mean"]) == sorted(get_codec("webp").qualities)


def test_effort_refines_a_learned_codec_and_is_refused_elsewhere(tmp_path, photo, capsys):
    out, rec = tmp_path / "photo.bin", tmp_path / "rec.png"
    assert main(["compress", str(photo), str(out), "--codec", "wen2019", "--quality", "1", "--effort", "2"]) == 0
    assert "effort 2" in capsys.readouterr().out
    assert main(["decompress", str(out), str(rec)]) == 0   # the usual decoder reads it
    for codec, effort in [("jpeg", "5"), ("wen2019", "-1")]:
        assert main(["compress", str(photo), str(out), "--codec", codec, "--quality", "50" if codec == "jpeg" else "1",
                     "--effort", effort]) == 1
        err = capsys.readouterr().err
        assert "--effort" in err and err.count("\n") == 1


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


def test_decompress_says_when_a_progressive_stream_was_cut_short(tmp_path, photo, capsys):
    full, cut, png = tmp_path / "full.lic", tmp_path / "cut.lic", tmp_path / "out.png"
    assert main(["compress", str(photo), str(full), "--codec", "ashok2019", "--quality", "99"]) == 0
    assert main(["decompress", str(full), str(png)]) == 0
    assert "note:" not in capsys.readouterr().out   # the whole stream: nothing to say
    assert main(["truncate", str(full), str(cut), "--rounds", "1"]) == 0
    assert main(["decompress", str(cut), str(png)]) == 0
    note = capsys.readouterr().out.strip().splitlines()[-1]
    assert note.startswith("note: the stream holds 1 of the ") and "cut short between rounds" in note


def test_truncate_refuses_a_stream_that_is_not_progressive(tmp_path, photo, capsys):
    jpeg, cut = tmp_path / "photo.jpg", tmp_path / "cut.lic"
    assert main(["compress", str(photo), str(jpeg), "--codec", "jpeg", "--quality", "50"]) == 0
    assert main(["truncate", str(jpeg), str(cut), "--rounds", "1"]) == 2
    assert "error:" in capsys.readouterr().err and not cut.exists()


# ------------------------------------------------------------------ nothing the user had is lost
@pytest.mark.parametrize("command", ["compress", "decompress"])
def test_an_output_that_is_the_input_is_refused_before_any_work(photo, tmp_path, command, capsys):
    stream = tmp_path / "photo.bin"
    assert main(["compress", str(photo), str(stream), "--codec", "jpeg", "--quality", "50"]) == 0
    source = photo if command == "compress" else stream
    before = source.read_bytes()
    alias = source.parent / "." / source.name          # the same file under another spelling
    args = [command, str(source), str(alias)] + (["--codec", "jpeg", "--quality", "50"] if command == "compress" else [])
    assert main(args) == 1
    assert "is the input file" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_an_output_folder_is_refused_before_encoding(photo, tmp_path, monkeypatch, capsys):
    import lic.data

    monkeypatch.setattr(lic.data, "load_image", lambda path: pytest.fail("read the image before checking the output"))
    assert main(["compress", str(photo), str(tmp_path), "--codec", "jpeg", "--quality", "50"]) == 1
    assert "is a folder" in capsys.readouterr().err


def test_a_failed_decode_leaves_the_existing_output_untouched(photo, tmp_path, capsys):
    stream, rec = tmp_path / "photo.lic", tmp_path / "rec.png"
    assert main(["compress", str(photo), str(stream), "--codec", "balle2017", "--quality", "1"]) == 0
    stream.write_bytes(stream.read_bytes()[:-5])
    rec.write_bytes(b"an image the user wants to keep")
    assert main(["decompress", str(stream), str(rec)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:")
    assert rec.read_bytes() == b"an image the user wants to keep"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_an_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import lic.__main__ as cli

    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cli._write_atomically(target, b"new")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_an_unknown_output_image_type_is_refused_before_decoding(photo, tmp_path, capsys):
    stream = tmp_path / "photo.jpg"
    assert main(["compress", str(photo), str(stream), "--codec", "jpeg", "--quality", "50"]) == 0
    assert main(["decompress", str(stream), str(tmp_path / "rec.xyz")]) == 1
    assert "unknown image file type" in capsys.readouterr().err


# ------------------------------------------------------------------ headers that lie
def test_a_huge_size_in_a_checksummed_header_is_refused_at_once(tmp_path, capsys):
    """A 512-byte stream whose valid header claims 65535x32768 px: refused before any allocation."""
    import time

    from lic.codec import Header, pack

    stream = tmp_path / "huge.lic"
    stream.write_bytes(pack(Header("balle2017", 3, 32768, 65535), bytes(range(256)) * 2))
    started = time.perf_counter()
    assert main(["decompress", str(stream), str(tmp_path / "rec.png")]) == 2
    assert time.perf_counter() - started < 2
    err = capsys.readouterr().err
    assert "Mpx" in err and "--max-pixels" in err and err.count("\n") == 1


def test_max_pixels_is_an_option(photo, tmp_path, capsys):
    stream = tmp_path / "photo.lic"
    assert main(["compress", str(photo), str(stream), "--codec", "balle2017", "--quality", "1"]) == 0
    assert main(["decompress", str(stream), str(tmp_path / "rec.png"), "--max-pixels", "1000"]) == 2
    assert "limit of" in capsys.readouterr().err
    assert main(["decompress", str(stream), str(tmp_path / "rec.png")]) == 0   # the limit is back to default


def test_a_corrupt_codec_name_with_a_valid_checksum_is_a_bitstream_error(tmp_path, capsys):
    from lic.codec import Header, pack

    stream = tmp_path / "renamed.lic"
    stream.write_bytes(pack(Header("balle2O17", 3, 64, 64), b"payload"))
    assert main(["decompress", str(stream), str(tmp_path / "rec.png")]) == 2
    assert "not registered" in capsys.readouterr().err


def test_our_jpeg_decoder_can_be_chosen_and_rejects_what_pillow_accepts(photo, tmp_path, capsys):
    """A JPEG whose frame header claims 16383 rows: Pillow decodes it quietly, the book's decoder refuses."""
    stream, rec = tmp_path / "photo.jpg", tmp_path / "rec.png"
    assert main(["compress", str(photo), str(stream), "--codec", "jpeg-scratch", "--quality", "75"]) == 0
    data = bytearray(stream.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 7] = (16383).to_bytes(2, "big")        # SOF0: length(2) precision(1) height(2)
    stream.write_bytes(bytes(data))
    assert main(["decompress", str(stream), str(rec)]) == 0
    assert "decoded with jpeg (chosen from the file's first bytes" in capsys.readouterr().out
    assert main(["decompress", str(stream), str(rec), "--codec", "jpeg-scratch"]) == 2


@pytest.mark.parametrize("codec", ["hevc", "hevc-grey"])
@pytest.mark.parametrize("shape", [(1, 5000), (5000, 1)])
def test_a_thin_image_gets_one_line_not_a_traceback(tmp_path, codec, shape, capsys):
    import torch

    path = tmp_path / "thin.png"
    save_image(torch.rand(3, *shape), path)
    status = main(["compress", str(path), str(tmp_path / "thin.heic"), "--codec", codec, "--quality", "50"])
    err = capsys.readouterr().err
    assert status == 0 or (status == 1 and err.count("\n") == 1 and "cannot encode a" in err)


def test_a_pillow_without_avif_gets_one_line_naming_the_version_needed(photo, tmp_path, monkeypatch, capsys):
    """Colab's Pillow may predate AVIF (11.3): the codec says what to install, in one line."""
    from lic import baselines

    real = baselines.features.check
    monkeypatch.setattr(baselines.features, "check", lambda name: False if name == "avif" else real(name))
    out = tmp_path / "photo.avif"
    assert main(["compress", str(photo), str(out), "--codec", "avif", "--quality", "50"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no AVIF support; install Pillow >= 11.3" in err and not out.exists()
