import io
import xml.etree.ElementTree as ET

import altair as alt
import numpy as np
import pandas as pd
from PIL import Image

from dashboard.export import chart_png, chart_print_png, chart_svg, image_png, image_svg, table_csv


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


def test_a_chart_of_more_than_5000_rows_exports_too():
    # An AU heatmap of 384 maps x 29 AUs: Altair's row limit would break its download and its pin.
    rows = pd.DataFrame({"map": np.repeat(np.arange(384), 29), "au": np.tile(np.arange(29), 384), "v": 0.5})
    chart = alt.Chart(rows).mark_rect().encode(x="au:O", y="map:O", color="v:Q")
    assert ET.fromstring(chart_svg(chart)).tag.endswith("svg")
    assert chart_png(chart, scale=1).startswith(b"\x89PNG")


def test_a_pinned_chart_is_rendered_for_a_slide_at_300_dpi():
    chart = alt.Chart(pd.DataFrame({"a": ["x", "y"], "b": [1, 2]})).mark_bar().encode(x="a", y="b")
    chart = chart.properties(width=500, height=250)
    svg = chart_svg(chart)
    width, height = Image.open(io.BytesIO(chart_print_png(chart, svg))).size
    drawn = float(ET.fromstring(svg).get("width"))
    assert width >= 6 * drawn  # 5.5 in of slide height at 300 dpi for a chart drawn ~300 px tall
    assert height <= 5.5 * 300 * 1.5


def test_table_csv():
    assert table_csv(pd.DataFrame({"a": [1], "b": ["x"]})) == b"a,b\n1,x\n"
