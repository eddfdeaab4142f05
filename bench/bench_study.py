"""Studies at scale on Ray (core.study): clips per minute with 1 and 2 workers, a rerun, and a paper estimate.

    .venv/bin/python bench/bench_study.py [--clips 6] [--seconds 20] [--size 640x480] [--workers 1,2]
                                          [--model M] [--cores-per-node 2]

Throughput: --clips synthetic clips (core.micro.synthetic, --seconds each at 30 fps, --size, MJPG
AVI; written once, not timed) named by one manifest go through `run_study` as the `study run`
verb runs it, once for each count in --workers. Each run is a fresh process with a fresh results
store and FER_DASHBOARD_HOME (nothing is found ready), and `run_study` starts its own local Ray of
that many CPUs (address None) and shuts it down. Timed: the whole `run_study` call (hashing, Ray's
start-up, the workers' start-up, every clip, the tables). Prints the wall time, clips per minute,
Ray's start-up (summary["ray_startup_s"]), the cores busy on average, and the speed-up of the last
count against the first set against the ideal (2.0 for 2 workers against 1). On a shared machine
the figures depend on what else runs: stop other work while measuring.

Rerun: the finished study again on the last run's store, in a fresh process: no clip is submitted
(summary["submitted"] == 0) and Ray is not started; its wall time is the cost of knowing that.

Paper estimate (a model, not a measurement): how long a study of --estimate-recordings recordings
of --estimate-minutes minutes (default 100 of 20 minutes, 30 fps) takes on N nodes of
--cores-per-node cores (default 2, this machine's). From the runs above:
- the cost per frame: seconds of worker time per frame of video (at --size) in the 1-worker run,
  from the moments the clips finished (the first clip carries the worker's start-up; the rest are steady);
- the worker's start-up (importing torch and MediaPipe, loading the models): the first clip's
  time less its frames at the steady cost;
- the parallel efficiency: the speed-up of the multi-worker run against the 1-worker run once
  every worker has finished its first clip (frames per second over the clips finished after
  that), divided by the ideal one; with no clips left after the first ones, the speed-up after
  Ray was up. Capped at 1. "Cores busy" (the whole machine's CPU time over the run's wall time)
  shows whether one worker already keeps more than one core busy (MediaPipe's own threads);
- Ray's start-up.
Each recording is one task, at most one per core at a time, so a study takes ceil(recordings /
cores) rounds of one recording each: estimate = Ray start-up + worker start-up + rounds x
frames per recording x cost per frame / efficiency. Not modelled: the network, the file system
the nodes share for the clips and the results store, a cluster's own start-up and the driver.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FPS = 30.0
NODES = (1, 2, 4, 8, 16, 32)


def write_study(folder: Path, clips: int, seconds: float, size: tuple[int, int]) -> Path:
    """Write `clips` synthetic clips and a manifest naming them (two conditions, one participant per pair)."""
    from core.micro.synthetic import make_clip

    lines = ["path,participant,condition"]
    for i in range(clips):
        clip = make_clip(seconds=seconds, fps=FPS, size=size, events=max(1, int(seconds // 4)), identity=i % 4,
                         seed=100 + i, macro_share=0.3)  # fmt: skip
        name = f"clips/clip_{i:02d}.avi"
        clip.write(folder / name)
        lines.append(f"{name},P{i // 2 + 1},{('rest', 'task')[i % 2]}")
    manifest = folder / "study.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def busy_cpu_s() -> float:
    """CPU-seconds the whole machine has spent busy (all processes, all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def one_run(manifest: Path, home: Path, workers: int, model: str | None) -> dict:
    """One `run_study` call, timed, in this process (a fresh one): a local Ray of `workers` CPUs."""
    os.environ["FER_DASHBOARD_HOME"] = str(home)  # read by the Ray workers too: they inherit it
    import ray  # noqa: F401  (imported before the clock starts, as the CLI has it when a study begins)

    from core.store import ResultStore
    from core.study.manifest import read_study
    from core.study.run import run_study

    study = read_study(manifest)
    store = ResultStore(home / "results.sqlite")
    reports: list[tuple[float, float, str]] = []

    def progress(fraction: float, message: str) -> None:
        reports.append((time.perf_counter(), fraction, message))

    started, busy = time.perf_counter(), busy_cpu_s()
    result = run_study(study, home / "out", workers=workers, model=model, progress=progress, store=store)
    wall, busy = time.perf_counter() - started, busy_cpu_s() - busy
    summary = result.summary
    ray_began = next((t for t, _, message in reports if message == "starting Ray"), None)
    # A clip finished: "k of n clips: NAME done" (reported once per clip, as its task returns).
    finished = [t - started for t, _, message in reports if " clips: " in message]
    ray_up = None if ray_began is None else ray_began - started + summary["ray_startup_s"]
    return {
        "workers": workers, "clips": summary["clips"], "done": summary["done"], "failed": summary["failed"],
        "submitted": summary["submitted"], "skipped_already_done": summary["skipped_already_done"],
        "ray": summary["ray"], "ray_startup_s": summary["ray_startup_s"], "ray_up_s": ray_up,
        "wall_s": round(wall, 3), "summary_wall_s": summary["wall_s"], "model": result.model,
        "frames": [o.frames for o in result.outcomes], "finished_s": [round(t, 3) for t in finished],
        "intervals": summary["intervals"], "cores_busy": round(busy / wall, 2),
    }  # fmt: skip


def in_subprocess(manifest: Path, home: Path, workers: int, model: str | None) -> dict:
    command = [sys.executable, __file__, "--one-run", str(workers), "--manifest", str(manifest)]
    command += ["--home", str(home)]
    command += ["--model", model] if model else []
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"the {workers}-worker run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def steady_cost(run: dict) -> tuple[float, float]:
    """From a 1-worker run: (seconds per frame once the worker is warm, the worker's start-up in seconds)."""
    finished, frames = run["finished_s"], run["frames"]
    if len(finished) < 2:  # one clip: no steady part to tell apart from the start-up
        return (run["wall_s"] - run["ray_up_s"]) / sum(frames), 0.0
    cost = (finished[-1] - finished[0]) / sum(frames[1:])  # clips 2..n, one after another
    warm_up = max(finished[0] - run["ray_up_s"] - frames[0] * cost, 0.0)
    return cost, warm_up


def steady_rate(run: dict) -> float | None:
    """Frames per second of the whole run once each worker has finished its first clip (None: too few clips).
    The clips are of one length, so the ones finished later are any of them."""
    finished, workers = run["finished_s"], run["workers"]
    if len(finished) <= workers or finished[-1] <= finished[workers - 1]:
        return None
    per_clip = sum(run["frames"]) / len(run["frames"])
    return per_clip * (len(finished) - workers) / (finished[-1] - finished[workers - 1])


def estimate(cost: float, warm_up: float, efficiency: float, ray_s: float, recordings: int, minutes: float,
             cores: int) -> list[dict]:  # fmt: skip
    """The paper estimate of the module docstring, for each node count in NODES."""
    frames = round(minutes * 60 * FPS)
    rows = []
    for nodes in NODES:
        slots = nodes * cores
        rounds = math.ceil(recordings / slots)
        hours = (ray_s + warm_up + rounds * frames * cost / efficiency) / 3600
        ideal = recordings * frames * cost / slots / 3600
        rows.append({"nodes": nodes, "cores": slots, "rounds": rounds, "hours": round(hours, 2),
                     "ideal_hours": round(ideal, 2)})  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=6, help="clips in the synthetic study")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each clip")
    parser.add_argument("--size", default="640x480", help="frame size WIDTHxHEIGHT")
    parser.add_argument("--workers", default="1,2", help="worker counts to run, comma-separated")
    parser.add_argument("--model", help="the spotter (default: the shipped MicroLSTM)")
    parser.add_argument("--cores-per-node", type=int, default=os.cpu_count() or 2, help="for the estimate")
    parser.add_argument("--estimate-recordings", type=int, default=100, help="for the estimate")
    parser.add_argument("--estimate-minutes", type=float, default=20.0, help="for the estimate")
    parser.add_argument("--one-run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--manifest", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_run is not None:
        print(json.dumps(one_run(args.manifest, args.home, args.one_run, args.model)))
        return 0
    size = tuple(int(v) for v in args.size.lower().split("x"))
    counts = [int(w) for w in args.workers.split(",") if w.strip()]
    if len(size) != 2 or not counts or min(counts) < 1 or args.clips < 1:
        parser.error("--size takes WIDTHxHEIGHT, --workers counts of 1 or more, --clips 1 or more")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        began = time.perf_counter()
        manifest = write_study(folder, args.clips, args.seconds, size)
        print(f"study: {args.clips} clips of {args.seconds:g} s at {size[0]}x{size[1]}, {FPS:g} fps "
              f"(written in {time.perf_counter() - began:.1f} s, not timed)", flush=True)  # fmt: skip
        runs = []
        for workers in counts:
            run = in_subprocess(manifest, folder / f"home-{workers}", workers, args.model)
            runs.append(run)
            run["clips_per_min"] = round(60 * run["clips"] / run["wall_s"], 2)
            print(
                f"{workers} worker(s): {run['done']} of {run['clips']} clips done ({run['failed']} failed, "
                f"{run['submitted']} submitted, {sum(run['frames'])} frames) in {run['wall_s']:.1f} s = "
                f"{run['clips_per_min']} clips/min; Ray start-up {run['ray_startup_s']:.1f} s; "
                f"{run['cores_busy']} of {os.cpu_count()} cores busy on average [{run['model']}]",
                flush=True,
            )  # fmt: skip
        first, last = runs[0], runs[-1]
        speed_up = work_speed_up = steady_speed_up = None
        ideal = last["workers"] / first["workers"]
        if len(runs) > 1:
            speed_up = first["wall_s"] / last["wall_s"]
            work_speed_up = (first["wall_s"] - first["ray_up_s"]) / (last["wall_s"] - last["ray_up_s"])
            rates = steady_rate(first), steady_rate(last)
            steady_speed_up = rates[1] / rates[0] if None not in rates else None
            steady = f", once the workers are warm: {steady_speed_up:.2f}" if steady_speed_up else ""
            print(
                f"speed-up, {last['workers']} against {first['workers']} worker(s): {speed_up:.2f} (ideal {ideal:.1f}); "
                f"after Ray is up: {work_speed_up:.2f}{steady}"
            )  # fmt: skip
        rerun = in_subprocess(manifest, folder / f"home-{last['workers']}", last["workers"], args.model)
        print(
            f"rerun of the finished study: {rerun['wall_s']:.1f} s, submitted {rerun['submitted']}, "
            f"{rerun['skipped_already_done']} of {rerun['clips']} already done, Ray {rerun['ray']}"
        )
        table, cost, warm_up, efficiency, measured = None, None, None, None, None
        if first["workers"] == 1 and first["done"] == first["clips"]:
            cost, warm_up = steady_cost(first)
            measured = (steady_speed_up or work_speed_up or ideal) / ideal
            efficiency = min(measured, 1.0)  # above ideal: a small study's noise, not a gain to extrapolate
            ray_s = first["ray_startup_s"]
            table = estimate(cost, warm_up, efficiency, ray_s, args.estimate_recordings, args.estimate_minutes,
                             args.cores_per_node)  # fmt: skip
            print(
                f"\npaper estimate (a model, not a measurement): {args.estimate_recordings} recordings of "
                f"{args.estimate_minutes:g} min at {FPS:g} fps, {args.cores_per_node} cores a node, one recording "
                f"per core at a time;\nmeasured here at {size[0]}x{size[1]}: {1000 * cost:.1f} ms of worker time per "
                f"frame ({1 / cost:.1f} frames/s a worker), worker start-up {warm_up:.1f} s, parallel efficiency "
                f"{measured:.2f} (used: {efficiency:.2f}), Ray start-up {ray_s:.1f} s"
            )  # fmt: skip
            print(f"{'nodes':>5} {'cores':>5} {'rounds':>6} {'estimate':>10} {'perfect scaling':>16}")
            for row in table:
                print(f"{row['nodes']:>5} {row['cores']:>5} {row['rounds']:>6} {row['hours']:>8.2f} h "
                      f"{row['ideal_hours']:>14.2f} h")  # fmt: skip
        else:
            print("paper estimate skipped: it needs a 1-worker run first in --workers with every clip done")
    print(json.dumps({
        "clips": args.clips, "seconds": args.seconds, "size": list(size), "runs": runs, "rerun": rerun,
        "speed_up": speed_up and round(speed_up, 3), "speed_up_after_ray": work_speed_up and round(work_speed_up, 3),
        "speed_up_warm": steady_speed_up and round(steady_speed_up, 3),
        "estimate": table and {
            "recordings": args.estimate_recordings, "minutes": args.estimate_minutes, "cores_per_node": args.cores_per_node,
            "s_per_frame": round(cost, 5), "worker_startup_s": round(warm_up, 2), "efficiency": round(efficiency, 3),
            "measured_efficiency": round(measured, 3),
            "rows": table,
        },
    }, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
