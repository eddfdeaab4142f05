"""Inference speed of every shipped model and the app's memory with all of them loaded.

    .venv/bin/python bench/bench_models.py [--repeats 20]

Prints images/s at batch 1 and 256 on the CPU (and on CUDA when there is one), and the
peak resident memory of a process holding what the app holds: streamlit imported, the
face analyzer, and every model of weights/manifest.json, each having predicted once.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from core.models import load_model, read_manifest  # noqa: E402
from core.models.zoo import is_micro_card  # noqa: E402

APP_MEMORY_PROBE = """
import json, resource, sys
sys.path.insert(0, {repo!r})
import numpy as np, streamlit  # noqa: F401
from core.faces import FaceAnalyzer, prepare_face
from core.datasets.generated import generate_face
from core.models import load_model, read_manifest
from core.models.summary import predict_expression
from core.models.zoo import is_micro_card
analyzer = FaceAnalyzer()
crop = prepare_face(generate_face("happy"), analyzer).crop.image
for name, card in read_manifest().items():
    model = load_model(name)  # every model is held, as the app holds them; the CNNs predict once
    if not is_micro_card(card):
        predict_expression(model, crop)
print(json.dumps({{"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "models": list(read_manifest())}}))
"""


def images_per_second(model: torch.nn.Module, batch: int, device: torch.device, repeats: int) -> float:
    x = torch.randn(batch, 1, 48, 48, device=device)
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(repeats):
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return batch * repeats / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"{'model':<24}{'device':<8}{'batch 1 (img/s)':>18}{'batch 256 (img/s)':>20}")
    for name, card in read_manifest().items():
        if is_micro_card(card):  # an LSTM reads clip features, not faces: bench/bench_micro.py measures it
            continue
        for device in devices:
            model = load_model(name, device=device)
            single = images_per_second(model, 1, device, args.repeats * 10)
            batched = images_per_second(model, 256, device, args.repeats)
            print(f"{name:<24}{device.type:<8}{single:>18,.0f}{batched:>20,.0f}")
    probe = subprocess.run([sys.executable, "-c", APP_MEMORY_PROBE.format(repo=str(REPO))],
                           capture_output=True, text=True, check=True)  # fmt: skip
    memory = json.loads(probe.stdout.strip().splitlines()[-1])
    print(
        f"peak memory of the app process with {len(memory['models'])} models loaded: {memory['peak_rss_mb']:,.0f} MB"
    )


if __name__ == "__main__":
    main()
