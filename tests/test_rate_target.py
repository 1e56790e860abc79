"""Rate targeting: the highest quality within a budget, for a continuous knob and for a λ grid."""
import json

import pytest

from lic.__main__ import main
from lic.data import evaluation_set, save_image
from lic.metrics import bpp
from lic.rate_target import UnreachableRate, accepted_qualities, compress_to_rate, evaluate_at_rates
from lic.registry import get_codec


@pytest.fixture(scope="module")
def crop():
    _, image = evaluation_set(["kodim23"])[0]
    return image[:, 100:228, 200:392]  # 128 x 192


@pytest.mark.parametrize("name", ["jpeg", "webp", "jpeg2000", "balle2017"])
def test_the_highest_quality_within_the_target_is_found(name, crop):
    codec = get_codec(name)
    h, w = crop.shape[-2:]
    quality, data = compress_to_rate(codec, crop, 0.8)
    assert bpp(data, h, w) <= 0.8 and data == codec.compress(crop, quality)
    qualities = accepted_qualities(codec)
    higher = qualities[qualities.index(quality) + 1:]
    if higher:  # the next quality would overshoot
        assert bpp(codec.compress(crop, higher[0]), h, w) > 0.8
    if name != "balle2017":  # a continuous knob lands within 20 % below the target
        assert bpp(data, h, w) >= 0.8 * 0.8


def test_a_lambda_grid_offers_only_its_qualities():
    assert accepted_qualities(get_codec("balle2017")) == list(get_codec("balle2017").qualities)
    assert accepted_qualities(get_codec("jpeg")) == list(range(1, 101))


def test_an_unreachable_target_names_the_lowest_rate(crop):
    with pytest.raises(UnreachableRate, match=r"cannot reach 0.001 bpp on this image: its lowest quality \(1\) takes"):
        compress_to_rate(get_codec("jpeg"), crop, 0.001)
    with pytest.raises(ValueError, match="must be > 0"):
        compress_to_rate(get_codec("jpeg"), crop, 0)


def test_evaluate_at_rates_gives_one_point_per_image_and_target(crop):
    points = evaluate_at_rates(get_codec("webp"), [0.3, 1.0], [("a", crop), ("b", crop.flip(-1))])
    assert [(p.image, p.target_bpp) for p in points] == [("a", 0.3), ("a", 1.0), ("b", 0.3), ("b", 1.0)]
    assert all(p.bpp <= p.target_bpp for p in points) and points[1].psnr > points[0].psnr


def test_command_line_targets(crop, tmp_path, capsys):
    (tmp_path / "images").mkdir()
    path = tmp_path / "images" / "crop.png"
    save_image(crop, path)
    assert main(["compress", str(path), str(tmp_path / "c.webp"), "--codec", "webp", "--target-bpp", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "the highest within 0.5 bpp" in out and float(out.split(" bpp")[0].split()[-1]) <= 0.5
    assert main(["compress", str(path), str(tmp_path / "d.webp"), "--codec", "webp", "--target-bpp", "0.0001"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "its lowest quality (0) takes" in err and not (tmp_path / "d.webp").exists()
    with pytest.raises(SystemExit):
        main(["compress", str(path), str(tmp_path / "e.webp"), "--codec", "webp", "--quality", "5", "--target-bpp", "1"])
    report = tmp_path / "r.json"
    assert main(["eval", "--codec", "jpeg", "--target-bpp", "0.5", "1", "--images", str(path.parent), "-q",
                 "--json", str(report)]) == 0
    rows = json.loads(report.read_text())
    assert [r["target_bpp"] for r in rows] == [0.5, 1.0] and all(r["bpp"] <= r["target_bpp"] for r in rows)
