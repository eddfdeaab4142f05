"""Models: each shipped model's card, how well it does, how it trained, and its layers."""

from dataclasses import asdict

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.models.architectures import ARCHITECTURES
from core.models.summary import (
    card_facts,
    compare_models,
    describe_architecture,
    headline_metrics,
    layer_table,
    reference_points,
    units_note,
    with_ci,
)
from core.models.zoo import card_of, load_checkpoint, read_manifest
from core.paths import confine
from dashboard.charts import confusion_chart, reliability_chart, training_curves_chart
from dashboard.export import download_chart, download_table
from dashboard.widgets import pick_model, show_error

# A user's checkpoint can be any of the image CNNs (the LSTM takes clip features, not faces).
CNN_ARCHITECTURES = [name for name in ARCHITECTURES if name != "micro_lstm"]


def show_table(rows: list[dict] | pd.DataFrame, name: str, key: str, **options) -> None:
    table = pd.DataFrame(rows)
    st.dataframe(table, hide_index=True, **options)
    download_table(table, name, key=key)


def show_layers(model, name: str, key: str) -> None:
    card = card_of(model)
    if card.get("architecture") == "micro_lstm":
        # An LSTM reads a sequence of per-frame features, not a face: shapes for one second at 30 fps.
        frames, features = 30, card["arch_args"]["feature_dim"]
        rows = layer_table(model, input_shape=(1, frames, features))
        shapes = f"frames x values for a {frames}-frame sequence of {features} features per frame"
    else:
        rows = layer_table(model)
        shapes = "channels x height x width for one 48x48 face"
    table = pd.DataFrame(rows)
    table["output_shape"] = [" x ".join(map(str, shape)) for shape in table["output_shape"]]
    st.caption(
        f"{len(table)} layers and {table['parameters'].sum():,} parameters; output shapes are "
        f"{shapes} (the batch is left out)."
    )
    show_table(table, f"{name}-layers", key=key, height=280)


def show_metrics(card: dict, name: str) -> None:
    headline = headline_metrics(card)
    if headline is None:
        st.info(
            "This model was trained without a held-out split or cross-validation, so its card holds no "
            "scores; `python -m core evaluate --model NAME ...` measures them on a dataset."
        )
        return
    metrics, source = headline
    f1_ci = metrics.get("macro_f1_ci") or [None, None]
    st.subheader("How well it does")
    left, middle, right = st.columns(3)
    left.metric(
        "Accuracy [95% CI]", with_ci(metrics["accuracy"], metrics.get("ci_low"), metrics.get("ci_high"))
    )
    middle.metric("Macro-F1 [95% CI]", with_ci(metrics.get("macro_f1"), *f1_ci))
    n, units = metrics.get("n", 0), metrics.get("n_units")
    if metrics.get("spotting"):  # a micro-expression model: its units are expressions in clips
        right.metric("Expressions (n)", f"{n:,} in {metrics.get('clips', '?')} clips")
        show_spotting(metrics, name)
        return
    right.metric("Faces (n)", f"{n:,}" if units in (None, n) else f"{n:,} ({units:,} sequences)")
    if metrics.get("flip_averaged"):
        flip = metrics["flip_averaged"]
        st.caption(
            "These are single forward passes, as every explanation view shows them. With flip averaging (each face "
            f"and its mirror image, `--flip`): accuracy {with_ci(flip['accuracy'], flip['ci_low'], flip['ci_high'])}."
        )
    st.caption(
        f"Measured on {source}. {units_note(metrics, card.get('training', {}).get('format'))} "
        "Macro-F1 weighs every expression equally, so a model that ignores a rare class scores low."
    )
    show_references(card, name)
    show_cv(card.get("cv"), name)
    show_calibration(card.get("calibration"), name)
    if metrics.get("per_class"):
        st.markdown("**Per expression**")
        rows = [{"expression": c, **scores} for c, scores in metrics["per_class"].items()]
        show_table(pd.DataFrame(rows).round(3), f"{name}-per-class", key="per-class")
    if metrics.get("confusion"):
        classes = metrics.get("classes") or card["classes"]
        chart = confusion_chart(metrics["confusion"], classes, f"Confusion matrix: {name}")
        st.altair_chart(chart, width="content")  # stretched, the cells would lose their square shape
        st.caption("Rows: the true expression; columns: the model's answer. Colour: share of the row.")
        download_chart(chart, f"{name}-confusion", key="confusion")


def show_references(card: dict, name: str) -> None:
    points = reference_points(card)
    if not points:
        return
    st.markdown("**To judge the score by**")
    show_table([asdict(p) for p in points], f"{name}-reference-points", key="references")


def show_calibration(calibration: dict | None, name: str) -> None:
    if not calibration or "ece_before" not in calibration:
        return
    st.markdown("**Are its probabilities honest?**")
    left, right = st.columns([1, 2])
    left.metric("Expected calibration error", f"{100 * calibration['ece_after']:.1f}%",
                delta=f"{100 * (calibration['ece_after'] - calibration['ece_before']):+.1f} points", delta_color="inverse")  # fmt: skip
    left.caption(
        f"Before temperature scaling {100 * calibration['ece_before']:.1f}%, after {100 * calibration['ece_after']:.1f}%, "
        f"on {calibration['n']:,} faces of {calibration['split']}; the temperature (T = {calibration['temperature']:.2f}) "
        f"was fitted on {calibration.get('fitted_on', 'faces the model did not train on')}. Every probability the "
        "dashboard and `predict` show is the calibrated one."
    )
    chart = reliability_chart(calibration, f"Reliability: {name}")
    with right:
        st.altair_chart(chart)
        download_chart(chart, f"{name}-reliability", key="reliability")


def show_spotting(metrics: dict, name: str) -> None:
    """A micro-expression model's held-out scores: recognition (UF1, UAR) and MEGC spotting."""
    st.caption(
        f"Recognition of the true expressions of {metrics.get('clips', '?')} held-out clips (spotting given): "
        f"UF1 {metrics['uf1']:.3f}, UAR {metrics['uar']:.3f}; accuracy with a 95% interval over clips. "
        f"Spotting below: {metrics.get('spotting_rule', 'MEGC, IoU >= 0.5')}."
    )
    rows = [
        {"spotter": method.replace("_", "-"), "kind": kind, **{k: round(v, 3) for k, v in scores.items()}}
        for method, kinds in metrics["spotting"].items()
        for kind, scores in kinds.items()
    ]
    show_table(rows, f"{name}-spotting", key="spotting")


def show_cv(cv: dict | None, name: str) -> None:
    if not cv:
        return
    st.markdown(
        f"**Cross-validation**: {cv['k']} folds, no {cv.get('unit', 'subject')} in two folds; "
        f"accuracy {100 * cv['mean']:.1f}% ± {100 * cv['sd']:.1f}% (mean ± sd over folds)."
    )
    show_table(cv["folds"], f"{name}-cv-folds", key="cv-folds")


def show_history(history: list[dict] | None, name: str) -> None:
    if not history:
        return
    st.subheader("How it trained")
    chart = training_curves_chart(history)
    st.altair_chart(chart)
    st.caption(
        "Validation curves far below the training ones mean the model learnt its training faces by heart."
    )
    download_chart(chart, f"{name}-training-curves", key="curves")
    download_table(pd.DataFrame(history), f"{name}-history", key="history")


def own_checkpoint() -> None:
    with st.expander("Load your own checkpoint"):
        st.caption("A .safetensors or .pt state dict of one of the architectures above (never unpickled).")
        path = st.text_input("Checkpoint file", key="ckpt-path", placeholder="/path/to/model.safetensors")
        architecture = st.selectbox("Architecture", CNN_ARCHITECTURES, key="ckpt-arch")
        left, middle, right = st.columns(3)
        width = left.number_input("Width multiplier", 0.05, 4.0, 1.0, 0.125, key="ckpt-width")
        classes = middle.number_input("Number of classes", 2, 20, 7, key="ckpt-classes")
        batch_norm = right.checkbox(
            "Has batch norm layers", key="ckpt-bn", help="A breuer2017 network before folding"
        )
        if not path.strip():
            return
        try:
            model = load_checkpoint(
                confine(path, "checkpoint file"),
                architecture,
                num_classes=int(classes),
                width=float(width),
                batch_norm=batch_norm,
            )
        except InputError as error:
            show_error(error)
            return
        st.success(f"Loaded {path.strip()} as {architecture}.", icon=":material/check_circle:")
        show_layers(model, "own-checkpoint", key="ckpt-layers")


st.title("Models")
st.caption(
    "The trained networks the dashboard explains: what each is, the data and command that made it, "
    "how well it does with 95% confidence intervals, and its layers."
)

picked = pick_model(include_micro=True)
if picked is not None:
    name, model = picked
    card = card_of(model)
    st.markdown(describe_architecture(card["architecture"]))
    with st.expander("Model card", expanded=True):
        facts = card_facts(card)
        show_table(facts, f"{name}-card", key="card", height=36 * (len(facts) + 1))  # all rows, no scroll
        if card.get("command"):
            st.code(card["command"], language="bash")
    if card.get("notes"):
        st.warning(card["notes"], icon=":material/info:")  # caveats travel with the numbers
    show_metrics(card, name)
    show_history(card.get("history"), name)
    st.subheader("Layers")
    show_layers(model, name, key="layers")

try:
    cards = read_manifest()
except (OSError, ValueError, KeyError):
    cards = {}  # the picker above has already said why
if cards:
    st.subheader("Compare all models")
    show_table(compare_models(cards), "models-compared", key="compare")

own_checkpoint()
