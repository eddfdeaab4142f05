"""The spotted intervals of two fixed synthetic clips, frame for frame, against the committed record:
a change to the pipeline (threads, batching, dtypes, imports) must not move a single interval.

When a shipped spotter or its feature CNN is retrained, the record is out of date and the test says
so; rewrite it with `FER_UPDATE_GOLDEN=1 python -m pytest tests/test_micro_golden.py`.
"""

import json
import os
from pathlib import Path

import pytest

from core.micro.pipeline import spot_video
from core.micro.synthetic import demo_clip, make_clip
from core.models.zoo import model_card
from core.store import ResultStore

GOLDEN = Path(__file__).parent / "golden" / "micro_intervals.json"
SPOTTERS = ("micro-lstm-synthetic", "training-free")


def _clips():
    return {
        "demo": demo_clip(),
        "bench-8s": make_clip(seconds=8.0, fps=30.0, size=(640, 480), events=2, seed=1, macro_share=0.3),
    }


def _checksums() -> dict[str, str]:
    card = model_card("micro-lstm-synthetic")
    feature_model = card["input"]["feature_model"]
    return {"micro-lstm-synthetic": card["sha256"], feature_model: model_card(feature_model)["sha256"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("golden")
    out = {}
    for name, clip in _clips().items():
        path = clip.write(folder / f"{name}.mp4")
        for spotter in SPOTTERS:
            result = spot_video(path, spotter, store=ResultStore(folder / f"{name}-{spotter}.sqlite"))
            out[f"{name}/{spotter}"] = [
                {k: i[k] for k in ("onset_frame", "apex_frame", "offset_frame", "kind", "label")}
                for i in (interval.to_json() for interval in result.intervals)
            ]
    return out


def test_the_spotted_intervals_match_the_committed_record(runs):
    if os.environ.get("FER_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps({"models": _checksums(), "runs": runs}, indent=1) + "\n")
    golden = json.loads(GOLDEN.read_text())
    assert golden["models"] == _checksums(), (
        "The shipped spotter or its CNN changed since the record was written; check the new intervals "
        "and rewrite it: FER_UPDATE_GOLDEN=1 python -m pytest tests/test_micro_golden.py"
    )
    assert runs == golden["runs"]
    assert sum(len(intervals) for intervals in runs.values()) >= 4, "the clips must have intervals to compare"
