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


def confusion_chart(
    confusion: list[list[int]], classes: list[str], title: str, normalise: bool = True
) -> alt.LayerChart:
    """A heatmap: rows the true class, columns the predicted one, counts written in each cell.

    With `normalise`, the colour is the share of the row (the recall of each true class), so a
    rare class is as readable as a common one; the numbers stay raw counts.
    """
    rows = []
    for i, true in enumerate(classes):
        total = sum(confusion[i]) or 1
        for j, predicted in enumerate(classes):
            count = int(confusion[i][j])
            rows.append({"true": true, "predicted": predicted, "count": count, "share": count / total})
    table = pd.DataFrame(rows)
    colour = "share" if normalise else "count"
    colour_title = "share of the row" if normalise else "faces"
    base = alt.Chart(table).encode(
        x=alt.X("predicted:N", sort=classes, title="Predicted"),
        y=alt.Y("true:N", sort=classes, title="True"),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(f"{colour}:Q", scale=alt.Scale(scheme="blues"), title=colour_title),
        tooltip=["true", "predicted", "count", alt.Tooltip("share:Q", format=".1%")],
    )
    high = alt.datum[colour] > 0.5 * max(table[colour].max(), 1e-9)  # white text on dark cells
    counts = base.mark_text(fontSize=12).encode(
        text="count:Q", color=alt.condition(high, alt.value("white"), alt.value("black"))
    )
    return (cells + counts).properties(
        title=title,
        width=max(240, 44 * len(classes)),
        height=max(220, 40 * len(classes)),
        autosize=alt.AutoSizeParams(type="pad"),  # Streamlit's default "fit" squashes the cells
    )


def reliability_chart(calibration: dict, title: str) -> alt.LayerChart:
    """Accuracy against confidence per confidence bin, before and after temperature scaling.

    `calibration`: a card's calibration report (reliability_before/after: bins with low, high,
    n, confidence, accuracy). On the diagonal, a model is right as often as it says it is.
    """
    rows = [
        {**b, "probabilities": stage}
        for stage, key in (("as trained (T = 1)", "reliability_before"),
                           (f"calibrated (T = {calibration['temperature']:.2f})", "reliability_after"))
        for b in calibration.get(key, [])
    ]  # fmt: skip
    table = pd.DataFrame(rows, columns=["low", "high", "n", "confidence", "accuracy", "probabilities"])
    diagonal = alt.Chart(pd.DataFrame({"x": [0.0, 1.0]})).mark_line(color="gray", strokeDash=[4, 4]).encode(
        x="x:Q", y="x:Q"
    )
    points = (
        alt.Chart(table)
        .mark_line(point=True)
        .encode(
            x=alt.X("confidence:Q", title="Confidence (mean top probability in the bin)", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("accuracy:Q", title="Accuracy in the bin", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("probabilities:N", title="Probabilities"),
            size=alt.Size("n:Q", title="Faces in the bin", legend=None),
            tooltip=["probabilities", alt.Tooltip("low:Q", format=".2f"), alt.Tooltip("high:Q", format=".2f"), "n",
                     alt.Tooltip("confidence:Q", format=".3f"), alt.Tooltip("accuracy:Q", format=".3f")],
        )
    )  # fmt: skip
    return (diagonal + points).properties(title=title, width=360, height=300)


def training_curves_chart(history: list[dict]) -> alt.HConcatChart:
    """Loss and accuracy per epoch, training against validation, side by side."""
    rows = []
    for record in history:
        for split, prefix in (("training", "train"), ("validation", "val")):
            for measure in ("loss", "accuracy"):
                value = record.get(f"{prefix}_{measure}")
                if value is not None and value == value:  # NaN: no validation split
                    rows.append(
                        {"epoch": record["epoch"], "split": split, "measure": measure, "value": value}
                    )
    table = pd.DataFrame(rows, columns=["epoch", "split", "measure", "value"])

    def panel(measure: str) -> alt.Chart:
        return (
            alt.Chart(table[table["measure"] == measure], title=measure.capitalize())
            .mark_line(point=True)
            .encode(
                x=alt.X("epoch:Q", title="Epoch", axis=alt.Axis(tickMinStep=1)),
                y=alt.Y(
                    "value:Q",
                    title=measure.capitalize(),
                    scale=alt.Scale(zero=False),
                    axis=alt.Axis(format=".0%" if measure == "accuracy" else ".2f"),
                ),
                color=alt.Color("split:N", title=None, sort=["training", "validation"]),
                tooltip=["epoch", "split", alt.Tooltip("value:Q", format=".3f")],
            )
            .properties(width=300, height=220)
        )

    return alt.hconcat(panel("loss"), panel("accuracy"), title="Training curves")


def probabilities_chart(probabilities: dict[str, float], title: str) -> alt.Chart:
    """Horizontal bars of class probabilities, most likely first and highlighted."""
    table = pd.DataFrame({"expression": list(probabilities), "probability": list(probabilities.values())})
    table = table.sort_values("probability", ascending=False)
    table["top"] = [True] + [False] * (len(table) - 1)
    return (
        alt.Chart(table, title=title)
        .mark_bar()
        .encode(
            x=alt.X(
                "probability:Q",
                title="Probability",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%", values=[0, 0.25, 0.5, 0.75, 1]),
            ),
            y=alt.Y("expression:N", sort=list(table["expression"]), title=None),
            color=alt.condition(alt.datum.top, alt.value("#d62728"), alt.value("#9ecae1")),
            tooltip=["expression", alt.Tooltip("probability:Q", format=".1%")],
        )
        # fit-x: as wide as the page, but tall enough to read every label (Streamlit's "fit" squashes it)
        .properties(
            height=max(120, 26 * len(table)), autosize=alt.AutoSizeParams(type="fit-x", contains="padding")
        )
    )


# --- micro-expressions (pages/micro.py) ---------------------------------------------------

# Categorical colours for a model's classes, in the order of its card (Tableau 10, without the
# red and blue that mark micro and macro intervals).
CLASS_PALETTE = ("#9467bd", "#2ca02c", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def class_colors(classes: list[str]) -> dict[str, str]:
    """A colour per class of the model (its `none` class is not drawn), stable in the card's order."""
    shown = [c for c in classes if c != "none"]
    return {c: CLASS_PALETTE[i % len(CLASS_PALETTE)] for i, c in enumerate(shown)}
TIMELINE_WIDTH = 640
MICRO_TIMELINE_POINTS = 1200  # longer clips are max-pooled to this many time steps, so the chart stays light


def _pooled_timeline(timeline: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """At most MICRO_TIMELINE_POINTS rows: each bin keeps its maxima (a brief peak is never averaged away)."""
    if len(timeline) <= MICRO_TIMELINE_POINTS:
        return timeline[["time_s", *columns]]
    bins = (pd.RangeIndex(len(timeline)) * MICRO_TIMELINE_POINTS // len(timeline)).to_numpy()
    grouped = timeline.groupby(bins)
    return grouped["time_s"].first().to_frame().join(grouped[columns].max())


def micro_timeline_selections(intervals: pd.DataFrame) -> list[str]:
    """The selections `micro_timeline_chart` defines: "interval" only when there are intervals to click."""
    return ["interval", "time"] if len(intervals) else ["time"]


def micro_timeline_chart(
    timeline: pd.DataFrame,
    intervals: pd.DataFrame,
    classes: list[str],
    threshold: float,
    title: str,
    chosen_time: float | None = None,
    chosen_interval: int | None = None,
) -> alt.VConcatChart:
    """Spotting score, class probabilities and AU-region activity over time, the spotted intervals shaded.

    `timeline`: time_s, score, p_<class>..., region_<name>... per frame; `intervals`: onset_s,
    offset_s, kind, label (one row each). `chosen_time` (seconds) is marked by a vertical rule on
    every panel and the interval at index `chosen_interval` (0-based) is outlined.

    Clicking the score panel selects: "interval" (its 1-based `interval` number) on a shaded
    interval, else "time" (the `time_s` of the time step clicked), as Streamlit selections.
    """
    regions = [c for c in timeline.columns if c.startswith("region_")]
    probabilities = [f"p_{c}" for c in classes if c != "none" and f"p_{c}" in timeline.columns]
    table = _pooled_timeline(timeline, ["score", *probabilities, *regions])
    x = alt.X("time_s:Q", title="Time (s)", scale=alt.Scale(domain=[0, float(timeline["time_s"].max())]))
    intervals = intervals.assign(
        interval=range(1, len(intervals) + 1), chosen=[i == chosen_interval for i in range(len(intervals))]
    )
    shade, marker = _micro_interval_shade(intervals), _micro_time_rule(chosen_time)
    panels = [_score_panel(table, x, intervals, shade, marker, threshold)]
    if probabilities:
        shaded = [shade] if len(intervals) else []
        panels.append(_probability_panel(table, x, probabilities, class_colors(classes), shaded, marker))
    if regions:
        panels.append(_region_panel(table, x, regions, marker))
    return alt.vconcat(*panels, title=title).resolve_scale(color="independent")


def _score_panel(table, x, intervals: pd.DataFrame, shade, marker: list, threshold: float) -> alt.LayerChart:
    score = alt.Chart(table).mark_line(color="black", strokeWidth=1).encode(x=x, y=alt.Y("score:Q", title="Spotting score"))
    rule = (
        alt.Chart(pd.DataFrame({"threshold": [threshold]})).mark_rule(strokeDash=[4, 4], color="gray").encode(y="threshold:Q")
    )
    # Clickable layers under the line: one invisible full-height step per time step ("time"), and the
    # shaded intervals above them ("interval"), so a click inside an interval picks the interval.
    clickable = [_micro_time_steps(table, x)]
    if len(intervals):  # an empty table has no column types for Vega-Lite
        clickable.append(shade.add_params(alt.selection_point(name="interval", fields=["interval"], on="click", clear=False)))
    return alt.layer(*clickable, score, rule, *marker).properties(
        width=TIMELINE_WIDTH, height=150, title="Spotting score (noise units): click a time or an interval"
    )


def _probability_panel(table, x, probabilities: list[str], colors: dict[str, str], shaded: list, marker: list):
    long = table.melt("time_s", probabilities, var_name="class", value_name="probability")
    long["class"] = long["class"].str.removeprefix("p_")
    lines = alt.Chart(long).mark_line(strokeWidth=1.2).encode(
        x=x,
        y=alt.Y("probability:Q", title="Probability", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("class:N", title="Class", scale=alt.Scale(domain=list(colors), range=list(colors.values()))),
        tooltip=["class", alt.Tooltip("time_s:Q", format=".2f"), alt.Tooltip("probability:Q", format=".2f")],
    )
    return (
        alt.layer(*shaded, lines, *marker)
        .resolve_scale(color="independent")
        .properties(width=TIMELINE_WIDTH, height=120, title="Class probabilities (MicroLSTM)")
    )


def _region_panel(table, x, regions: list[str], marker: list) -> alt.LayerChart:
    names = [r.removeprefix("region_").replace("_", " ") for r in regions]
    long = table.melt("time_s", regions, var_name="region", value_name="activity")
    long["region"] = long["region"].str.removeprefix("region_").str.replace("_", " ")
    long["time_end"] = long["time_s"] + _micro_step(table)
    heat = alt.Chart(long).mark_rect().encode(
        x=x,
        x2="time_end:Q",
        y=alt.Y("region:N", title="AU region", sort=names),
        color=alt.Color("activity:Q", title="Activity", scale=alt.Scale(scheme="orangered", domain=[0, 10], clamp=True)),
        tooltip=["region", alt.Tooltip("time_s:Q", format=".2f"), alt.Tooltip("activity:Q", format=".1f")],
    )
    return alt.layer(heat, *marker).properties(
        width=TIMELINE_WIDTH, height=22 * len(regions), title="AU-region activity (noise units)"
    )


def _micro_step(table: pd.DataFrame) -> float:
    """The time between two rows of the (pooled) timeline, in seconds."""
    step = float(table["time_s"].diff().median()) if len(table) > 1 else 1.0
    return step if step == step else 1.0


def _micro_interval_shade(intervals: pd.DataFrame) -> alt.Chart:
    """The spotted intervals, red micro and blue macro; the chosen one darker and outlined."""
    return (
        alt.Chart(intervals)
        .mark_rect()
        .encode(
            x="onset_s:Q",
            x2="offset_s:Q",
            color=alt.Color(
                "kind:N", scale=alt.Scale(domain=["micro", "macro"], range=["#d62728", "#1f77b4"])
            ),
            opacity=alt.condition(alt.datum.chosen, alt.value(0.45), alt.value(0.18)),
            stroke=alt.condition(alt.datum.chosen, alt.value("black"), alt.value(None)),
            strokeWidth=alt.condition(alt.datum.chosen, alt.value(1.5), alt.value(0)),
            tooltip=[
                "interval",
                "kind",
                "label",
                alt.Tooltip("onset_s:Q", format=".2f"),
                alt.Tooltip("offset_s:Q", format=".2f"),
            ],
        )
    )


def _micro_time_steps(table: pd.DataFrame, x: alt.X) -> alt.Chart:
    """Invisible full-height steps, one per row of the timeline: clicking one selects its time ("time")."""
    steps = table[["time_s", "score"]].assign(time_end=table["time_s"] + _micro_step(table))
    pick = alt.selection_point(name="time", fields=["time_s"], on="click", clear=False)
    return (
        alt.Chart(steps)
        .mark_rect(opacity=0.001, color="white")  # not 0: a fully transparent mark gets no clicks
        .encode(
            x=x,
            x2="time_end:Q",
            tooltip=[alt.Tooltip("time_s:Q", format=".2f"), alt.Tooltip("score:Q", format=".1f")],
        )
        .add_params(pick)
    )


def _micro_time_rule(chosen_time: float | None) -> list[alt.Chart]:
    """A vertical rule at the chosen time (none when there is no choice)."""
    if chosen_time is None:
        return []
    return [
        alt.Chart(pd.DataFrame({"time_s": [float(chosen_time)]}))
        .mark_rule(color="black", strokeWidth=1.5)
        .encode(x="time_s:Q", tooltip=[alt.Tooltip("time_s:Q", title="chosen (s)", format=".2f")])
    ]


# ---- Action Units (pages/au.py, the Explore page's attribution by region) ----


def au_heatmap_chart(
    table: pd.DataFrame, aus: list[str], title: str, selected: tuple[str, int] | None = None
) -> alt.Chart:
    """Maps (rows) by AUs (columns) of one layer, coloured by score (red: responds more when the AU
    is present); a dot marks q < 0.05. Clicking a cell selects it (the "cell" selection)."""
    table = table.assign(significant=table["q_value"] < 0.05)
    limit = max(float(table["score"].abs().max()), 1e-9)
    pick = alt.selection_point(name="cell", fields=["au", "channel"], on="click", clear=False)
    base = alt.Chart(table).encode(
        x=alt.X(
            "au:N",
            sort=aus,
            title="Action Unit",
            axis=alt.Axis(labelAngle=-90, labelOverlap=False, orient="top"),
        ),
        y=alt.Y("channel:O", title="Feature map (channel)", axis=alt.Axis(labelFontSize=8)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "score:Q", scale=alt.Scale(scheme="redblue", reverse=True, domain=[-limit, limit]), title="score"
        ),
        tooltip=[
            "channel", "au", alt.Tooltip("score:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
            alt.Tooltip("ci_high:Q", format=".3f"), alt.Tooltip("q_value:Q", format=".3g"), "rank", "n_present",
        ],
    ).add_params(pick)  # fmt: skip
    layers = [cells, base.transform_filter(alt.datum.significant).mark_circle(size=6, color="black")]
    if selected is not None:
        chosen = table[(table["au"] == selected[0]) & (table["channel"] == selected[1])]
        layers.append(alt.Chart(chosen).mark_rect(fill=None, stroke="black", strokeWidth=2)
                      .encode(x=alt.X("au:N", sort=aus), y="channel:O"))  # fmt: skip
    rows = table["channel"].nunique()
    return alt.layer(*layers).properties(
        title=title,
        width=max(300, 22 * len(aus)),
        height=max(160, 5 * rows),
        autosize=alt.AutoSizeParams(type="pad"),
    )


def au_ranking_chart(table: pd.DataFrame, title: str) -> alt.LayerChart:
    """Maps ranked for one AU: a bar per map (its score) with the bootstrap 95% CI as a whisker."""
    table = table.assign(
        map=table["layer"].str.rsplit(".", n=1).str[-1] + " #" + table["channel"].astype(str)
    )
    order = list(table["map"])
    base = alt.Chart(table).encode(y=alt.Y("map:N", sort=order, title=None))
    bars = base.mark_bar(color="#9ecae1").encode(
        x=alt.X("score:Q", title="score (95% CI)"),
        tooltip=["map", alt.Tooltip("score:Q", format=".3f"), alt.Tooltip("ci_low:Q", format=".3f"),
                 alt.Tooltip("ci_high:Q", format=".3f"), alt.Tooltip("q_value:Q", format=".3g")],
    )  # fmt: skip
    whiskers = base.mark_rule(color="black").encode(x="ci_low:Q", x2="ci_high:Q")
    return (bars + whiskers).properties(
        title=title,
        height=max(120, 20 * len(table)),
        autosize=alt.AutoSizeParams(type="fit-x", contains="padding"),
    )


def region_share_chart(table: pd.DataFrame, title: str) -> alt.Chart:
    """The share of positive attribution in each AU region (and elsewhere), as horizontal bars."""
    return (
        alt.Chart(table, title=title)
        .mark_bar(color="#d62728")
        .encode(
            x=alt.X("share:Q", title="Share of positive attribution", axis=alt.Axis(format="%")),
            y=alt.Y("region:N", sort=list(table["region"]), title=None),
            tooltip=["region", "aus", alt.Tooltip("share:Q", format=".1%"), "pixels"],
        )
        .properties(
            height=max(120, 24 * len(table)), autosize=alt.AutoSizeParams(type="fit-x", contains="padding")
        )
    )


# ---- Transfer page ------------------------------------------------------------------------------

TRANSFER_MODE_NAMES = {
    "head": "frozen features, new head",
    "full": "full fine-tuning",
    "scratch": "from scratch",
}


def accuracy_matrix_chart(rows: list[dict]) -> alt.LayerChart:
    """Models x datasets: accuracy as colour, '57.2% [51.9, 62.5]' written in each cell."""
    table = pd.DataFrame(rows)
    table["cell"] = [
        f"{100 * a:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
        if lo is not None and lo == lo
        else f"{100 * a:.1f}%"
        for a, lo, hi in zip(table["accuracy"], table["ci_low"], table["ci_high"], strict=True)
    ]
    base = alt.Chart(table).encode(
        x=alt.X("dataset:N", title="Tested on", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("model:N", title=None),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("accuracy:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="Accuracy"),
        tooltip=["model", "dataset", "what", "classes", "n", alt.Tooltip("accuracy:Q", format=".1%"),
                 alt.Tooltip("ci_low:Q", format=".1%"), alt.Tooltip("ci_high:Q", format=".1%")],
    )  # fmt: skip
    text = base.mark_text(fontSize=12).encode(
        text="cell:N", color=alt.condition(alt.datum.accuracy > 0.6, alt.value("white"), alt.value("black"))
    )
    kind = base.mark_text(fontSize=10, dy=14, fontStyle="italic").encode(
        text="what:N", color=alt.condition(alt.datum.accuracy > 0.6, alt.value("white"), alt.value("#555"))
    )
    return (cells + text + kind).properties(
        title="Accuracy: each model on each dataset (95% CI)",
        width=max(300, 190 * table["dataset"].nunique()),
        height=max(120, 56 * table["model"].nunique()),
        autosize=alt.AutoSizeParams(type="pad"),
    )


def class_difference_chart(rows: list[dict], source: str, target: str) -> alt.Chart:
    """Recall per shared class on the model's own test data and on the other dataset, side by side."""
    long = pd.DataFrame(
        [{"class": r["class"], "data": source, "recall": r["source_recall"], "faces": r["source_support"]}
         for r in rows]
        + [{"class": r["class"], "data": target, "recall": r["target_recall"], "faces": r["target_support"]}
           for r in rows]
    )  # fmt: skip
    classes = [r["class"] for r in rows]
    return (
        alt.Chart(long, title=f"Recall per expression: {source} vs {target}")
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=classes, title="Expression", axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("data:N", sort=[source, target]),
            y=alt.Y("recall:Q", title="Recall", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("data:N", sort=[source, target], title=None),
            tooltip=["class", "data", alt.Tooltip("recall:Q", format=".1%"), "faces"],
        )
        .properties(width=max(300, 70 * len(classes)), height=240, autosize=alt.AutoSizeParams(type="pad"))
    )


def learning_curve_chart(points: list[dict], ks: list[str], title: str) -> alt.LayerChart:
    """Accuracy against labelled faces per class, one line per mode with its 95% CI band."""
    table = pd.DataFrame(points)
    table["mode name"] = table["mode"].map(TRANSFER_MODE_NAMES).fillna(table["mode"])
    order = [TRANSFER_MODE_NAMES.get(m, m) for m in ("head", "full", "scratch")]
    base = alt.Chart(table).encode(
        x=alt.X("k:O", sort=ks, title="Labelled faces (sequences) per class", axis=alt.Axis(labelAngle=0)),
        color=alt.Color("mode name:N", sort=order, title=None),
    )
    band = base.mark_area(opacity=0.18).encode(y=alt.Y("ci_low:Q"), y2="ci_high:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("accuracy:Q", title="Accuracy on held-out subjects", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        tooltip=["mode name", "k", alt.Tooltip("accuracy:Q", format=".1%"), alt.Tooltip("ci_low:Q", format=".1%"),
                 alt.Tooltip("ci_high:Q", format=".1%"), "n_train", "n_units"],
    )  # fmt: skip
    return (band + line).properties(
        title=title, width=460, height=280, autosize=alt.AutoSizeParams(type="pad")
    )


def probe_heatmap_chart(rows: list[dict], aus: list[str], layers: list[str], title: str) -> alt.LayerChart:
    """Layer x AU: F1 of a linear probe, written in each cell; tooltips carry the 95% CI."""
    table = pd.DataFrame(rows)
    base = alt.Chart(table).encode(
        x=alt.X("au:N", sort=aus, title="Action Unit", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("layer:N", sort=layers, title=None),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("f1:Q", scale=alt.Scale(scheme="greens", domain=[0, 1]), title="F1"),
        tooltip=["layer", "au", alt.Tooltip("f1:Q", format=".2f"), alt.Tooltip("ci_low:Q", format=".2f"),
                 alt.Tooltip("ci_high:Q", format=".2f"), "n_present", "n_absent"],
    )  # fmt: skip
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("f1:Q", format=".2f"),
        color=alt.condition(alt.datum.f1 > 0.6, alt.value("white"), alt.value("black")),
    )
    return (cells + text).properties(
        title=title, width=max(300, 40 * len(aus)), height=max(120, 36 * len(layers)),
        autosize=alt.AutoSizeParams(type="pad"),
    )  # fmt: skip


def shift_chart(rows: list[dict], title: str) -> alt.Chart:
    """The most shifted feature maps: Kolmogorov-Smirnov D per map, largest on top."""
    table = pd.DataFrame(rows)
    table["map"] = [
        f"{layer.rsplit('.', 1)[-1]} #{channel}"
        for layer, channel in zip(table["layer"], table["channel"], strict=True)
    ]
    return (
        alt.Chart(table, title=title)
        .mark_bar()
        .encode(
            x=alt.X("ks:Q", title="Kolmogorov-Smirnov D", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("map:N", sort=list(table["map"]), title=None),
            color=alt.Color("higher on:N", title="Responds more on"),
            tooltip=[
                "map",
                alt.Tooltip("ks:Q", format=".3f"),
                alt.Tooltip("p_value:Q", format=".2g"),
                "higher on",
                alt.Tooltip("median_a:Q", format=".3f"),
                alt.Tooltip("median_b:Q", format=".3f"),
            ],
        )  # fmt: skip
        .properties(width=420, height=max(120, 20 * len(table)), autosize=alt.AutoSizeParams(type="pad"))
    )


def micro_probe_chart(rows: list[dict], chance: float, title: str) -> alt.LayerChart:
    """Accuracy per layer of the micro-expression probe, 95% CI whiskers, and chance as a dashed line."""
    table = pd.DataFrame(rows)[["layer", "accuracy", "ci_low", "ci_high", "macro_f1"]]
    order = list(table["layer"])
    base = alt.Chart(table).encode(y=alt.Y("layer:N", sort=order, title=None))
    bars = base.mark_bar(color="#6a51a3").encode(
        x=alt.X("accuracy:Q", title="Accuracy (held-out identities)", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%")),
        tooltip=["layer", alt.Tooltip("accuracy:Q", format=".1%"), alt.Tooltip("ci_low:Q", format=".1%"),
                 alt.Tooltip("ci_high:Q", format=".1%"), alt.Tooltip("macro_f1:Q", format=".2f")],
    )  # fmt: skip
    whiskers = base.mark_rule(color="black").encode(x="ci_low:Q", x2="ci_high:Q")
    floor = (
        alt.Chart(pd.DataFrame({"chance": [chance]}))
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(x="chance:Q")
    )
    return (bars + whiskers + floor).properties(
        title=title, width=420, height=max(120, 30 * len(table)), autosize=alt.AutoSizeParams(type="pad")
    )


# ---- Study page ---------------------------------------------------------------------------------

NO_CONDITION = "(no condition)"
RATE_NAMES = {"micro_per_min": "Micro-expressions", "macro_per_min": "Macro-expressions",
              "intervals_per_min": "Intervals (micro and macro)"}  # fmt: skip


def condition_rate_chart(conditions: pd.DataFrame, metric: str = "micro_per_min", title: str = "") -> alt.LayerChart:
    """A study's rate per condition (the mean over its participants) as bars, with the 95% CI as whiskers
    (`<metric>_low`, `<metric>_high`: a bootstrap over participants; none with fewer than two)."""
    table = pd.DataFrame({
        "condition": conditions["condition"].fillna("").astype(str).replace("", NO_CONDITION),
        "participants": conditions["participants"], "clips": conditions["clips"], "rate": conditions[metric],
        "low": conditions[f"{metric}_low"], "high": conditions[f"{metric}_high"],
    })  # fmt: skip
    noun = RATE_NAMES.get(metric, metric)
    base = alt.Chart(table).encode(
        x=alt.X("condition:N", sort=list(table["condition"]), title="Condition", axis=alt.Axis(labelAngle=0))
    )
    bars = base.mark_bar(color="#d62728", opacity=0.8).encode(
        y=alt.Y("rate:Q", title=f"{noun} per minute (95% CI)"),
        tooltip=["condition", "participants", "clips", alt.Tooltip("rate:Q", title="per minute", format=".2f"),
                 alt.Tooltip("low:Q", title="CI low", format=".2f"), alt.Tooltip("high:Q", title="CI high", format=".2f")],
    )  # fmt: skip
    whiskers = base.mark_errorbar(ticks=True, color="black").encode(y=alt.Y("low:Q", title=None), y2="high:Q")
    return (bars + whiskers).properties(
        title=title or f"{noun} per minute by condition (mean over participants, 95% CI)",
        width=max(240, 90 * len(table)),
        height=280,
        autosize=alt.AutoSizeParams(type="pad"),
    )
