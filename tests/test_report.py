from lic.report import Table


def test_table_text_and_html_show_the_same_numbers():
    t = Table([{"q": 50, "bpp": 0.51234}, {"q": 75, "bpp": 0.8}], {"q": ("quality", None), "bpp": ("bpp", ".3f")},
              title="JPEG")
    text = repr(t).splitlines()
    assert text[0] == "JPEG" and text[1].split() == ["quality", "bpp"]
    assert text[3].split() == ["50", "0.512"] and text[4].split() == ["75", "0.800"]
    assert "<td>0.512</td>" in t._repr_html_() and "<caption>JPEG</caption>" in t._repr_html_()
