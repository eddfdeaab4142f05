"""Transfer: KS statistic, label mapping, cross-dataset scores, fine-tuning curves, AU probes,
activation shift, stored and committed results, and the `transfer` verb.

Synthetic faces whose answer is known (a bright patch where an AU is 'present', classes that
differ by which half of the face is bright) test that each experiment finds what is there.
"""

import json

import numpy as np
import pytest
import torch

from core.datasets import Sample
from core.errors import InputError
from core.models.architectures import FanNet
from core.models.layers import conv_layers, relu_after
from core.models.zoo import read_manifest
from core.store import ResultStore
from core.transfer import (
    activation_shift,
    au_probes,
    committed_results,
    cross_dataset,
    fine_tuning_curve,
    known_results,
    ks_pvalue,
    ks_statistic,
    label_map,
    label_map_rows,
    run_stored,
    save_committed,
)
from core.transfer.curves import CurveConfig, new_network, training_units
from core.transfer.features import layer_maxima
from core.transfer.results import data_identity, results_dir

FER = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def faces(labels, subjects, aus=None, frames=1, dataset="folder"):
    """Samples (frames per sequence, subject per sequence) with no pixels: the tests pass crops."""
    samples = []
    for i, (label, subject) in enumerate(zip(labels, subjects, strict=True)):
        for frame in range(frames):
            samples.append(
                Sample(f"{subject}_{i:03d}_{frame:02d}", dataset, label, subject=subject,
                       sequence=f"{subject}_{i:03d}", aus=frozenset(aus[i] if aus else ()), aligned=True)
            )  # fmt: skip
    return samples


def halves(labels, rng) -> np.ndarray:
    """Crops where class 0 is bright on top and class 1 bright at the bottom, with noise."""
    crops = rng.integers(0, 60, (len(labels), 48, 48)).astype(np.uint8)
    for i, label in enumerate(labels):
        rows = slice(0, 24) if label == 0 else slice(24, 48)
        crops[i, rows] += 150
    return crops


def biased_model(classes: list[str], order: list[str]) -> torch.nn.Module:
    """A network that ignores the face: its answer is fixed by the last layer's biases (first in `order`)."""
    model = FanNet(num_classes=len(classes), width=0.25).eval()
    with torch.no_grad():
        model.classifier.fc2.weight.zero_()
        model.classifier.fc2.bias.copy_(
            torch.tensor([10.0 - order.index(c) if c in order else -10.0 for c in classes])
        )
    model.card = {"name": "biased", "sha256": "b" * 64, "classes": classes}
    return model


def test_ks_statistic_and_pvalue_on_known_cases():
    assert ks_statistic([1, 2, 3], [1, 2, 3]) == 0.0
    assert ks_statistic([0, 1, 2], [5, 6, 7, 8]) == 1.0
    assert ks_statistic([1, 2, 3], [2, 3, 4]) == pytest.approx(1 / 3)
    # Kolmogorov's 5% point: lambda = 1.358 gives p = 0.05 (n = m = 10,000, so Stephens' term is tiny).
    n = 10_000
    d = 1.358 / (np.sqrt(n / 2) + 0.12 + 0.11 / np.sqrt(n / 2))
    assert ks_pvalue(d, n, n) == pytest.approx(0.05, abs=0.001)
    assert ks_pvalue(0.0, 50, 50) == 1.0
    rng = np.random.default_rng(0)
    same = [ks_pvalue(ks_statistic(rng.normal(size=300), rng.normal(size=300)), 300, 300) for _ in range(200)]
    assert 0.02 < np.mean(np.array(same) < 0.05) < 0.1, "about 5% false alarms under the null"


def test_label_map_keeps_only_the_shared_classes():
    ck_labels = ["angry", "contempt", "disgust", "fear", "happy", "sad", "surprise", None]
    assert label_map(FER, ck_labels) == {c: c for c in FER[:6]}
    assert label_map(FER, ["contempt"]) == {}


def test_cross_dataset_scores_the_shared_classes_only():
    # Always 'neutral' when free, 'happy' among the shared classes: accuracy is the share of happy faces.
    model = biased_model(FER, ["neutral", "happy"])
    labels = ["happy"] * 4 + ["sad"] * 3 + ["angry"] * 3 + ["contempt"] * 2
    samples = faces(labels, [f"S{i % 5}" for i in range(len(labels))], frames=3)
    crops = np.zeros((len(samples), 48, 48), np.uint8)
    result = cross_dataset(model, samples, crops, n_boot=200)
    assert result["label_map"] == {"angry": "angry", "happy": "happy", "sad": "sad"}
    assert result["skipped"] == {"contempt": 6}
    assert result["n"] == 30 and result["n_units"] == 10, "frames of a sequence are one unit"
    assert result["accuracy"] == pytest.approx(0.4) and result["majority_accuracy"] == pytest.approx(0.4)
    assert result["ci_low"] <= 0.4 <= result["ci_high"]
    assert result["unshared_answers"] == {"share": 1.0, "classes": {"neutral": 30}}
    assert result["per_class"]["happy"]["recall"] == 1.0 and result["per_class"]["sad"]["recall"] == 0.0
    assert [tuple(row.values()) for row in label_map_rows(result)] == [
        ("angry", "angry", 9),
        ("happy", "happy", 12),
        ("sad", "sad", 9),
        ("(none)", "contempt", 6),
    ], "faces per class, the unknown class last"
    with pytest.raises(InputError, match="none in common"):
        cross_dataset(model, faces(["contempt"], ["S1"]), crops[:1])


def test_cross_dataset_compares_with_the_source_card():
    model = biased_model(FER, ["happy"])
    model.card["metrics"] = {"accuracy": 0.5, "ci_low": 0.4, "ci_high": 0.6, "split": "test",
                             "per_class": {"happy": {"recall": 0.7, "support": 9}}}  # fmt: skip
    samples = faces(["happy", "sad"], ["S1", "S2"])
    result = cross_dataset(model, samples, np.zeros((2, 48, 48), np.uint8), n_boot=50)
    assert result["source_accuracy"] == 0.5
    happy = next(row for row in result["per_class_difference"] if row["class"] == "happy")
    assert happy["target_recall"] == 1.0 and happy["difference"] == pytest.approx(0.3)


def test_training_faces_come_from_other_subjects_k_per_class():
    labels = ["happy", "sad"] * 10
    samples = faces(labels, [f"S{i // 4}" for i in range(20)], frames=3)
    pool = np.array([s.subject != "S0" for s in samples])
    chosen = training_units(samples, pool, ["happy", "sad"], 2, np.random.default_rng(0))
    picked = [samples[i] for i in chosen]
    assert len(picked) == 4 and all(s.subject != "S0" for s in picked)
    assert sorted(s.label for s in picked) == ["happy", "happy", "sad", "sad"]
    assert all(s.source_id.endswith("_02") for s in picked), "a sequence trains with its last frame"
    everything = training_units(samples, pool, ["happy", "sad"], "all", np.random.default_rng(0))
    assert len(everything) == 16


def test_head_mode_freezes_the_source_features():
    torch.manual_seed(123)  # not the run's seed, so a scratch start differs from the source
    source = FanNet(num_classes=7, width=0.25)
    head = new_network(source, "head", 3, seed=0)
    scratch = new_network(source, "scratch", 3, seed=0)
    assert torch.equal(head.features.conv2.weight, source.features.conv2.weight)
    assert torch.equal(head.classifier.fc1.weight, source.classifier.fc1.weight)
    assert head.classifier.fc2.out_features == 3
    assert not any(p.requires_grad for p in head.features.parameters())
    assert all(p.requires_grad for p in head.classifier.parameters())
    assert not torch.equal(scratch.features.conv2.weight, source.features.conv2.weight)


def test_fine_tuning_curve_learns_an_easy_task(one_torch_thread):
    rng = np.random.default_rng(0)
    labels = ["happy", "sad"] * 30
    samples = faces(labels, [f"S{i // 6}" for i in range(60)])
    crops = halves([0 if label == "happy" else 1 for label in labels], rng)
    torch.manual_seed(0)
    config = CurveConfig(ks=(1, "all"), seeds=(0, 1), modes=("head", "scratch"), steps=30, batch_size=16)
    progress = []
    curve = fine_tuning_curve(FanNet(num_classes=7, width=0.25), crops, samples, config,
                              progress=lambda f, m: progress.append(f))  # fmt: skip
    assert curve["classes"] == ["happy", "sad"]
    points = {(p["mode"], p["k"]): p for p in curve["points"]}
    assert set(points) == {("head", "1"), ("head", "all"), ("scratch", "1"), ("scratch", "all")}
    assert points[("scratch", "all")]["accuracy"] >= 0.9, points[("scratch", "all")]
    assert points[("scratch", "all")]["n_units"] == 24, "two disjoint fifths of 60 sequences are held out"
    assert points[("scratch", "1")]["n_train"] == 2
    assert all(p["ci_low"] <= p["accuracy"] <= p["ci_high"] for p in curve["points"])
    assert progress == sorted(progress) and progress[-1] == 1.0
    with pytest.raises(InputError, match="mode"):
        fine_tuning_curve(FanNet(width=0.25), crops, samples, CurveConfig(modes=("frozen",)))
    with pytest.raises(InputError, match="faces per class"):
        fine_tuning_curve(FanNet(width=0.25), crops, samples, CurveConfig(ks=(0, 5)))
    with pytest.raises(InputError, match="Seeds"):
        fine_tuning_curve(FanNet(width=0.25), crops, samples, CurveConfig(seeds=(0, 5)))


def test_au_probes_find_the_au_drawn_into_the_faces(one_torch_thread):
    rng = np.random.default_rng(1)
    n = 60
    present = rng.random(n) < 0.5
    aus = [{12} if p else set() for p in present]
    aus[0] = aus[0] | {9}  # AU9 in one sequence only: too rare to probe
    samples = faces(["happy"] * n, [f"S{i // 3}" for i in range(n)], aus=aus, frames=2)
    crops = rng.integers(0, 40, (len(samples), 48, 48)).astype(np.uint8)
    for i, sample in enumerate(samples):
        if 12 in sample.aus:
            crops[i, 34:42, 12:36] += 180  # a bright mouth patch where AU12 is 'present'
    torch.manual_seed(0)
    result = au_probes(FanNet(width=0.25).eval(), crops, samples, n_boot=100, min_present=10)
    assert result["aus"] == ["AU12"] and result["skipped"] == {"AU9": 1}
    assert result["n_units"] == n
    by_layer = {(r["layer"], r["grid"]): r for r in result["rows"]}
    assert by_layer[("pixels", 0)]["f1"] > 0.95
    assert by_layer[("features.conv1", 3)]["f1"] > 0.9
    assert {r["n_present"] for r in result["rows"]} == {int(present.sum())}
    with pytest.raises(InputError, match="Action Unit"):
        au_probes(FanNet(width=0.25).eval(), crops, faces(["happy"] * len(samples), ["S"] * len(samples)))


def test_maps_after_the_relu_are_found_by_position_and_a_missing_relu_is_refused():
    model = FanNet(width=0.25)
    assert [relu_after(model, conv) for conv in conv_layers(model)] == [
        "features.relu1", "features.relu2", "features.relu3"
    ]  # fmt: skip
    no_relu = torch.nn.Sequential()  # named like the zoo's stacks, with no ReLU after the conv
    no_relu.add_module("conv1", torch.nn.Conv2d(1, 2, 3, padding=1))
    no_relu.add_module("pool1", torch.nn.MaxPool2d(2))
    crops = np.zeros((2, 48, 48), np.uint8)
    assert layer_maxima(no_relu, crops)["conv1"].shape == (2, 2), "before the ReLU: defined"
    with pytest.raises(InputError, match="not followed by its own ReLU"):
        layer_maxima(no_relu, crops, after_relu=True)


def test_activation_shift_ranks_every_map_and_sees_no_shift_on_the_same_faces(one_torch_thread):
    rng = np.random.default_rng(2)
    dark = rng.integers(0, 80, (40, 48, 48)).astype(np.uint8)
    bright = rng.integers(150, 255, (30, 48, 48)).astype(np.uint8)
    torch.manual_seed(0)
    model = FanNet(width=0.25).eval()
    channels = sum(m.out_channels for m in model.features if isinstance(m, torch.nn.Conv2d))
    shifted = activation_shift(
        model, dark, faces(["sad"] * 40, ["A"] * 40), bright, faces(["sad"] * 30, ["B"] * 30)
    )
    rows = shifted["rows"]
    assert len(rows) == channels
    assert [r["ks"] for r in rows] == sorted((r["ks"] for r in rows), reverse=True)
    assert rows[0]["ks"] == 1.0 and rows[0]["p_value"] < 1e-6
    same = activation_shift(
        model, dark, faces(["sad"] * 40, ["A"] * 40), dark, faces(["sad"] * 40, ["A"] * 40)
    )
    assert max(r["ks"] for r in same["rows"]) == 0.0


def test_results_are_stored_with_provenance_and_committed_by_checksum(tmp_path):
    model = biased_model(FER, ["happy"])
    samples = faces(["happy", "sad"], ["S1", "S2"])
    calls = []

    def compute():
        calls.append(1)
        return {"accuracy": 0.5}

    store = ResultStore(tmp_path / "results.sqlite")
    data = [data_identity(samples, "test")]
    first = run_stored(
        "cross_dataset", model, data, compute, seeds=[0], store=store, command="python -m core x"
    )
    second = run_stored("cross_dataset", model, data, compute, seeds=[0], store=store)
    assert len(calls) == 1 and not first["from_store"] and second["from_store"]
    provenance = second["provenance"]
    assert provenance["sha256"] == "b" * 64 and provenance["split"] == "test" and provenance["seeds"] == [0]
    assert provenance["fingerprint"] == data[0]["fingerprint"] and provenance["time"].endswith("Z")
    found = known_results("cross_dataset", "b" * 64, store)
    assert len(found) == 1 and found[0]["origin"] == "results store"
    path = save_committed(first, tmp_path / "committed")
    assert path.name == "cross_dataset--biased--folder-test.json"
    assert committed_results("cross_dataset", "b" * 64, tmp_path / "committed")[0]["accuracy"] == 0.5
    assert committed_results("cross_dataset", "c" * 64, tmp_path / "committed") == []


def test_committed_results_belong_to_the_shipped_weights():
    cards = read_manifest()
    files = sorted(results_dir().glob("*.json"))
    assert files, "the transfer numbers for the shipped models are committed"
    for path in files:
        result = json.loads(path.read_text())
        provenance = result["provenance"]
        card = cards[provenance["model"]]
        assert provenance["sha256"] == card["sha256"], f"{path.name} was computed with other weights"
        assert {"fingerprint", "split", "seeds", "time", "command"} <= set(provenance)
    names = {path.name for path in files}
    assert "cross_dataset--fan2019-fer2013--ckplus.json" in names
    assert "cross_dataset--fan2019-ckplus--fer2013-test.json" in names


def transfer(capsys, *args: str) -> tuple[int, str, str]:
    """`python -m core transfer ...` in this process (the verb's own code, without a second torch start)."""
    from core.__main__ import main

    code = main(["transfer", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_transfer_verb_on_real_ckplus(data_dir, use_tiny_zoo, tmp_path, capsys, one_torch_thread):
    code, out, err = transfer(
        capsys, "--model", "fan2019-tiny", "--to", "ckplus", "--root", str(data_dir / "ckplus48"), "--json"
    )
    assert code == 0, err
    out = json.loads(out)
    assert {"accuracy", "ci_low", "ci_high", "n", "label_map"} <= set(out)
    assert out["label_map"] == {c: c for c in FER[:6]}
    assert out["skipped"] == {"contempt": 54} and out["n"] == 981 - 54 and out["n_units"] == 327 - 18
    assert out["source_accuracy"] == 0.25  # the tiny card's own test score
    code, out, err = transfer(
        capsys, "--model", "fan2019-tiny", "--to", "ckplus", "--root", str(tmp_path), "--shift"
    )
    assert code == 2 and out == "" and err.startswith("error:") and "--from-format" in err
    code, out, err = transfer(capsys, "--model", "fan2019-tiny", "--to", "nope", "--root", str(tmp_path))
    assert code == 2 and err.strip().count("\n") == 0 and "Unknown dataset format" in err


def test_micro_probe_tells_synthetic_micro_expressions_apart(one_torch_thread):
    from core.transfer.micro import MICRO_LABELS, micro_events, micro_probe

    events = micro_events(per_cell=3)
    assert events["onset"].shape == events["apex"].shape == (36, 48, 48)
    assert np.bincount(events["labels"]).tolist() == [12, 12, 12]
    assert micro_events(per_cell=3)["fingerprint"] == events["fingerprint"], (
        "the same seed draws the same clips"
    )
    torch.manual_seed(0)
    result = micro_probe(FanNet(width=0.25).eval(), events, n_boot=100)
    rows = {row["layer"]: row for row in result["rows"]}
    assert set(rows) == {"features.conv1", "features.conv2", "features.conv3", "pixels"}
    assert result["classes"] == list(MICRO_LABELS) and result["chance"] == pytest.approx(1 / 3)
    # The movement is there to be found: the pixel differences alone beat chance by far.
    assert rows["pixels"]["ci_low"] > 0.45, rows["pixels"]
    assert all(row["ci_low"] <= row["accuracy"] <= row["ci_high"] for row in rows.values())
