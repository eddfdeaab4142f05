import io
import xml.etree.ElementTree as ET

import altair as alt
import numpy as np
import pandas as pd
from PIL import Image

from dashboard.export import chart_png, chart_svg, image_png, image_svg, table_csv


def test_image_png_round_trips_pixels():
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(image_png(image)))), image)


def test_image_svg_is_valid_svg_of_the_right_size():
    svg = ET.fromstring(image_svg(np.zeros((20, 30), np.uint8)))
    assert svg.tag.endswith("svg")
    assert (svg.get("width"), svg.get("height")) == ("30", "20")


def test_chart_exports_render_offline():
    chart = alt.Chart(pd.DataFrame({"a": ["x", "y"], "b": [1, 2]})).mark_bar().encode(x="a", y="b")
    png = chart_png(chart)
    assert png.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(png)).size[0] > 50
    assert ET.fromstring(chart_svg(chart)).tag.endswith("svg")


def test_table_csv():
    assert table_csv(pd.DataFrame({"a": [1], "b": ["x"]})) == b"a,b\n1,x\n"
