"""Every codec keeps one colour and marker across the book's figures."""
import matplotlib

matplotlib.use("Agg")

from lic.registry import available  # noqa: E402
from lic.plots import STYLES, rd_curves, style  # noqa: E402


def test_every_registered_codec_has_its_own_style():
    assert set(available()) <= set(STYLES)
    assert len(set(STYLES.values())) == len(STYLES)


def test_rd_curves_draw_each_codec_in_its_style():
    ax = rd_curves({"jpeg": [{"bpp": 0.5, "psnr": 30}, {"bpp": 1, "psnr": 33}],
                    "ours": [{"bpp": 0.5, "psnr": 31}, {"bpp": 1, "psnr": 34}]})
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert (lines["jpeg"].get_color(), lines["jpeg"].get_marker()) == STYLES["jpeg"]
    assert (lines["ours"].get_color(), lines["ours"].get_marker()) == style("ours") == style("ours")
