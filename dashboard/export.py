"""Downloads: every figure as PNG and SVG, every table as CSV.

Conversions are plain functions (tested without Streamlit); `download_*` draw the buttons, and
beside them the Pin button that sends the figure or table to the findings board
(`dashboard.pinning`), so every figure of every page can be pinned.
"""

import base64
import io
import math
import re

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import vl_convert
from PIL import Image

from dashboard.pinning import pin_button

# A pinned chart's PNG fills a slide's picture area (12.5 x 5.5 in) at 300 dpi.
PRINT_BOX_PX = (12.5 * 300, 5.5 * 300)


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
    return vl_convert.vegalite_to_png(_spec(chart), scale=scale)


def chart_svg(chart: alt.TopLevelMixin) -> str:
    return vl_convert.vegalite_to_svg(_spec(chart))


def _spec(chart: alt.TopLevelMixin) -> dict:
    # Altair refuses to write out more than 5,000 rows; an AU heatmap of 384 maps x 29 AUs has 11,136,
    # and the page draws it, so its files must hold it too.
    with alt.data_transformers.disable_max_rows():
        return chart.to_dict()


def chart_print_png(chart: alt.TopLevelMixin, svg: str) -> bytes:
    """The chart as a PNG that fills a slide at 300 dpi (its SVG says the size it draws at)."""
    size = [re.search(rf'<svg[^>]*?\s{side}="([0-9.]+)', svg) for side in ("width", "height")]
    width, height = (float(found.group(1)) if found else 500.0 for found in size)
    fit = min(PRINT_BOX_PX[0] / max(width, 1.0), PRINT_BOX_PX[1] / max(height, 1.0))
    return chart_png(chart, scale=min(8.0, max(2.0, math.ceil(fit))))


def table_csv(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False).encode()


def file_stem(name: str) -> str:
    """A name made safe for a downloaded file."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "figure"


def download_image(image: np.ndarray, name: str, key: str) -> None:
    """PNG and SVG buttons for an image, and its Pin button."""
    stem = file_stem(name)
    left, middle, right = st.columns(3)
    download_button(left, "PNG", lambda: image_png(image), f"{stem}.png", "image/png", f"{key}-png")
    download_button(middle, "SVG", lambda: image_svg(image), f"{stem}.svg", "image/svg+xml", f"{key}-svg")
    pin_button(right, "figure", name, key, lambda: (image_png(image), image_svg(image)))


def download_chart(chart: alt.TopLevelMixin, name: str, key: str) -> None:
    """PNG and SVG buttons for an Altair chart (rendered offline by vl-convert), and its Pin button."""
    stem = file_stem(name)
    left, middle, right = st.columns(3)
    download_button(left, "PNG", lambda: chart_png(chart), f"{stem}.png", "image/png", f"{key}-png")
    download_button(middle, "SVG", lambda: chart_svg(chart), f"{stem}.svg", "image/svg+xml", f"{key}-svg")
    pin_button(right, "figure", name, key, lambda: _chart_figure(chart))


def download_table(table: pd.DataFrame, name: str, key: str) -> None:
    """A CSV button for a table, and its Pin button."""
    left, right = st.columns(2)
    download_button(left, "CSV", lambda: table_csv(table), f"{file_stem(name)}.csv", "text/csv", f"{key}-csv")
    pin_button(right, "table", name, key, lambda: (table_csv(table),))


def _chart_figure(chart: alt.TopLevelMixin) -> tuple[bytes, str]:
    svg = chart_svg(chart)
    return chart_print_png(chart, svg), svg


def download_button(where, label: str, make, file_name: str, mime: str, key: str) -> None:
    """A download button whose file `make()` builds only when clicked."""
    # The file is made only when the button is clicked, and the click does not rerun the page.
    where.download_button(
        f":material/download: {label}", make, file_name, mime, key=key, on_click="ignore", width="stretch"
    )
