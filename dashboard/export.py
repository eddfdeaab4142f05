"""Downloads: every figure as PNG and SVG, every table as CSV.

Conversions are plain functions (tested without Streamlit); `download_*` draw the buttons.
"""

import base64
import io
import re

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import vl_convert
from PIL import Image


def image_png(image: np.ndarray) -> bytes:
    """A uint8 image (gray or RGB) as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def image_svg(image: np.ndarray) -> str:
    """An SVG that holds the image at its pixel size, so it scales cleanly on a slide."""
    height, width = image.shape[:2]
    data = base64.b64encode(image_png(image)).decode()
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<image width="{width}" height="{height}" style="image-rendering:pixelated" '
        f'xlink:href="data:image/png;base64,{data}"/></svg>'
    )


def chart_png(chart: alt.TopLevelMixin, scale: float = 2.0) -> bytes:
    return vl_convert.vegalite_to_png(chart.to_dict(), scale=scale)


def chart_svg(chart: alt.TopLevelMixin) -> str:
    return vl_convert.vegalite_to_svg(chart.to_dict())


def table_csv(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode()


def _file_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "figure"


def download_image(image: np.ndarray, name: str, key: str) -> None:
    """PNG and SVG buttons for an image."""
    stem = _file_stem(name)
    left, right = st.columns(2)
    _button(left, "PNG", lambda: image_png(image), f"{stem}.png", "image/png", f"{key}-png")
    _button(right, "SVG", lambda: image_svg(image), f"{stem}.svg", "image/svg+xml", f"{key}-svg")


def download_chart(chart: alt.TopLevelMixin, name: str, key: str) -> None:
    """PNG and SVG buttons for an Altair chart (rendered offline by vl-convert)."""
    stem = _file_stem(name)
    left, right = st.columns(2)
    _button(left, "PNG", lambda: chart_png(chart), f"{stem}.png", "image/png", f"{key}-png")
    _button(right, "SVG", lambda: chart_svg(chart), f"{stem}.svg", "image/svg+xml", f"{key}-svg")


def download_table(table: pd.DataFrame, name: str, key: str) -> None:
    _button(st, "CSV", lambda: table_csv(table), f"{_file_stem(name)}.csv", "text/csv", f"{key}-csv")


def _button(where, label: str, make, file_name: str, mime: str, key: str) -> None:
    # The file is made only when the button is clicked, and the click does not rerun the page.
    where.download_button(
        f":material/download: {label}", make, file_name, mime, key=key, on_click="ignore", width="stretch"
    )
