"""Every codec keeps one colour and marker across the book's figures."""
import subprocess
import sys

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
    # a label outside the table gets a pair derived from its name alone: the same in every figure
    expected = style("ours")
    assert (lines["ours"].get_color(), lines["ours"].get_marker()) == expected
    other_process = subprocess.run([sys.executable, "-c", "from lic.plots import style; print(*style('ours'))"],
                                   capture_output=True, text=True, check=True)
    assert other_process.stdout.split() == list(expected)  # not a per-process hash
