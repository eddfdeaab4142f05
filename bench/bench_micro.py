"""Micro-expression spotting end to end on the CPU: speed against its floor, and memory against clip length.

    .venv/bin/python bench/bench_micro.py [--seconds 20] [--memory-minutes 1,10,60] [--skip-speed] [--model M]

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

Memory: peak resident memory (ru_maxrss) of a whole run on synthetic clips of each length in
--memory-minutes (default 1, 10 and 60), each in a fresh process. Their frames are drawn as they
are read, never written out, and go through what `spot_video` does after decoding: tracking,
CNN features (to disk a block at a time), signals (read back a chunk at a time), the spotter and
the store. The figure is the 60-minute peak against the 1-minute one (target: within 50 MB).
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
MEMORY_SIZE = (320, 240)  # memory does not depend on the frame size; drawing and tracking a smaller one is quicker


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


def speed_run(seconds: float, model: str | None, threads: int) -> dict:
    """Write a clip, spot it with `spot_video`, and time it (in a process of its own)."""
    import torch

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        path = write_clip(seconds, Path(folder))
        elapsed, cpu, result = spot(path, model, Path(folder) / "home")
        return {
            "seconds": seconds, "frames": result.frames, "model": result.model, "elapsed_s": round(elapsed, 1),
            "frames_per_s": round(result.frames / elapsed, 1), "x_real_time": round(result.frames / elapsed / FPS, 2),
            "cpu_s": round(cpu, 1), "frames_per_cpu_s": round(result.frames / cpu, 1), "intervals": len(result.intervals),
        }  # fmt: skip


def _status_mb(field: str) -> float:
    """A line of /proc/self/status in MB (VmRSS: resident now; VmHWM: the peak so far)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_run(minutes: float, model: str | None, threads: int) -> dict:
    """Spot a synthetic clip of `minutes` drawn frame by frame as it is read (never written out): the
    whole run as `spot_video` does it after decoding (tracking, CNN, signals, spotter, store), in a
    process of its own. Peak resident memory."""
    import os
    import resource

    import torch

    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["FER_DASHBOARD_HOME"] = folder  # the scratch columns and the store go here
        from core.media import VideoInfo
        from core.micro.pipeline import keep_run, score_video, spot_key
        from core.micro.spotters import load_spotter
        from core.micro.synthetic import make_clip
        from core.micro.track import features_from_frames
        from core.models.zoo import load_model, model_card
        from core.store import ResultStore

        seconds = 60 * minutes
        clip = make_clip(seconds=seconds, fps=FPS, size=MEMORY_SIZE, events=max(1, int(seconds // 10)), seed=1,
                         macro_share=0.3)  # fmt: skip
        spotter = load_spotter(model)
        cnn = load_model(spotter.feature_model)
        store = ResultStore()
        ready_mb = _status_mb("VmRSS")
        started = time.perf_counter()
        info = VideoInfo(clip.fps, clip.n_frames, *clip.size)
        video = features_from_frames(enumerate(clip.frames()), info, cnn, name=f"{minutes:g} min")
        tracking_peak_mb = _status_mb("VmHWM")
        cnn_sha = model_card(spotter.feature_model)["sha256"]
        key = spot_key(f"synthetic-{minutes:g}-min", spotter.name, spotter.checksum, cnn_sha)
        result = keep_run(store, key, score_video(video, spotter), video)
        elapsed = time.perf_counter() - started
        return {
            "minutes": minutes, "frames": result.frames, "intervals": len(result.intervals), "elapsed_s": round(elapsed, 1),
            "rss_ready_mb": round(ready_mb, 1), "peak_tracking_mb": round(tracking_peak_mb, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }  # fmt: skip


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


def in_subprocess(kind: str, length: float, model: str | None, threads: int) -> dict:
    command = [sys.executable, __file__, f"--{kind}", str(length), "--threads", str(threads)]
    command += ["--model", model] if model else []
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the speed clip")
    parser.add_argument(
        "--memory-minutes", default="1,10,60", help="clip lengths for the memory runs ('' skips)"
    )
    parser.add_argument("--model", help="the spotter (default: the shipped MicroLSTM)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (MediaPipe runs its own)")
    parser.add_argument("--skip-speed", action="store_true", help="the memory runs only")
    parser.add_argument("--speed", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--memory", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.speed is not None or args.memory is not None:
        run = speed_run if args.speed is not None else memory_run
        print(json.dumps(run(args.speed if args.speed is not None else args.memory, args.model, args.threads)))
        return 0
    floor, speed = None, None
    if not args.skip_speed:
        floor = floor_ratio(args.seconds, args.model)
        print(
            f"floor (decode + face mesh, loop only): {floor['frames']} frames in {floor['floor_s']} s = "
            f"{floor['floor_frames_per_s']} frames/s; `python -m core spot`, start-up included: {floor['pipeline_s']} s = "
            f"{floor['pipeline_frames_per_s']} frames/s; ratio pipeline/floor {floor['ratio']} (target 1.5)"
        )
        speed = in_subprocess("speed", args.seconds, args.model, args.threads)
        print(
            f"speed: {speed['frames']} frames of 640x480 at 30 fps in {speed['elapsed_s']} s = "
            f"{speed['frames_per_s']} frames/s ({speed['x_real_time']}x real time; target 2x) [{speed['model']}]; "
            f"{speed['frames_per_cpu_s']} frames per CPU-second (all threads)"
        )
    runs = []
    for minutes in [float(m) for m in args.memory_minutes.split(",") if m.strip()]:
        run = in_subprocess("memory", minutes, args.model, args.threads)
        runs.append(run)
        print(
            f"memory, {minutes:g} min ({run['frames']:,} frames, {run['intervals']} intervals, {run['elapsed_s']} s): "
            f"peak RSS {run['peak_rss_mb']} MB (ready to track {run['rss_ready_mb']} MB, peak while tracking "
            f"{run['peak_tracking_mb']} MB)", flush=True,
        )  # fmt: skip
    if len(runs) > 1:
        short = runs[0]
        for run in runs[1:]:
            print(
                f"peak RSS, {run['minutes']:g} min against {short['minutes']:g} min: "
                f"{run['peak_rss_mb'] - short['peak_rss_mb']:+.1f} MB (target: within 50 MB for 60 against 1)"
            )
    print(json.dumps({"floor": floor, "speed": speed, "memory": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
