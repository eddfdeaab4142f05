"""Milliseconds per Zeiler & Fergus deconvolution of one 48x48 face, per conv layer.

    .venv/bin/python bench/bench_deconv.py [--repeats 20] [--threads N]

Shipped-size FanNet and BreuerNet(width=0.5) with random weights (speed does not depend
on the weights), on the CPU. The target is <= 50 ms per deconvolution for every layer.
Each call is what a page does: the cached safety verdict, one forward pass to find the
channel's maximum, and Captum's NeuronDeconvolution (one more forward and a backward).

--threads matters on a busy machine: at batch one, torch's thread pool waits for cores
that other processes hold, and one thread can be many times faster than two.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from core.explain import deconvolve  # noqa: E402
from core.models.architectures import BreuerNet, FanNet  # noqa: E402
from core.models.layers import conv_layers  # noqa: E402

BUDGET_MS = 50.0


def time_layer(model: torch.nn.Module, x: torch.Tensor, layer: str, repeats: int) -> float:
    """Median milliseconds of one deconvolution (after one warm-up call)."""
    deconvolve(model, x, layer, 0)
    times = []
    for channel in range(repeats):
        start = time.perf_counter()
        deconvolve(model, x, layer, channel % 8)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, median of {args.repeats}")
    torch.manual_seed(0)
    x = torch.randn(1, 1, 48, 48)
    slowest = 0.0
    for label, model in (("FanNet", FanNet()), ("BreuerNet(width=0.5)", BreuerNet(width=0.5))):
        model.eval()
        print(f"\n{label}")
        for layer in conv_layers(model):
            ms = time_layer(model, x, layer, args.repeats)
            slowest = max(slowest, ms)
            print(f"  {layer:<16} {ms:7.1f} ms")
    verdict = "within" if slowest <= BUDGET_MS else "OVER"
    print(f"\nslowest {slowest:.1f} ms: {verdict} the {BUDGET_MS:.0f} ms budget")


if __name__ == "__main__":
    main()
