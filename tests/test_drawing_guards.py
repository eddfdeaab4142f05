"""Drawing never raises on what analyses can return: no intervals, no face in some or all frames,
one frame, dead maps, an empty table. Property-based (Hypothesis) over the result types; each chart
is also rendered to PNG as the download buttons do, so Vega-Lite errors count too."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.explain.figures import feature_map_grid
from core.micro.intervals import Interval
from core.micro.track import REGIONS
from core.models.calibration import calibration_report
from dashboard.charts import (
    au_ranking_chart,
    confusion_chart,
    label_counts_chart,
    micro_timeline_chart,
    micro_timeline_selections,
    region_share_chart,
    reliability_chart,
)
from dashboard.export import chart_png

SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLASSES = ["none", "happiness", "disgust", "repression", "surprise", "others"]


@st.composite
def spotting_runs(draw):
    """A timeline of 1 to 400 frames (some or all without a face) and 0 to 4 intervals inside it."""
    frames = draw(st.integers(1, 400))
    fps = draw(st.sampled_from([1.0, 25.0, 30.0, 200.0]))
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    found = rng.random(frames) < draw(st.sampled_from([0.0, 0.5, 1.0]))
    timeline = {"time_s": np.arange(frames) / fps, "found": found.astype(int), "score": rng.normal(0, 3, frames)}
    for region in REGIONS:
        timeline[f"region_{region}"] = rng.normal(0, 1, frames)
    classes = draw(st.sampled_from([[], CLASSES]))
    for name in classes:
        timeline[f"p_{name}"] = rng.random(frames)
    intervals = []
    for _ in range(draw(st.integers(0, 4))):
        onset = int(rng.integers(0, frames))
        offset = int(rng.integers(onset, frames))
        intervals.append(Interval.at(onset, (onset + offset) // 2, offset, fps, "happiness", 0.7))
    return pd.DataFrame(timeline), intervals, classes


def _param_names(spec):
    """Every selection parameter a Vega-Lite spec defines, wherever Altair put it."""
    if isinstance(spec, dict):
        for param in spec.get("params", []):
            if "select" in param:
                yield param["name"]
        for value in spec.values():
            yield from _param_names(value)
    elif isinstance(spec, list):
        for item in spec:
            yield from _param_names(item)


@SETTINGS
@given(spotting_runs(), st.booleans())
def test_the_timeline_draws_any_run(run, chose):
    timeline, intervals, classes = run
    table = pd.DataFrame([i.to_json() for i in intervals], columns=list(Interval.__dataclass_fields__))
    index = 0 if intervals and chose else None
    time = float(timeline["time_s"].iloc[-1]) if chose else None
    chart = micro_timeline_chart(timeline, table, classes, 5.0, "clip: model", time, index)
    spec = chart.to_dict()
    names = set(_param_names(spec))
    assert set(micro_timeline_selections(table)) <= names, "the page asks only for selections the chart defines"
    assert chart_png(chart, scale=0.5)[:4] == b"\x89PNG"


@SETTINGS
@given(st.lists(st.sampled_from(["happy", "sad", None]), max_size=30))
def test_label_counts_draw_any_dataset(labels):
    chart = label_counts_chart(pd.DataFrame({"label": labels}, dtype=object))
    assert chart_png(chart, scale=0.5)[:4] == b"\x89PNG"


@SETTINGS
@given(st.integers(1, 8), st.integers(0, 6))
def test_confusion_and_reliability_draw_empty_and_degenerate_scores(classes, n):
    confusion = [[0] * classes for _ in range(classes)]
    assert chart_png(confusion_chart(confusion, [f"c{i}" for i in range(classes)], "t"), scale=0.5)[:4] == b"\x89PNG"
    rng = np.random.default_rng(n)
    logits, labels = rng.normal(size=(n, max(classes, 2))), rng.integers(0, max(classes, 2), n)
    report = calibration_report(logits, labels, 1.5, "test") if n else {"temperature": 1.0, "reliability_before": [],
                                                                     "reliability_after": []}  # fmt: skip
    assert chart_png(reliability_chart(report, "t"), scale=0.5)[:4] == b"\x89PNG"


def test_empty_au_tables_and_region_shares_draw():
    empty = pd.DataFrame(columns=["layer", "channel", "score", "ci_low", "ci_high", "q_value", "rank"])
    assert chart_png(au_ranking_chart(empty, "t"), scale=0.5)[:4] == b"\x89PNG"
    no_regions = pd.DataFrame(columns=["region", "aus", "share", "pixels"])
    assert chart_png(region_share_chart(no_regions, "t"), scale=0.5)[:4] == b"\x89PNG"


@SETTINGS
@given(st.integers(1, 40), st.integers(1, 12), st.sampled_from(["dead", "negative", "one"]))
def test_feature_map_grids_draw_dead_and_single_maps(channels, side, kind):
    maps = {"dead": np.zeros, "negative": lambda s: -np.ones(s), "one": np.ones}[kind]((channels, side, side))
    grid = feature_map_grid(maps, columns=8)
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
