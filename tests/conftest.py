"""Shared fixtures. Real data is found through FER_DATA_DIR (default ../shared/data).

Tests on real data skip with a reason where it is absent; under CI (CI=true) a missing
folder is an error instead, so CI never skips them silently.
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    return Path(os.environ.get("FER_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data folder (../shared/data), or a skip where it is absent outside CI."""
    path = _data_dir()
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"FER_DATA_DIR={path} is missing; CI must run the real-data tests.")
        pytest.skip(f"real data not found at {path} (set FER_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def analyzer():
    """One MediaPipe face analyzer shared by the tests (it takes a second to start)."""
    from core.faces import FaceAnalyzer

    with FaceAnalyzer() as shared:
        yield shared


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: with other work on the CPU, torch's two-thread pool
    waits for busy cores and a single small pass takes tens of times longer."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Each test gets its own results store, so nothing a user saved is touched; browser users
    may name files under the test folders and the real data (tests of the rule narrow it)."""
    monkeypatch.setenv("FER_DASHBOARD_HOME", str(tmp_path_factory.mktemp("home")))
    roots = [str(tmp_path_factory.getbasetemp()), str(_data_dir())]
    monkeypatch.setenv("FER_DATA_ROOTS", os.pathsep.join(roots))


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory) -> Path:
    """A weights folder with two small untrained models and their cards (fast to load)."""
    import torch

    from core.models.architectures import BreuerNet, FanNet, fold_batch_norm
    from core.models.zoo import save_model

    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    fer_classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    for name, model in (
        ("fan2019-tiny", FanNet(num_classes=7, width=0.25).eval()),
        ("breuer2017-tiny", fold_batch_norm(BreuerNet(num_classes=7, width=0.125, batch_norm=True).eval())),
    ):
        card = {
            "name": name,
            "architecture": name.split("-")[0],
            "arch_args": {"num_classes": 7, "width": model.width},
            "input": {"size": 48, "color": "gray", "mean": 0.5, "std": 0.25},
            "classes": fer_classes,
            "training": {"format": "none", "note": "untrained, for tests"},
            "history": [{"epoch": e, "train_loss": 2 - 0.1 * e, "val_loss": 2 - 0.05 * e,
                         "train_accuracy": 0.2 + 0.02 * e, "val_accuracy": 0.2 + 0.01 * e} for e in (1, 2, 3)],
            "metrics": {"split": "test", "accuracy": 0.25, "macro_f1": 0.1, "ci_low": 0.2, "ci_high": 0.3, "n": 10,
                        "classes": fer_classes, "confusion": [[1 if i == j else 0 for j in range(7)] for i in range(7)]},
        }  # fmt: skip
        save_model(model, card, folder)
    return folder


@pytest.fixture
def use_tiny_zoo(tiny_zoo, monkeypatch) -> Path:
    """Point the app and core at the tiny zoo for one test."""
    monkeypatch.setenv("FER_WEIGHTS_DIR", str(tiny_zoo))
    return tiny_zoo
