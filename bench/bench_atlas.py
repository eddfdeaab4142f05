"""Faces per second of the filter atlas (Zeiler & Fergus 2014, figure 2) beside a plain forward pass.

    .venv/bin/python bench/bench_atlas.py [--limit N] [--top 9] [--threads N]

For each shipped model (weights/manifest.json; where there is none yet, an untrained
FanNet and a folded BreuerNet(width=0.5), the shipped shapes: speed does not depend on the
weights) the atlas over all conv layers of FER2013's train faces ($FER_DATA_DIR/fer2013,
28,709 faces; --limit N takes a fixed random N of them) is timed beside a plain batched
forward pass over the same crops (batch 256, torch.inference_mode). The target: the atlas
takes at most 2x the forward pass. Reading the crops is timed apart and counted in neither.
Then the second visit: the same atlas read back through the results store.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.datasets import read_dataset  # noqa: E402
from core.explain.atlas import ATLAS_KIND, atlas_for_samples, atlas_key, build_atlas  # noqa: E402
from core.models import load_model, read_manifest  # noqa: E402
from core.models.architectures import BreuerNet, FanNet, fold_batch_norm  # noqa: E402
from core.models.inputs import crops_from_samples, to_tensor  # noqa: E402
from core.store import ResultStore  # noqa: E402

BATCH = 256
TARGET_RATIO = 2.0


def fer2013_train(limit: int | None) -> list:
    root = Path(os.environ.get("FER_DATA_DIR", REPO.parent / "shared" / "data")) / "fer2013"
    samples = read_dataset("fer2013", root, split="train")
    if limit and limit < len(samples):
        keep = np.sort(np.random.default_rng(0).choice(len(samples), limit, replace=False))
        samples = [samples[i] for i in keep]
    return samples


def models() -> list[tuple[str, torch.nn.Module]]:
    names = list(read_manifest())
    if names:
        return [(name, load_model(name)) for name in names]
    print("no shipped models yet: untrained FanNet and BreuerNet(width=0.5), the shipped shapes")
    torch.manual_seed(0)
    breuer = fold_batch_norm(BreuerNet(width=0.5, batch_norm=True).eval())
    return [("FanNet (untrained)", FanNet().eval()), ("BreuerNet w0.5 (untrained)", breuer)]


def forward_seconds(model: torch.nn.Module, crops: np.ndarray) -> float:
    """Seconds of a plain batched forward pass over all crops, after one warm-up batch."""
    with torch.inference_mode():
        model(to_tensor(crops[:BATCH]))
        started = time.perf_counter()
        for start in range(0, len(crops), BATCH):
            model(to_tensor(crops[start : start + BATCH]))
    return time.perf_counter() - started


def atlas_seconds(model: torch.nn.Module, crops: np.ndarray, ids: list[str], top: int):
    """The atlas, its seconds, and the seconds of its first pass (the forward passes)."""
    marks = {}

    def progress(fraction: float, message: str) -> None:
        if message.startswith("deconvolving"):
            marks.setdefault("pass 2", time.perf_counter())

    started = time.perf_counter()
    atlas = build_atlas(model, crops, ids, top=top, batch_size=BATCH, progress=progress)
    ended = time.perf_counter()
    return atlas, ended - started, marks.get("pass 2", ended) - started


def second_visit_seconds(model, atlas, limit: int | None, top: int, store: ResultStore) -> float:
    """Seconds of what a page does on its second visit: list the faces, find the atlas, read it."""
    samples = fer2013_train(limit)
    store.put_result(ATLAS_KIND, atlas_key(model, samples, top), atlas.to_bytes())
    started = time.perf_counter()
    again = atlas_for_samples(model, fer2013_train(limit), top, store=store)
    seconds = time.perf_counter() - started
    assert again.from_store, "the second visit was computed, not read from the store"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, help="use a fixed random N of the 28,709 train faces")
    parser.add_argument("--top", type=int, default=9, help="faces kept per feature map (default 9)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {BATCH}, top {args.top}")

    started = time.perf_counter()
    samples = fer2013_train(args.limit)
    crops = crops_from_samples(samples)
    ids = [s.source_id for s in samples]
    n = len(crops)
    print(f"read {n:,} FER2013 train crops in {time.perf_counter() - started:.1f} s (counted in neither)\n")

    print(f"{'model':<28}{'forward f/s':>12}{'atlas f/s':>11}{'ratio':>7}{'pass 1 s':>10}{'pass 2 s':>10}"
          f"{'stored MB':>11}{'2nd visit s':>13}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        store = ResultStore(Path(folder) / "results.sqlite")
        for name, model in models():
            forward = forward_seconds(model, crops)
            atlas, seconds, first_pass = atlas_seconds(model, crops, ids, args.top)
            stored_mb = len(atlas.to_bytes()) / 1e6
            second = second_visit_seconds(model, atlas, args.limit, args.top, store)
            ratio = seconds / forward
            flag = "" if ratio <= TARGET_RATIO else "  (over the 2x target)"
            print(f"{name:<28}{n / forward:>12,.0f}{n / seconds:>11,.0f}{ratio:>6.2f}x{first_pass:>10.1f}"
                  f"{seconds - first_pass:>10.1f}{stored_mb:>11.1f}{second:>13.2f}{flag}")  # fmt: skip


if __name__ == "__main__":
    main()
