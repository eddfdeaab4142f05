"""Transfer: how the models do on a dataset they were not trained on, how fast they adapt with a
few labelled faces, what their layers know about Action Units, and which feature maps respond
differently on the two datasets (after Breuer & Kimmel 2017, arXiv 1705.01842)."""

import pandas as pd
import streamlit as st

from core.errors import InputError
from core.models.zoo import card_of, is_micro_card, read_manifest
from core.transfer import accuracy_matrix, known_results, label_map_rows
from core.transfer.cross import dataset_label
from core.transfer.runs import run_cross_dataset
from dashboard.charts import (
    TRANSFER_MODE_NAMES,
    accuracy_matrix_chart,
    class_difference_chart,
    learning_curve_chart,
    micro_probe_chart,
    probe_heatmap_chart,
    shift_chart,
)
from dashboard.export import download_chart, download_table
from dashboard.widgets import (
    pick_dataset,
    pick_model,
    progress_bar,
    query_choice,
    query_int,
    result_store,
    show_error,
)

DEFAULT_MAPS, MAX_MAPS = 15, 60
GRIDS = {1: "whole map (max over space)", 3: "3 x 3 grid (max per cell: keeps where)"}


def where(result: dict) -> str:
    """'ckplus' or 'fer2013 test': the dataset a result was computed on."""
    provenance = result["provenance"]
    return dataset_label(provenance["format"], provenance["split"])


def provenance_note(result: dict) -> str:
    p = result["provenance"]
    seeds = ", ".join(map(str, p.get("seeds", [])))
    data = ", ".join(
        f"{dataset_label(d['format'], d['split'])} (fingerprint {d['fingerprint']})"
        for d in p.get("data", [p])
    )
    return (
        f"Model sha256 {p['sha256'][:12]}…; data {data}; seeds {seeds}; computed {p['time']}"
        + (f" by `{p['command']}`" if p.get("command") else "")
        + f" ({result.get('origin', 'computed now')})."
    )


def newest(results: list[dict], hint: str) -> dict | None:
    """The newest result, or None after saying how to compute one."""
    if not results:
        st.info(hint)
        return None
    return results[0]


def short_layers(rows: list[dict]) -> list[dict]:
    """Rows with 'features.conv2' shown as 'conv2'."""
    return [{**row, "layer": row["layer"].rsplit(".", 1)[-1]} for row in rows]


def show(chart, table: pd.DataFrame, name: str, key: str) -> None:
    st.altair_chart(chart, width="content")
    download_chart(chart, name, key=f"{key}-chart")
    download_table(table, name, key=f"{key}-table")


def matrix_section(cards: dict, store) -> None:
    st.header("Accuracy across datasets")
    results = {
        name: known_results("cross_dataset", card.get("sha256", ""), store) for name, card in cards.items()
    }
    rows = accuracy_matrix(cards, results)
    if not rows:
        st.info("No model has scores yet: train one, or test one on another dataset below.")
        return
    table = pd.DataFrame(rows)
    show(accuracy_matrix_chart(rows), table, "transfer-accuracy-matrix", "matrix")
    st.caption(
        "Each row a model, each column a dataset. 'own test (card)': the model's held-out score from its "
        "model card, on all its classes (FER2013: the PublicTest split; CK+: subject-independent "
        "cross-validation). 'transfer': the model as it is, with no fine-tuning, on the classes both datasets "
        "share; its answer is its most likely shared class. Brackets: bootstrap 95% intervals (CK+ resamples "
        "sequences, not frames)."
    )


def cross_section(model_name: str, results: list[dict]) -> None:
    st.header("Without fine-tuning: the label mapping and each expression")
    if not results:
        st.info(f"{model_name} has not been tested on another dataset yet; test it below, or run "
                f"`python -m core transfer --model {model_name} --to FMT --root DIR`.")  # fmt: skip
        return
    targets = [where(r) for r in results]
    target = st.selectbox("Tested on", targets, index=query_choice("target", targets), key="transfer-target")
    st.query_params["target"] = target
    result = results[targets.index(target)]
    left, middle, right = st.columns(3)
    left.metric("Accuracy [95% CI]", f"{100 * result['accuracy']:.1f}% [{100 * result['ci_low']:.1f}, "
                f"{100 * result['ci_high']:.1f}]")  # fmt: skip
    if result.get("majority_accuracy") is not None:
        middle.metric("Always the commonest class", f"{100 * result['majority_accuracy']:.1f}%")
    if result.get("source_accuracy") is not None:
        right.metric("On its own test data", f"{100 * result['source_accuracy']:.1f}%")
    mapping = pd.DataFrame(label_map_rows(result))
    mapping_column, note_column = st.columns([2, 3])
    with mapping_column:
        st.dataframe(mapping, hide_index=True)
        download_table(mapping, f"{model_name}-label-map-{target}", key="label-map")
    with note_column:
        unshared = result.get("unshared_answers", {})
        st.caption(
            f"The classes both share are scored; faces of a class the model does not know ('(none)') are left "
            f"out. Had the model been free to answer any of its classes, it would have picked one the dataset "
            f"does not have ({', '.join(unshared.get('classes', {})) or 'none'}) for "
            f"{100 * unshared.get('share', 0):.0f}% of the faces. {provenance_note(result)}"
        )
    differences = result.get("per_class_difference") or []
    if differences:
        own = f"{result['source'].split(':')[0]} (own test)"
        chart = class_difference_chart(differences, own, target)
        show(chart, pd.DataFrame(differences), f"{model_name}-per-class-{target}", "per-class")
        st.caption(f"Recall of each shared expression: on the model's own held-out data ({result['source']}) "
                   f"and on {target}.")  # fmt: skip


def fresh_section(model_name: str, model) -> None:
    with st.expander("Test this model on another dataset now", icon=":material/play_arrow:"):
        picked = pick_dataset("transfer-dataset")
        if picked is None:
            return
        entry, samples = picked
        splits = ["all", *sorted({s.split for s in samples if s.split})]
        split = st.selectbox("Split", splits, index=query_choice("split", splits), key="transfer-split")
        st.query_params["split"] = split
        chosen = samples if split == "all" else [s for s in samples if s.split == split]
        if not st.button(f"Test {model_name} on {len(chosen):,} faces of '{entry.name}'", key="transfer-run"):
            return
        try:
            with progress_bar("Reading faces…") as progress:
                result = run_cross_dataset(model, chosen, None if split == "all" else split, store=result_store(),
                                           progress=progress)  # fmt: skip
        except InputError as error:
            show_error(error)
            return
        st.success(
            f"{100 * result['accuracy']:.1f}% [{100 * result['ci_low']:.1f}, {100 * result['ci_high']:.1f}] on "
            f"{result['n']:,} faces ({', '.join(result['label_map'])}); saved in the results store.",
            icon=":material/check:",
        )
        st.button("Show it above", key="transfer-refresh")


def curves_section(model_name: str, results: list[dict]) -> None:
    st.header("Fine-tuning with k labelled faces per class")
    command = f"python -m core transfer --model {model_name} --to ckplus --root DIR --curves"
    result = newest(
        results, f"No fine-tuning curves for {model_name}; `{command}` computes them (about 20 min)."
    )
    if result is None:
        return
    config = result["config"]
    points = [{k: v for k, v in p.items() if k != "per_seed"} for p in result["points"]]
    ks = [str(k) for k in config["ks"]]
    chart = learning_curve_chart(
        points, ks, f"{model_name} on {where(result)}: accuracy on held-out subjects"
    )
    show(chart, pd.DataFrame(points), f"{model_name}-fine-tuning-{where(result)}", "curves")
    st.caption(
        f"{' / '.join(TRANSFER_MODE_NAMES[m] for m in config['modes'] if m in TRANSFER_MODE_NAMES)}: "
        f"{TRANSFER_MODE_NAMES['head']} keeps the conv layers of {model_name} and trains its classifier with a new "
        f"last layer; full fine-tuning trains every layer from the same start; from scratch starts from random "
        f"weights, the baseline that shows whether transfer helps. Each seed holds out a different fifth of the "
        f"subjects ({config['folds']}-fold subject split) and draws k sequences per class from the rest (a "
        f"sequence's near-duplicate frames count once; 'all' is every training sequence). {config['steps']} "
        f"training steps of {config['batch_size']} faces for every point, no selection on the held-out "
        f"subjects. Each point pools the {len(config['seeds'])} seeds' held-out faces; bands are 95% "
        f"intervals resampling sequences. {provenance_note(result)}"
    )


def probes_section(model_name: str, results: list[dict]) -> None:
    st.header("What each layer knows about Action Units")
    result = newest(results, f"No AU probes for {model_name}; `python -m core transfer --model {model_name} "
                    "--to ckplus --root DIR --probes` computes them (a minute or two).")  # fmt: skip
    if result is None:
        return
    grids = [g for g in result.get("grids", [1]) if g in GRIDS]
    grid = st.radio("Features per map", grids, index=query_choice("grid", [str(g) for g in grids]),
                    format_func=GRIDS.get, horizontal=True, key="transfer-grid")  # fmt: skip
    st.query_params["grid"] = str(grid)
    rows = [r for r in result["rows"] if r.get("grid", 1) in (grid, 0)]
    layers = [layer.rsplit(".", 1)[-1] for layer in result["layers"]]
    shown = short_layers(rows)
    chart = probe_heatmap_chart(
        shown, result["aus"], layers, f"{model_name}: F1 of a linear probe per layer and AU"
    )
    show(chart, pd.DataFrame(shown), f"{model_name}-au-probes-grid{grid}", "probes")
    skipped = ", ".join(f"{au} ({n})" for au, n in result["skipped"].items()) or "none"
    st.caption(
        f"A logistic regression per AU on the layer's frozen features ({result['features']}), trained and "
        f"tested on {result['folds']} subject-independent folds of {result['n_units']} sequences; F1 of "
        f"'present'. 'pixels' is the baseline a layer must beat. AUs in fewer than {result['min_present']} "
        f"sequences are skipped: {skipped}. Hover a cell for its 95% interval. {provenance_note(result)}"
    )


def micro_section(model_name: str, results: list[dict]) -> None:
    st.header("Micro-expression classes from the same features")
    result = newest(results, f"No micro-expression probe for {model_name}; `python -m core transfer --model "
                    f"{model_name} --to FMT --root DIR --micro` computes it (a minute).")  # fmt: skip
    if result is None:
        return
    rows = short_layers(result["rows"])
    chart = micro_probe_chart(
        rows, result["chance"], f"{model_name}: negative / positive / surprise from apex - onset"
    )
    table = pd.DataFrame(rows).drop(columns=["confusion"])
    show(chart, table, f"{model_name}-micro-probe", "micro")
    st.caption(
        f"{result['n_events']} synthetic micro-expressions (the project's own clips: a drawn face whose Action "
        f"Units move about 3 pixels for a third of a second, with head motion and noise; no micro-expression "
        f"video is available here), {len(result['classes'])} MEGC classes, {result['identities']} drawn "
        f"identities. Features: {result['features']}. A softmax regression per layer, trained on all identities "
        f"but one and tested on it; the dashed line is chance. Whiskers: 95% intervals resampling events. "
        f"{provenance_note(result)}"
    )


def shift_section(model_name: str, results: list[dict]) -> None:
    st.header("Feature maps that respond differently on the two datasets")
    command = f"python -m core transfer --model {model_name} --to FMT --root DIR --shift --from-format FMT --from-root DIR"
    result = newest(results, f"No activation shift for {model_name}; `{command}` computes it.")
    if result is None:
        return
    data = result["provenance"]["data"]
    name_b, name_a = (dataset_label(d["format"], d["split"]) for d in data[:2])
    wanted = query_int("maps")
    start = wanted if wanted is not None and 1 <= wanted <= MAX_MAPS else DEFAULT_MAPS
    count = int(st.number_input(f"Maps to list (1 to {MAX_MAPS})", 1, MAX_MAPS, start, key="transfer-maps"))
    st.query_params["maps"] = str(count)
    rows = [
        {**r, "higher on": name_a if r["higher_on"] == "a" else name_b,
         "atlas": f"atlas?model={model_name}&layer={r['layer']}&channel={r['channel']}&built=1"}
        for r in result["rows"][:count]
    ]  # fmt: skip
    chart = shift_chart(rows, f"{model_name}: the {count} most shifted maps, {name_a} vs {name_b}")
    st.altair_chart(chart, width="content")
    download_chart(chart, f"{model_name}-shift", key="shift-chart")
    table = pd.DataFrame(rows)[
        ["layer", "channel", "ks", "p_value", "median_a", "median_b", "higher on", "atlas"]
    ]
    table = table.rename(columns={"median_a": f"median on {name_a}", "median_b": f"median on {name_b}"})
    st.dataframe(
        table, hide_index=True,
        column_config={
            "atlas": st.column_config.LinkColumn("Filter atlas", display_text="open in the atlas"),
            "ks": st.column_config.NumberColumn("KS D", format="%.3f"),
            "p_value": st.column_config.NumberColumn("p", format="%.1e"),
            f"median on {name_a}": st.column_config.NumberColumn(format="%.3f"),
            f"median on {name_b}": st.column_config.NumberColumn(format="%.3f"),
        },
    )  # fmt: skip
    download_table(table.drop(columns="atlas"), f"{model_name}-shift", key="shift-table")
    st.caption(
        f"For every feature map, its strongest response (spatial maximum of the conv output) on each face of "
        f"{name_a} ({result['n_a']:,} faces) and of {name_b} ({result['n_b']:,}); D is the two-sample "
        "Kolmogorov-Smirnov statistic between the two sets (0: the same distribution, 1: no overlap), p from "
        f"its asymptotic law with {result['units_a']:,} and {result['units_b']:,} independent units. Open a map in "
        f"the Filter atlas to see which faces drive it. {provenance_note(result)}"
    )


st.title("Transfer")
st.caption(
    "Does what a network learned on one dataset carry over to another, and to another task? After Breuer & "
    "Kimmel (2017, arXiv 1705.01842): each model tested as it is on the other dataset; fine-tuning curves "
    "with a few labelled faces; linear probes for FACS Action Units on each layer; and the feature maps whose "
    "responses shift most between datasets. Results are read from the results store and from the numbers "
    "committed with the models (only those computed with the very same weights)."
)

try:
    # Image models only: a micro-expression LSTM reads clip features, not faces.
    cards = {name: card for name, card in read_manifest().items() if not is_micro_card(card)}
except (OSError, ValueError, KeyError) as error:
    show_error(InputError(f"The model list cannot be read: {error}"))
    st.stop()
store = result_store()
matrix_section(cards, store)

picked = pick_model()
if picked is None:
    st.stop()
model_name, model = picked
sha256 = card_of(model).get("sha256", "")
cross_section(model_name, known_results("cross_dataset", sha256, store))
fresh_section(model_name, model)
curves_section(model_name, known_results("fine_tuning", sha256, store))
probes_section(model_name, known_results("au_probes", sha256, store))
micro_section(model_name, known_results("micro_probe", sha256, store))
shift_section(model_name, known_results("shift", sha256, store))
