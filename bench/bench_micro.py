"""Micro-expression spotting end to end on the CPU: speed against its floor, and memory against clip length.

    .venv/bin/python bench/bench_micro.py [--seconds 20] [--memory-minutes 1,10] [--model M]

Floor: the part of a run no pipeline can skip, OpenCV decoding the clip and MediaPipe's face
mesh (tracking mode, refined landmarks, as the pipeline runs it) on every frame, timed over the
loop alone. Pipeline: `python -m core spot CLIP --out FILE.json` as a user runs it, start-up
included, with an empty results store. Both run in fresh processes on the same clip, in turn,
each twice (the best of each counts); the ratio pipeline/floor is the figure (target 1.5).

Speed: a 640x480, 30 fps synthetic clip (core.micro.synthetic, written as MP4 first and not
timed) goes through `spot_video` as the page and the CLI run it: decoding, face tracking,
alignment, CNN features, spotting and the MicroLSTM. Prints frames/s and the multiple of real
time (the target is 2x: 60 frames/s).

Frames per CPU-second (the process's CPU time, all threads) is printed too: on a shared machine
the wall-clock rate depends on what else runs, the CPU cost does not.

Memory: the same for clips of each length in --memory-minutes, each in a fresh process,
reporting peak resident memory (ru_maxrss) and tracemalloc's peak of Python and numpy
allocations during `spot_video`, split at its "scoring" step: reading the features (frames are
streamed, so this stays near flat: the table of features, about 2 KB per frame, is all that
grows) and scoring them (spotting signals, the MicroLSTM's inputs, the timeline: whole-clip
arrays of a few KB per frame, which is what grows with the clip's length).
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


def spot(path: Path, model: str | None, home: Path, progress=None) -> tuple[float, float, object]:
    """Wall and CPU seconds (all of the process's threads, MediaPipe's included) of one spot_video."""
    import os

    os.environ["FER_DASHBOARD_HOME"] = str(home)  # a fresh store: nothing is found ready
    from core.micro.pipeline import spot_video
    from core.progress import no_progress

    started, cpu = time.perf_counter(), time.process_time()
    result = spot_video(path, model, progress or no_progress)
    return time.perf_counter() - started, time.process_time() - cpu, result


class StagePeaks:
    """A progress callback that splits tracemalloc's peak at spot_video's "scoring" step: the peak while
    the features are read (frames streamed: should not grow with the clip) and the peak while they are
    scored (signals, MicroLSTM, timeline: whole-clip arrays, a few KB per frame)."""

    def __init__(self) -> None:
        self.features_mb: float | None = None

    def __call__(self, fraction: float, message: str) -> None:
        import tracemalloc

        if self.features_mb is None and message.startswith("scoring"):
            self.features_mb = round(tracemalloc.get_traced_memory()[1] / 1e6, 1)
            tracemalloc.reset_peak()


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
        stages = StagePeaks()
        elapsed, cpu, result = spot(path, model, Path(folder) / "home", stages)
        traced_now, scoring_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        traced_peak = max(scoring_peak, (stages.features_mb or 0) * 1e6)
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
            "traced_features_peak_mb": stages.features_mb,
            "traced_scoring_peak_mb": round(scoring_peak / 1e6, 1),
            "traced_after_mb": round(traced_now / 1e6, 1),
        }


def floor_seconds(path: Path) -> tuple[float, int]:
    """Decode + face mesh over every frame, in a fresh process; the loop's seconds and frames."""
    code = (
        "import sys, time, cv2, mediapipe as mp\n"
        "mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1, refine_landmarks=True)\n"
        "capture, n = cv2.VideoCapture(sys.argv[1]), 0\n"
        "started = time.perf_counter()\n"
        "while True:\n"
        "    ok, frame = capture.read()\n"
        "    if not ok: break\n"
        "    mesh.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)); n += 1\n"
        "print(time.perf_counter() - started, n)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    seconds, frames = out.stdout.split()
    return float(seconds), int(frames)


def cli_seconds(path: Path, model: str | None, home: Path) -> float:
    """`python -m core spot` end to end, start-up included, with an empty results store."""
    import os
    import shutil

    shutil.rmtree(home, ignore_errors=True)
    command = [sys.executable, "-m", "core", "spot", str(path), "--out", str(home.parent / "spots.json")]
    command += ["--model", model] if model else []
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env={**os.environ, "FER_DASHBOARD_HOME": str(home)}, check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def floor_ratio(seconds: float, model: str | None, repeats: int = 2) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = write_clip(seconds, Path(folder))
        floors, pipelines = [], []
        for _ in range(repeats):
            floor, frames = floor_seconds(path)
            floors.append(floor)
            pipelines.append(cli_seconds(path, model, Path(folder) / "home"))
    floor, pipeline = min(floors), min(pipelines)
    return {
        "frames": frames, "floor_s": round(floor, 2), "floor_frames_per_s": round(frames / floor, 1),
        "pipeline_s": round(pipeline, 2), "pipeline_frames_per_s": round(frames / pipeline, 1),
        "ratio": round(pipeline / floor, 2), "floors_s": [round(f, 2) for f in floors],
        "pipelines_s": [round(p, 2) for p in pipelines],
    }  # fmt: skip


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
    floor = floor_ratio(args.seconds, args.model)
    print(
        f"floor (decode + face mesh, loop only): {floor['frames']} frames in {floor['floor_s']} s = "
        f"{floor['floor_frames_per_s']} frames/s; `python -m core spot`, start-up included: {floor['pipeline_s']} s = "
        f"{floor['pipeline_frames_per_s']} frames/s; ratio pipeline/floor {floor['ratio']} (target 1.5)"
    )
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
            f"(before spotting {run['rss_before_spot_mb']} MB), tracemalloc peak {run['traced_peak_mb']} MB "
            f"(reading features {run['traced_features_peak_mb']} MB, scoring {run['traced_scoring_peak_mb']} MB), "
            f"{run['frames_per_s']} frames/s"
        )
    if len(runs) > 1:
        short, long = runs[0], runs[-1]
        frames = max(long["frames"] - short["frames"], 1)
        growth = {k: round((long[k] - short[k]) * 1e6 / frames) for k in ("traced_features_peak_mb", "traced_scoring_peak_mb", "peak_rss_mb")}  # fmt: skip
        print(
            f"growth per frame, {short['frames']} to {long['frames']} frames: tracemalloc peak while reading "
            f"{growth['traced_features_peak_mb']} bytes, while scoring {growth['traced_scoring_peak_mb']} bytes; "
            f"peak RSS {growth['peak_rss_mb']} bytes"
        )
    print(json.dumps({"floor": floor, "speed": speed, "memory": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
