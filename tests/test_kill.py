"""SIGKILL the CLI's long verbs at several points: the results store stays sound, nothing partial is
read or left under a real name, and a rerun completes."""

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from core.micro.synthetic import make_clip
from core.store import ResultStore
from tests.test_cli import REPO

KILL_AFTER_S = (0.5, 2.0, 4.0, 7.0)  # from start-up to deep inside the work


def _run(args: list[str], env: dict, kill_after: float | None = None) -> subprocess.CompletedProcess | None:
    command = [sys.executable, "-m", "core", *args]
    if kill_after is None:
        return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return None


def _store_is_sound(home) -> None:
    path = home / "results.sqlite"
    if not path.exists():
        return
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = ResultStore(path)
    for stored in store.list_results("spot"):  # a spot result never lacks its face track
        assert store.get_results([("spot", stored["key"]), ("spot-track", stored["key"])]) is not None


def _readable(path) -> None:
    """A file under its real name is whole: it parses to the end."""
    if not path.exists():
        return
    if path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".csv":
        rows = list(csv.reader(path.open()))
        assert rows and all(len(row) == len(rows[0]) for row in rows)


@pytest.fixture
def env(tmp_path, tiny_zoo):
    return {**os.environ, "FER_DASHBOARD_HOME": str(tmp_path / "home"), "FER_WEIGHTS_DIR": str(tiny_zoo)}


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "verb",
    ["spot", "atlas", "au-table"],
)
def test_a_killed_run_leaves_nothing_half_written_and_a_rerun_completes(verb, env, tmp_path):
    if verb == "spot":
        clip = make_clip(seconds=4.0, size=(320, 240), events=[(1.5, 0.3, "positive")], identity=0, seed=2)
        video = clip.write(tmp_path / "clip.avi")
        out = tmp_path / "out" / "spots.json"
        args = ["spot", str(video), "--model", "training-free", "--out", str(out)]
        env = {**env, "FER_WEIGHTS_DIR": str(REPO / "weights")}  # the shipped CNN the spotter reads
    elif verb == "atlas":
        out = tmp_path / "atlas"
        args = ["atlas", "--model", "fan2019-tiny", "--format", "generated", "--top", "2", "--out", str(out)]
    else:
        out = tmp_path / "au.csv"
        args = ["au-table", "--model", "fan2019-tiny", "--format", "generated", "--bootstrap", "50",
                "--permutations", "49", "--spatial-top", "1", "--regions", "template", "--out", str(out)]  # fmt: skip
    home = tmp_path / "home"
    for delay in KILL_AFTER_S:
        _run(args, env, kill_after=delay)
        _store_is_sound(home)
        if out.is_dir():
            _readable(out / "atlas.json")
        else:
            _readable(out)
            _readable(out.with_suffix(".json"))
    done = _run(args, env)
    assert done.returncode == 0, done.stderr[-2000:]
    _store_is_sound(home)
    if verb == "atlas":
        assert json.loads((out / "atlas.json").read_text())["layers"]
    elif verb == "au-table":
        _readable(out)
        assert json.loads(out.with_suffix(".json").read_text())["csv"] == out.name
    else:
        assert json.loads(out.read_text())["frames"] == clip.n_frames
