"""`python -m core train`: bad input is one line and exit 2; a killed run resumes to the same card."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from core.datasets.generated import generate_face
from core.models.zoo import read_manifest
from tests.test_cli import REPO, cli

FAST = ["--width", "0.25", "--batch-size", "8", "--holdout", "0.25"]


def _train(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FER_WEIGHTS_DIR": str(tmp_path / "weights")}
    return subprocess.run([sys.executable, "-m", "core", "train", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    return lines[0]


def test_one_class_is_refused_in_one_line(tmp_path):
    (tmp_path / "faces" / "happy").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(generate_face("happy", 48, i)[..., 0]).save(tmp_path / "faces" / "happy" / f"{i}.png")
    line = _one_line_error(_train(tmp_path, "--name", "m", "--arch", "fan2019", "--format", "folder",
                                  "--root", str(tmp_path / "faces"), "--epochs", "1", *FAST))  # fmt: skip
    assert "one class only" in line


def test_an_unknown_architecture_is_refused_in_one_line(tmp_path):
    line = _one_line_error(_train(tmp_path, "--name", "m", "--arch", "resnet", "--format", "generated",
                                  "--epochs", "1", *FAST))  # fmt: skip
    assert "Unknown image architecture 'resnet'" in line


def test_an_empty_folder_is_refused_in_one_line(tmp_path):
    (tmp_path / "faces").mkdir()
    _one_line_error(_train(tmp_path, "--name", "m", "--arch", "fan2019", "--format", "folder",
                           "--root", str(tmp_path / "faces"), "--epochs", "1", *FAST))  # fmt: skip


def test_resume_from_another_architecture_is_refused(tmp_path):
    ckpt = tmp_path / "ckpt"
    args = ["--format", "generated", "--epochs", "1", "--checkpoint", str(ckpt), *FAST]
    assert _train(tmp_path, "--name", "a", "--arch", "fan2019", *args).returncode == 0
    line = _one_line_error(_train(tmp_path, "--name", "a", "--arch", "breuer2017", "--resume", *args))
    assert "checkpoint of FanNet, not of this BreuerNet" in line


@pytest.mark.timeout(600)
def test_a_run_killed_mid_epoch_resumes_to_the_same_card(tmp_path):
    ckpt, epochs = tmp_path / "ckpt", "6"
    args = ["--format", "generated", "--epochs", epochs, *FAST, "--arch", "fan2019"]
    straight = _train(tmp_path / "a", "--name", "m", *args, "--checkpoint", str(tmp_path / "other"))
    assert straight.returncode == 0, straight.stderr[-2000:]

    env = {**os.environ, "FER_WEIGHTS_DIR": str(tmp_path / "b" / "weights")}
    command = [sys.executable, "-m", "core", "train", "--name", "m", *args, "--checkpoint", str(ckpt)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (ckpt / "final.pt").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # after the first epoch's checkpoint, mid-way through the next
    process.wait()
    assert not (tmp_path / "b" / "weights" / "manifest.json").exists(), "killed before it finished"
    resumed = _train(tmp_path / "b", "--name", "m", *args, "--checkpoint", str(ckpt), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    first, second = (read_manifest(tmp_path / run / "weights")["m"] for run in ("a", "b"))
    assert first.keys() == second.keys()
    assert len(second["history"]) == int(epochs)
    assert [h["train_loss"] for h in second["history"]] == pytest.approx([h["train_loss"] for h in first["history"]])
    assert second["sha256"] == first["sha256"], "the resumed run ends with the same weights"
    assert json.loads(resumed.stdout)["name"] == "m"


def test_predict_says_which_probabilities_it_shows(tmp_path, use_tiny_zoo):
    Image.fromarray(generate_face("happy", 256, 0)).save(tmp_path / "face.png")
    result = cli("predict", str(tmp_path / "face.png"), "--model", "fan2019-tiny", "--flip")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["flip_averaged"] is True and "calibrated" in out


def test_the_micro_lstm_trains_through_the_same_verb(tmp_path):
    """One training entry point: a bad label set is refused by `train --arch micro_lstm` before any clip."""
    line = _one_line_error(_train(tmp_path, "--name", "m", "--arch", "micro_lstm", "--labels", "nope"))
    assert "Unknown label set 'nope'" in line
