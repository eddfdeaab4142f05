"""AU tables on planted ground truth: a model whose channel 0 detects a bright blob, and faces where
AU12 "present" puts that blob inside AU12's region (the lip corners). Both methods must rank the
planted channel first for AU12, its deconvolutions must land in the region, an unrelated AU must
stay insignificant, and units must be sequences, not frames. Through the CLI, the store and the
committed-table lookup; then the committed tables themselves."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.__main__ import main
from core.au import stats
from core.au.ranking import (
    COLUMNS,
    RESULTS_DIR,
    AUTableParams,
    au_table_for_samples,
    committed_table,
    compute_au_table,
    group_units,
    read_faces,
    table_key,
    write_table,
)
from core.au.regions import canonical_region_masks
from core.datasets import read_dataset
from core.errors import InputError
from core.models.architectures import FanNet
from core.models.zoo import load_model, read_manifest, save_model
from core.store import ResultStore

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_UNITS, FRAMES, N_SMILING = 36, 3, 14
BLOB_CENTRE = (40, 17)  # (row, column): the person's right mouth corner on the canonical 48 px face
DEAD = 7  # a channel that never fires
# The template, not meshed landmarks: MediaPipe finds no face in noise anyway, and meshing takes time.
FAST = AUTableParams(
    layers=("features.conv1",), combos=(), n_boot=200, n_permutations=199, spatial_top=3, regions="template"
)


def blob_detector() -> np.ndarray:
    """A 5x5 centre-surround (difference of Gaussians) kernel with zero sum: blind to flat gray."""
    y, x = np.mgrid[-2:3, -2:3]
    centre, surround = np.exp(-(x**2 + y**2) / (2 * 0.8**2)), np.exp(-(x**2 + y**2) / (2 * 2.0**2))
    kernel = centre / centre.sum() - surround / surround.sum()
    return kernel / np.abs(kernel).max()


@pytest.fixture(scope="module")
def planted_model() -> FanNet:
    torch.manual_seed(0)
    model = FanNet(num_classes=7, width=0.25).eval()
    with torch.no_grad():
        model.features.conv1.weight[0, 0] = torch.as_tensor(blob_detector(), dtype=torch.float32)
        model.features.conv1.bias[0] = 0.0
        model.features.conv1.bias[DEAD] = -1e3
    return model


@pytest.fixture(scope="module")
def planted_data(tmp_path_factory) -> Path:
    """A CK+48 tree (the real layout, with a manifest.csv of AU flags) of noise faces, 3 frames a sequence."""
    root = tmp_path_factory.mktemp("planted")
    rng = np.random.default_rng(0)
    assert canonical_region_masks(48)["lip_corners"][BLOB_CENTRE], "the blob must sit in AU12's region"
    frown = set(rng.choice(N_UNITS, 15, replace=False).tolist())  # AU4 drawn independently of the pixels
    y, x = np.mgrid[0:48, 0:48]
    rows = []
    for unit in range(N_UNITS):
        aus = ({12} if unit < N_SMILING else set()) | ({4} if unit in frown else set())
        emotion = "happy" if 12 in aus else "anger"
        for frame in range(1, FRAMES + 1):
            face = 110 + rng.normal(0, 10, (48, 48))
            if 12 in aus:
                cy, cx = BLOB_CENTRE[0] + rng.integers(-1, 2), BLOB_CENTRE[1] + rng.integers(-1, 2)
                face += 90 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * 1.0**2))
            name = f"CK+48/{emotion}/S{unit + 100:03d}_001_{frame:08d}.png"
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.clip(face, 0, 255).astype(np.uint8)).save(root / name)
            rows.append({"path": name, "AU4": int(4 in aus), "AU12": int(12 in aus)})
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["path", "AU4", "AU12"])
        writer.writeheader()
        writer.writerows(rows)
    return root


@pytest.fixture(scope="module")
def planted_zoo(tmp_path_factory, planted_model) -> Path:
    folder = tmp_path_factory.mktemp("planted-zoo")
    card = {"name": "planted", "architecture": "fan2019", "arch_args": {"num_classes": 7, "width": 0.25},
            "input": {"size": 48, "color": "gray", "mean": 0.5, "std": 0.25},
            "classes": ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]}  # fmt: skip
    save_model(planted_model, card, folder)
    return folder


def cell(rows: list[dict], au: str, channel: int, layer: str = "features.conv1") -> dict:
    return next(r for r in rows if r["au"] == au and r["channel"] == channel and r["layer"] == layer)


@pytest.mark.parametrize("method", ["distance", "correlation"])
def test_the_planted_pairing_is_recovered_at_rank_1(planted_model, planted_data, method):
    samples = read_dataset("ckplus", planted_data)
    crops, landmarks = read_faces(samples, measure_aligned=False)
    table = compute_au_table(planted_model, crops, samples, method, FAST, landmarks)
    planted = cell(table.rows, "AU12", 0)
    assert planted["rank"] == 1 and planted["rank_all_layers"] == 1
    assert planted["assigned"], "AU12 is the planted channel's best AU"
    assert planted["q_value"] < 0.05 and planted["p_value"] == pytest.approx(1 / 200)
    assert planted["ci_low"] > 0 and planted["ci_low"] <= planted["score"] <= planted["ci_high"]
    # Units are sequences: 36 of them, not their 108 frames.
    assert (planted["n_present"], planted["n_absent"]) == (N_SMILING, N_UNITS - N_SMILING)
    assert table.meta["n_units"] == N_UNITS and table.meta["n_faces"] == N_UNITS * FRAMES
    # Its deconvolutions peak inside the lip-corner region on (nearly) every smiling face.
    assert planted["region"] == "lip_corners"
    assert planted["spatial_n"] == N_SMILING and planted["spatial_share"] >= 0.9
    # The negative controls: AU4 was drawn independently of the pixels; the dead map never fires.
    assert min(r["q_value"] for r in table.rows if r["au"] == "AU4") > 0.1
    dead = cell(table.rows, "AU12", DEAD)
    assert dead["score"] == 0 and dead["p_value"] == 1 and math.isnan(dead["spatial_share"])


def test_the_cli_writes_the_contract_csv_and_the_store_serves_it_again(
    planted_data, planted_zoo, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("FER_WEIGHTS_DIR", str(planted_zoo))
    out = tmp_path / "tables" / "planted-distance.csv"
    argv = ["au-table", "--model", "planted", "--format", "ckplus", "--root", str(planted_data),
            "--method", "distance", "--layers", "conv1", "--combos", "", "--bootstrap", "100",
            "--permutations", "99", "--spatial-top", "2", "--regions", "template", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["units"] == N_UNITS and summary["unit"] == "sequence" and not summary["from_store"]
    assert summary["n_present"] == {"AU4": 15, "AU12": N_SMILING}
    with open(out, newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = list(reader)
    assert len(rows) == 2 * 8, "one row per (map, AU): 8 maps of conv1, 2 AUs"
    best = min((r for r in rows if r["au"] == "AU12"), key=lambda r: int(r["rank"]))
    assert (best["layer"], best["channel"], best["rank"]) == ("features.conv1", "0", "1")
    provenance = json.loads(out.with_suffix(".json").read_text())
    assert provenance["model_sha256"] == read_manifest(planted_zoo)["planted"]["sha256"]
    assert provenance["command"].startswith("python -m core au-table") and provenance["csv"] == out.name

    assert main(argv) == 0  # the second run reads the store
    assert json.loads(capsys.readouterr().out)["from_store"]
    # The committed-table lookup finds the CSV by the model's sha256 and method, typed as computed.
    model = load_model("planted", directory=planted_zoo)
    committed = committed_table(model, "distance", directory=out.parent)
    assert committed is not None and committed.source == "committed"
    assert (
        cell(committed.rows, "AU12", 0)["rank"] == 1 and cell(committed.rows, "AU12", 0)["assigned"] is True
    )
    assert committed_table(model, "correlation", directory=out.parent) is None


def test_bad_input_is_one_clear_error(planted_data, planted_zoo, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("FER_WEIGHTS_DIR", str(planted_zoo))
    base = ["au-table", "--model", "planted", "--format", "ckplus", "--root", str(planted_data)]
    for extra, message in (
        (["--out", str(tmp_path / "t.txt")], "must end in .csv"),
        (["--combos", "one+two", "--out", str(tmp_path / "t.csv")], "not an AU"),
        (["--layers", "fc9", "--out", str(tmp_path / "t.csv")], "fc9"),
        (["--min-present", "100", "--out", str(tmp_path / "t.csv")], "No AU is present in at least 100"),
    ):
        assert main(base + extra) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert error[-1].startswith("error:") and message in error[-1]


def test_the_store_keys_by_method_and_parameters(planted_model, planted_data, tmp_path):
    samples = read_dataset("ckplus", planted_data)[: 12 * FRAMES]
    store = ResultStore(tmp_path / "results.sqlite")
    quick = AUTableParams(layers=("features.conv1",), combos=(), min_present=3, n_boot=20, n_permutations=19,
                          spatial_top=1, regions="template")  # fmt: skip
    first = au_table_for_samples(planted_model, samples, "distance", quick, store)
    assert first.source == "computed"
    again = au_table_for_samples(planted_model, samples, "distance", quick, store)
    assert again.source == "store" and again.rows == json.loads(json.dumps(first.rows))
    other = au_table_for_samples(planted_model, samples, "correlation", quick, store)
    assert other.source == "computed"
    # Within one AU the two methods rank alike (r is a monotone function of d for fixed n1, n0).
    for d_row, r_row in zip(first.rows, other.rows, strict=True):
        assert d_row["rank"] == r_row["rank"]
        expected = stats.distance_to_correlation(d_row["score"], d_row["n_present"], d_row["n_absent"])
        assert r_row["score"] == pytest.approx(expected, abs=1e-9)


def test_a_model_without_conv_layers_is_refused_with_one_message():
    from core.models.architectures import MicroLSTM

    with pytest.raises(InputError, match="no conv layers"):
        table_key(MicroLSTM(feature_dim=8, num_classes=3), [], "distance", AUTableParams())


def test_units_are_sequences_and_their_aus_are_joined():
    from core.datasets import Sample

    samples = [
        Sample("a1", "x", None, sequence="S1_001", aus=frozenset({1})),
        Sample("a2", "x", None, sequence="S1_001", aus=frozenset({2})),
        Sample("b", "x", None, aus=frozenset({12})),
    ]
    ids, unit_of, aus = group_units(samples)
    assert ids == ["S1_001", "b"] and unit_of.tolist() == [0, 0, 1] and aus == [{1, 2}, {12}]


def test_write_table_refuses_an_unwritable_place(planted_model, planted_data, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    from core.au.ranking import AUTable

    with pytest.raises(InputError, match="Cannot write"):
        write_table(AUTable([], {}), blocker / "t.csv")


# ---- the committed tables of the shipped models -------------------------------------------------


def committed_files() -> list[Path]:
    return sorted(RESULTS_DIR.glob("*.json"))


def test_every_shipped_model_has_committed_tables_for_both_methods():
    cards = read_manifest()
    found = {
        (json.loads(p.read_text())["model_sha256"], json.loads(p.read_text())["method"])
        for p in committed_files()
    }
    cnns = {name: card for name, card in cards.items() if card["architecture"] in ("fan2019", "breuer2017")}
    assert len(cnns) >= 3
    for name, card in cnns.items():
        for method in ("distance", "correlation"):
            assert (card["sha256"], method) in found, f"no committed {method} table for {name}"


@pytest.mark.parametrize("path", committed_files(), ids=lambda p: p.stem)
def test_a_committed_table_is_complete_and_counts_sequences(path):
    meta = json.loads(path.read_text())
    with open(path.with_name(meta["csv"]), newline="") as f:
        rows = list(csv.DictReader(f))
    assert meta["dataset"] == "ckplus" and meta["n_units"] == 327 and meta["n_faces"] == 981
    assert meta["params"]["n_boot"] >= 1000 and meta["params"]["n_permutations"] >= 999
    assert {r["au"] for r in rows} == set(meta["aus"]) and "AU1+2" in meta["aus"]
    maps = {(r["layer"], r["channel"]) for r in rows}
    assert len(rows) == len(maps) * len(meta["aus"])
    for row in rows:
        assert int(row["n_present"]) + int(row["n_absent"]) == 327
        assert float(row["ci_low"]) <= float(row["ci_high"]) and 0 < float(row["p_value"]) <= 1
    for au in meta["aus"]:
        ranks = sorted(int(r["rank"]) for r in rows if r["au"] == au and r["layer"] == "features.conv3")
        assert ranks == list(range(1, len(ranks) + 1))
