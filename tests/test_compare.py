"""BD tables and points of a curve at a given rate."""
import json
import math
from pathlib import Path

import pytest

from lic.compare import (VERDICTS, bd, bd_table, nearest_quality, quality_at_rate, rate_at_quality, seed_spread,
                         verdict)


def _curve(gain_db: float = 0.0, rates=(0.25, 0.5, 1.0, 2.0)):
    return [{"bpp": r, "psnr": 30 + 6 * math.log2(r) + gain_db, "ms_ssim": 0.9 + 0.02 * math.log2(r) + gain_db / 100}
            for r in rates]


def test_bd_of_a_shifted_curve():
    # +6 dB per doubling: a curve 3 dB higher needs half a doubling less, 2**-0.5 - 1 = -29.3 %
    assert bd(_curve(), _curve(3.0)) == pytest.approx(100 * (2**-0.5 - 1), abs=1e-6)
    assert bd(_curve(), _curve(3.0), kind="quality") == pytest.approx(3.0)
    assert bd(_curve(), _curve(100.0)) is None  # no common PSNR range
    bumpy = [{**r, "psnr": 20.0 if i == 2 else r["psnr"]} for i, r in enumerate(_curve())]  # 18, 24, 20, 36 dB
    assert bd(_curve(), bumpy) is None  # not monotone


def test_bd_table_falls_back_to_bd_psnr():
    curves = {"jpeg": _curve(), "better": _curve(3.0), "far": _curve(40.0, rates=(0.5, 1.0))}
    text = repr(bd_table(curves))
    better, far = text.splitlines()[3:5]
    assert better.split()[0] == "better" and "-29.3" in better and "+3.00" in better
    assert far.split()[0] == "far" and far.split().count("n/a") == 2 and "+40.00" in far


def test_point_of_a_curve_at_a_rate():
    curve = _curve()
    assert nearest_quality(curve, 0.6)["bpp"] == 0.5
    assert quality_at_rate(curve, 1.0) == pytest.approx(30.0)
    assert quality_at_rate(curve, 0.7) == pytest.approx(30 + 6 * math.log2(0.7), abs=0.05)
    assert quality_at_rate(curve, 5.0) is None
    with pytest.raises(ValueError, match="positive"):
        nearest_quality(curve, 0)


def test_rate_at_quality_inverts_quality_at_rate():
    curve = _curve()
    assert rate_at_quality(curve, 30.0) == pytest.approx(1.0)
    assert quality_at_rate(curve, rate_at_quality(curve, 27.5)) == pytest.approx(27.5, abs=1e-6)
    assert rate_at_quality(curve, 50.0) is None


def test_verdict_weighs_a_difference_against_the_seed_spread():
    assert verdict(0.10, noise=0.013) == "holds"            # 0.10 dB > 2 x 0.013 dB
    assert verdict(0.02, noise=0.013) == "within noise"
    assert verdict(-0.10, noise=0.013) == "does not hold"
    assert verdict(-5.0, noise=0.11, better="lower") == "holds"   # a BD-rate 5 points lower
    assert verdict(0.1, noise=0.11, better="lower") == "within noise"
    # across images: the whole bootstrap interval must clear the noise
    assert verdict(-5.0, noise=0.11, interval=(-9.0, 1.0), better="lower") == "within noise"
    assert verdict(-5.0, noise=0.11, interval=(-9.0, -1.0), better="lower") == "holds"
    assert verdict(5.0, noise=0.11, interval=(1.0, 9.0), better="lower") == "does not hold"
    assert {verdict(d, 0.05) for d in (-1, 0, 1)} == set(VERDICTS)
    with pytest.raises(ValueError, match="does not contain"):
        verdict(1.0, 0.1, interval=(2.0, 3.0))
    with pytest.raises(ValueError, match="better"):
        verdict(1.0, 0.1, better="up")


def test_the_shipped_seed_spread_is_measured_on_three_seeds_at_least():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "seed_spread.json"
    spread = seed_spread(path)
    runs = json.loads(path.read_text())["runs"]
    assert len({r["seed"] for r in runs}) >= 3
    for key in ("psnr", "bd_rate_vs_jpeg", "bd_rate_vs_hevc"):
        values = [r[key] for r in runs]
        assert spread[key] == pytest.approx(max(values) - min(values), abs=1e-9)


def _per_image(gains_db: dict[str, float], codec: str = "c") -> list:
    """Per-image points (``lic.evaluate.Point``) of curves shifted by each image's gain."""
    from lic.evaluate import Point

    return [Point(codec, q, image, 64, 64, 100, r["bpp"], r["psnr"], r["ms_ssim"], 0.0, 0.0)
            for image, gain in gains_db.items() for q, r in enumerate(_curve(gain))]


def test_bootstrap_bd_gives_an_interval_over_images_and_a_verdict():
    from lic.compare import bd_verdict, bootstrap_bd

    anchor = _per_image({f"im{i}": 0.0 for i in range(8)})
    everywhere = _per_image({f"im{i}": 1.0 for i in range(8)})          # 1 dB better on every image
    mixed = _per_image({f"im{i}": (3.0 if i % 2 else -3.0) + 0.2 for i in range(8)})   # wins half, loses half
    steady = bootstrap_bd(anchor, everywhere)
    assert steady["bd"] < -5 and steady["low"] == pytest.approx(steady["high"], abs=1e-6)   # no spread
    spread = bootstrap_bd(anchor, mixed)
    assert spread["low"] < spread["bd"] < spread["high"] and spread["high"] - spread["low"] > 20
    assert bd_verdict(anchor, everywhere, noise=0.11)["verdict"] == "holds"
    assert bd_verdict(anchor, mixed, noise=0.11)["verdict"] == "within noise"   # a small mean gain, a wide interval
    assert bd_verdict(everywhere, anchor, noise=0.11)["verdict"] == "does not hold"
    with pytest.raises(ValueError, match="same images"):
        bootstrap_bd(anchor, _per_image({"other": 0.0}))


def test_bd_table_with_points_shows_each_interval():
    from lic.evaluate import mean_curve

    points = {"jpeg": _per_image({f"im{i}": 0.0 for i in range(6)}, "jpeg"),
              "ours": _per_image({f"im{i}": 0.5 * i for i in range(6)}, "ours")}
    text = str(bd_table({name: mean_curve(p) for name, p in points.items()}, points=points))
    assert "95 % interval" in text and text.count("[") >= 2
