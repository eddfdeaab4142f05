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


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Each test gets its own results store, so nothing a user saved is touched."""
    monkeypatch.setenv("FER_DASHBOARD_HOME", str(tmp_path_factory.mktemp("home")))
