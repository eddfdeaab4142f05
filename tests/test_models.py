"""Architectures, the zoo's safe loading, evaluation statistics and training."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core.media import sha256_file
from core.models import BreuerNet, FanNet, MicroLSTM, ModelError, load_checkpoint, load_model
from core.models.architectures import fold_batch_norm
from core.models.evaluation import bootstrap_ci, evaluate_predictions, macro_f1
from core.models.layers import conv_layers
from core.models.training import TrainConfig, augment, class_weights, fit, pick_device, subject_folds
from core.models.zoo import read_manifest, save_model
from tests.test_cli import cli

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURES = [FanNet, BreuerNet]


@pytest.mark.parametrize("cls", ARCHITECTURES)
@pytest.mark.parametrize("batch_norm", [False, True])
def test_every_relu_and_pool_is_its_own_module_used_once(cls, batch_norm):
    # Captum's Deconvolution/GuidedBackprop hook modules: a reused or in-place ReLU breaks them.
    model = cls(batch_norm=batch_norm).eval()
    calls = Counter()
    for name, module in model.named_modules():
        if not list(module.children()):
            module.register_forward_hook(lambda m, i, o, name=name: calls.update([name]))
    model(torch.zeros(2, 1, 48, 48))
    leaves = [n for n, m in model.named_modules() if not list(m.children())]
    assert all(calls[name] == 1 for name in leaves), calls
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            assert not module.inplace


@pytest.mark.parametrize("cls", ARCHITECTURES)
def test_conv_layers_have_readable_names(cls):
    names = conv_layers(cls())
    assert names[0] == ("features.conv1" if cls is FanNet else "features.conv1a")
    modules = dict(cls().named_modules())
    assert all(isinstance(modules[name], nn.Conv2d) for name in names)


def test_outputs_and_shapes():
    assert FanNet(num_classes=7)(torch.zeros(3, 1, 48, 48)).shape == (3, 7)
    assert BreuerNet(num_classes=8, width=0.25)(torch.zeros(2, 1, 48, 48)).shape == (2, 8)
    assert MicroLSTM(feature_dim=16, num_classes=4)(torch.zeros(2, 30, 16)).shape == (2, 30, 4)


def test_folding_batch_norm_gives_the_same_outputs_without_bn():
    torch.manual_seed(0)
    model = BreuerNet(num_classes=7, width=0.25, batch_norm=True)
    model.train()
    for _ in range(5):  # give the BN layers non-trivial running statistics
        model(torch.randn(16, 1, 48, 48) * 2 + 0.3)
    model.eval()
    plain = fold_batch_norm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    x = torch.randn(4, 1, 48, 48)
    assert torch.allclose(model(x), plain(x), atol=1e-5)


def _saved_tiny(folder: Path, name: str = "m") -> tuple[nn.Module, dict]:
    model = FanNet(num_classes=3, width=0.25).eval()
    card = save_model(model, {"name": name, "architecture": "fan2019",
                              "arch_args": {"num_classes": 3, "width": 0.25}, "classes": ["a", "b", "c"]}, folder)  # fmt: skip
    return model, card


def test_saved_model_loads_with_the_same_outputs_in_eval_mode_on_cpu(tmp_path):
    model, card = _saved_tiny(tmp_path)
    loaded = load_model("m", directory=tmp_path)
    assert not loaded.training
    assert next(loaded.parameters()).device.type == "cpu"
    x = torch.randn(2, 1, 48, 48)
    assert torch.equal(model(x), loaded(x))
    assert read_manifest(tmp_path)["m"]["sha256"] == sha256_file(tmp_path / card["file"])


def test_a_tampered_file_is_refused(tmp_path):
    _, card = _saved_tiny(tmp_path)
    path = tmp_path / card["file"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        load_model("m", directory=tmp_path)


def test_unknown_and_missing_models_are_clear_errors(tmp_path):
    _, card = _saved_tiny(tmp_path)
    with pytest.raises(ModelError, match="no model called 'nope'"):
        load_model("nope", directory=tmp_path)
    (tmp_path / card["file"]).unlink()
    with pytest.raises(ModelError, match="missing"):
        load_model("m", directory=tmp_path)


def test_a_users_checkpoint_loads_in_either_format(tmp_path):
    model = FanNet(num_classes=5, width=0.5).eval()
    torch.save(model.state_dict(), tmp_path / "mine.pt")
    torch.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "training.pth")
    x = torch.randn(1, 1, 48, 48)
    for name in ("mine.pt", "training.pth"):
        loaded = load_checkpoint(tmp_path / name, "fan2019", num_classes=5, width=0.5)
        assert torch.equal(loaded(x), model(x))


def test_a_checkpoint_of_another_shape_or_kind_is_refused(tmp_path):
    torch.save(FanNet(num_classes=5).state_dict(), tmp_path / "five.pt")
    with pytest.raises(ModelError, match="does not fit"):
        load_checkpoint(tmp_path / "five.pt", "fan2019", num_classes=7)
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ModelError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt", "fan2019")
    # A pickle that would run code is refused by weights_only loading, not executed.
    torch.save({"model": Counter(a=1)}, tmp_path / "pickled.pt")
    with pytest.raises(ModelError):
        load_checkpoint(tmp_path / "pickled.pt", "fan2019")
    with pytest.raises(ModelError, match="Unknown architecture"):
        load_checkpoint(tmp_path / "five.pt", "resnet")


def test_evaluation_on_a_known_confusion():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 1, 0, 2, 2, 1])
    result = evaluate_predictions(y_true, y_pred, ["a", "b", "c"], n_boot=500)
    assert result["accuracy"] == pytest.approx(0.7)
    assert result["confusion"] == [[3, 1, 0], [1, 2, 0], [0, 1, 2]]
    # F1: a = 2*3/(4+4) = .75, b = 2*2/(3+4) = .571, c = 2*2/(3+2) = .8
    assert result["macro_f1"] == pytest.approx((0.75 + 4 / 7 + 0.8) / 3)
    assert result["per_class"]["b"] == pytest.approx(
        {"precision": 0.5, "recall": 2 / 3, "f1": 4 / 7, "support": 3}
    )
    assert result["ci_low"] < 0.7 < result["ci_high"]
    assert set(result) >= {"accuracy", "macro_f1", "ci_low", "ci_high", "n", "per_class", "confusion"}


def test_grouped_bootstrap_is_wider_for_duplicated_items():
    # Ten items each copied three times (like CK+48's three frames per sequence).
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 10)
    guess = np.where(rng.random(10) < 0.7, truth, 1 - truth)
    y_true, y_pred, groups = np.repeat(truth, 3), np.repeat(guess, 3), np.repeat(np.arange(10), 3)
    score = lambda t, p: float(np.mean(t == p))  # noqa: E731
    naive, grouped = bootstrap_ci(y_true, y_pred, score), bootstrap_ci(y_true, y_pred, score, groups)
    assert grouped[1] - grouped[0] > 1.3 * (naive[1] - naive[0])


def test_macro_f1_ignores_classes_absent_from_the_truth():
    assert macro_f1(np.array([0, 0, 1]), np.array([0, 0, 1]), 5) == 1.0


def test_subject_folds_never_split_a_subject():
    subjects = [f"S{i % 37:03d}" for i in range(981)]
    folds = subject_folds(subjects, k=10)
    by_subject = {}
    for subject, fold in zip(subjects, folds, strict=True):
        assert by_subject.setdefault(subject, fold) == fold
    sizes = np.bincount(folds)
    assert len(sizes) == 10 and sizes.max() - sizes.min() <= 30
    assert np.array_equal(folds, subject_folds(subjects, k=10)), "deterministic"


def test_class_weights_favour_rare_classes():
    weights = class_weights(np.array([0] * 400 + [1] * 100 + [2] * 25), 4)
    assert weights[2] > weights[1] > weights[0] and weights[3] == 0
    assert weights[:3].mean() == pytest.approx(1.0)


def test_augmentation_keeps_shape_and_is_seeded():
    x = torch.randn(8, 1, 48, 48)
    a = augment(x, torch.Generator().manual_seed(3))
    b = augment(x, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)


def test_random_erasing_blanks_one_rectangle_on_the_chosen_share():
    x = torch.full((400, 1, 48, 48), 3.0)  # far from 0, so only erased pixels are at the mean grey
    erased = augment(x, torch.Generator().manual_seed(0), erase=0.5)
    share = (erased.abs() < 1e-6).flatten(1).float().mean(1)
    hit = share > 0
    assert 0.4 < hit.float().mean() < 0.6
    assert share[hit].min() >= 1 / (48 * 48) and share[hit].max() < 0.3
    kept = augment(x, torch.Generator().manual_seed(0))
    assert not (kept.abs() < 1e-6).any()


def test_device_can_be_forced(monkeypatch):
    monkeypatch.setenv("FER_DEVICE", "cpu")
    assert pick_device().type == "cpu"


def _stripes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: a bright horizontal band; class 1: a bright vertical band; noise around."""
    rng = np.random.default_rng(seed)
    crops = rng.integers(0, 90, (n, 48, 48)).astype(np.uint8)
    labels = rng.integers(0, 2, n)
    for crop, label, offset in zip(crops, labels, rng.integers(10, 30, n), strict=True):
        if label == 0:
            crop[offset : offset + 8, :] = 230
        else:
            crop[:, offset : offset + 8] = 230
    return crops, labels


def test_training_learns_a_separable_task_and_keeps_the_best_epoch(tmp_path):
    train_x, train_y = _stripes(256, 0)
    val_x, val_y = _stripes(64, 1)
    model = FanNet(num_classes=2, width=0.25)
    config = TrainConfig(epochs=4, batch_size=32, lr=3e-3, seed=0)
    result = fit(model, train_x, train_y, val_x, val_y, config, checkpoint=tmp_path / "run.ckpt")
    history = result["history"]
    assert len(history) == 4
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert max(h["val_accuracy"] for h in history) > 0.9
    assert history[result["best_epoch"] - 1]["val_accuracy"] == max(h["val_accuracy"] for h in history)
    assert (tmp_path / "run.ckpt").exists()


def test_cli_predict_and_evaluate_with_a_zoo(use_tiny_zoo, tmp_path, data_dir):
    from PIL import Image

    from core.datasets.generated import generate_face

    Image.fromarray(generate_face("happy", 256, 0)).save(tmp_path / "face.png")
    result = cli("predict", str(tmp_path / "face.png"), "--model", "fan2019-tiny", "--json")
    assert result.returncode == 0, result.stderr
    prediction = json.loads(result.stdout)["predictions"][0]
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert prediction["label"] in prediction["probabilities"]

    root = data_dir / "ckplus48"
    result = cli("evaluate", "--model", "fan2019-tiny", "--format", "ckplus", "--root", str(root), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"accuracy", "macro_f1", "ci_low", "ci_high", "n", "per_class", "confusion"} <= set(out)
    assert out["n"] == 981 - 54 and out["skipped_unknown_class"] == 54, "contempt is not a FER2013 class"
    assert out["n_units"] == 327 - 18, "the CI resamples sequences, not frames"

    result = cli("evaluate", "--model", "nope", "--format", "ckplus", "--root", str(root))
    assert result.returncode == 2 and "no model called 'nope'" in result.stderr
