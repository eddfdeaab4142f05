"""Micro-expression spotting end to end on the CPU: speed, and memory against clip length.

    .venv/bin/python bench/bench_micro.py [--seconds 20] [--memory-minutes 1,10] [--model M]

Speed: a 640x480, 30 fps synthetic clip (core.micro.synthetic, written as MP4 first and not
timed) goes through `spot_video` as the page and the CLI run it: decoding, face tracking,
alignment, CNN features, spotting and the MicroLSTM. Prints frames/s and the multiple of real
time (the target is 2x: 60 frames/s).

Frames per CPU-second (the process's CPU time, all threads) is printed too: on a shared machine
the wall-clock rate depends on what else runs, the CPU cost does not.

Memory: the same for clips of each length in --memory-minutes, each in a fresh process,
reporting peak resident memory (ru_maxrss) and tracemalloc's peak of Python and numpy
allocations during `spot_video`. Flat means the 10-minute peak is close to the 1-minute one:
frames are never kept, only a few KB of features per frame.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIZE = (640, 480)
FPS = 30.0


def write_clip(seconds: float, folder: Path) -> Path:
    from core.micro.synthetic import make_clip

    clip = make_clip(
        seconds=seconds, fps=FPS, size=SIZE, events=max(1, int(seconds // 4)), seed=1, macro_share=0.3
    )
    return clip.write(folder / f"bench_{seconds:g}s.mp4")


def spot(path: Path, model: str | None, home: Path) -> tuple[float, float, object]:
    """Wall and CPU seconds (all of the process's threads, MediaPipe's included) of one spot_video."""
    import os

    os.environ["FER_DASHBOARD_HOME"] = str(home)  # a fresh store: nothing is found ready
    from core.micro.spotting import spot_video

    started, cpu = time.perf_counter(), time.process_time()
    result = spot_video(path, model)
    return time.perf_counter() - started, time.process_time() - cpu, result


def one_run(seconds: float, model: str | None, threads: int) -> dict:
    """Write a clip, spot it, and measure (run in its own process for a clean memory peak)."""
    import resource
    import tracemalloc

    import torch

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        path = write_clip(seconds, Path(folder))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tracemalloc.start()
        elapsed, cpu, result = spot(path, model, Path(folder) / "home")
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {
            "seconds": seconds,
            "frames": result.frames,
            "model": result.model,
            "elapsed_s": round(elapsed, 1),
            "frames_per_s": round(result.frames / elapsed, 1),
            "x_real_time": round(result.frames / elapsed / FPS, 2),
            "cpu_s": round(cpu, 1),
            "frames_per_cpu_s": round(result.frames / cpu, 1),
            "intervals": len(result.intervals),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "rss_before_spot_mb": round(before, 1),
            "traced_peak_mb": round(traced_peak / 1e6, 1),
        }


def in_subprocess(seconds: float, model: str | None, threads: int) -> dict:
    command = [sys.executable, __file__, "--one", str(seconds), "--threads", str(threads)]
    command += ["--model", model] if model else []
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the speed clip")
    parser.add_argument(
        "--memory-minutes", default="1,10", help="clip lengths for the memory runs ('' skips)"
    )
    parser.add_argument("--model", help="the spotter (default: the shipped MicroLSTM)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (MediaPipe runs its own)")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one_run(args.one, args.model, args.threads)))
        return 0
    speed = in_subprocess(args.seconds, args.model, args.threads)
    print(
        f"speed: {speed['frames']} frames of 640x480 at 30 fps in {speed['elapsed_s']} s = "
        f"{speed['frames_per_s']} frames/s ({speed['x_real_time']}x real time; target 2x) [{speed['model']}]; "
        f"{speed['frames_per_cpu_s']} frames per CPU-second (all threads)"
    )
    runs = []
    for minutes in [float(m) for m in args.memory_minutes.split(",") if m.strip()]:
        run = in_subprocess(60 * minutes, args.model, args.threads)
        runs.append(run)
        print(
            f"memory, {minutes:g} min ({run['frames']} frames): peak RSS {run['peak_rss_mb']} MB "
            f"(before spotting {run['rss_before_spot_mb']} MB), tracemalloc peak {run['traced_peak_mb']} MB, "
            f"{run['frames_per_s']} frames/s"
        )
    print(json.dumps({"speed": speed, "memory": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
