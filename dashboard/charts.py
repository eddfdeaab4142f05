"""Altair charts the pages share."""

import altair as alt
import pandas as pd

from core.labels import CANONICAL_LABELS


def label_counts_chart(table: pd.DataFrame) -> alt.Chart:
    """Faces per expression, in the canonical label order."""
    counts = table.fillna({"label": "unlabelled"}).groupby("label").size().reset_index(name="faces")
    order = [label for label in (*CANONICAL_LABELS, "unlabelled") if label in set(counts["label"])]
    return (
        alt.Chart(counts, title="Faces per expression")
        .mark_bar()
        .encode(
            x=alt.X("label:N", sort=order, title="Expression"),
            y=alt.Y("faces:Q", title="Faces"),
            tooltip=["label", "faces"],
        )
        .properties(height=240)
    )
