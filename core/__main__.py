"""`python -m core VERB ...`: one verb per capability (see DESIGN.md, the CLI contract).

Machine-readable output is JSON on stdout; messages go to stderr; bad input exits 2 with
one clear line. `predict` with several images predicts every one it can: a row whose image
cannot be used holds an `error` instead, stderr has one line per such image, naming it, and
the exit status is 2 when any image failed.

The native libraries under the verbs (MediaPipe's TFLite and absl logging, OpenCV and
FFmpeg) write their own warnings straight to the process's stderr, where no Python logging
setting reaches; while a verb runs the CLI sends that file descriptor to /dev/null, and
Python's own messages (errors, progress bars, warnings) still reach stderr. Set
FER_NATIVE_LOGS=1 to see the native logs (the `train` verb always shows them).
"""

import argparse
import contextlib
import errno
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from core.defaults import DEFAULT_MODEL
from core.errors import InputError

DECONV_PNG_SCALE = 4  # the 48 px picture, enlarged with sharp pixels for slides
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")  # --crop, --annotated
# Set before the native libraries load (each quiets only part of their noise; see _native_logs_silenced).
NATIVE_QUIET_ENV = {
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "OPENCV_LOG_LEVEL": "ERROR",
    "OPENCV_FFMPEG_LOGLEVEL": "-8",
}
LOUD_VERBS = {"train"}  # verbs whose stderr is left as it is


class _SomeFailed(InputError):
    """Output to print although some inputs failed, with one message per failed input."""

    def __init__(self, output: dict, messages: list[str]) -> None:
        super().__init__(messages[0])
        self.output, self.messages = output, messages


# ---- output files: checked before the work, one clear line when they cannot be written -------


def _writable(path: Path, option: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """Refuse, before any work is done, an output file that cannot be written: a wrong
    extension, a folder in its place, a file where a folder should be, no permission. Missing
    folders are made, as every verb that writes does."""
    if suffixes and path.suffix.lower() not in suffixes:
        names = ", ".join(suffixes[:-1]) + f" or {suffixes[-1]}" if len(suffixes) > 1 else suffixes[0]
        raise InputError(f"{option} must end in {names}, not '{path.name}'.")
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; name a file to write in it.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass  # the folder takes new files
    except OSError as error:
        raise InputError(_cannot_write(path, option, error)) from None
    return path


@contextlib.contextmanager
def _writing(path: Path, option: str) -> Iterator[None]:
    """Turn an OSError while writing `path` into one clear line naming it."""
    try:
        yield
    except OSError as error:
        raise InputError(_cannot_write(path, option, error)) from None


def _cannot_write(path: Path, option: str, error: OSError) -> str:
    if isinstance(error, FileExistsError | NotADirectoryError) or error.errno == errno.ENOTDIR:
        for folder in path.parents:
            if folder.exists() and not folder.is_dir():
                return f"Cannot write {option} {path}: {folder} is a file, not a folder."
    if isinstance(error, PermissionError):
        return f"Cannot write {option} {path}: no permission to write in {path.parent}."
    return f"Cannot write {option} {path}: {(error.strerror or str(error)).lower()}."


def _named(path: Path, error: InputError) -> str:
    """The error's sentence, led by the file's name unless it already says it."""
    message = str(error)
    return message if path.name in message else f"{path}: {message}"


@contextlib.contextmanager
def _native_logs_silenced() -> Iterator[None]:
    """Send file descriptor 2 (where C++ libraries log) to /dev/null; keep Python's stderr.

    MediaPipe's absl and TFLite logs ignore GLOG_minloglevel and TF_CPP_MIN_LOG_LEVEL (they
    print before absl::InitializeLog), so the environment alone does not quiet them.
    """
    if os.environ.get("FER_NATIVE_LOGS"):
        yield
        return
    for name, value in NATIVE_QUIET_ENV.items():
        os.environ.setdefault(name, value)
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield  # no stderr descriptor to redirect (an embedded interpreter)
        return
    python_stderr = sys.stderr
    try:
        on_fd2 = python_stderr.fileno() == 2
    except (OSError, ValueError, AttributeError):
        on_fd2 = False  # Python's stderr is captured elsewhere (pytest's capsys): left as it is
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    if on_fd2:  # Python's messages go on to the real stderr, through a copy of its descriptor
        sys.stderr = open(saved, "w", buffering=1, encoding=python_stderr.encoding,  # noqa: SIM115
                          errors="backslashreplace", closefd=False)  # fmt: skip
    try:
        yield
    finally:
        if on_fd2:
            sys.stderr.close()  # flushes; the descriptor stays open (closefd=False)
            sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)


def _faces(args: argparse.Namespace) -> dict:
    from PIL import Image

    from core.faces import MAX_CROP_SIZE, MIN_CROP_SIZE, FaceAnalyzer, draw_faces, prepare_face
    from core.media import load_image_info

    if not MIN_CROP_SIZE <= args.size <= MAX_CROP_SIZE:
        raise InputError(f"--size must be from {MIN_CROP_SIZE} to {MAX_CROP_SIZE} pixels, not {args.size}.")
    for option, path in (("--crop", args.crop), ("--annotated", args.annotated)):
        if path is not None:
            _writable(path, option, PICTURE_SUFFIXES)
    loaded = load_image_info(args.image)
    analyzer = None if args.aligned else FaceAnalyzer()
    try:
        result = prepare_face(loaded.image, analyzer, size=args.size, aligned=args.aligned)
    finally:
        if analyzer is not None:
            analyzer.close()
    if args.crop:
        with _writing(args.crop, "--crop"):
            Image.fromarray(result.crop.image).save(args.crop)
    if args.annotated and result.face is not None:
        with _writing(args.annotated, "--annotated"):
            Image.fromarray(draw_faces(result.image, [result.face, *result.others])).save(args.annotated)
    faces = [result.face, *result.others] if result.face is not None else []
    return {
        "image": str(args.image),
        "faces": [{"box": [round(v, 1) for v in face.box], "score": round(face.score, 4)} for face in faces],
        "chosen": 0 if faces else None,
        "crop_size": list(result.crop.image.shape),
        "rotation": result.rotation,  # the picture was turned clockwise by this to find the face (boxes: its own)
        "scaled": loaded.scaled,
        "notes": [note for note in (loaded.note, result.note) if note],
    }


def _datasets(args: argparse.Namespace) -> dict:
    from core.datasets import read_dataset

    samples = read_dataset(args.format, args.root, split=args.split, au_labels=args.au_labels)
    return {
        "format": args.format,
        "n": len(samples),
        "labels": dict(sorted(Counter(s.label or "unlabelled" for s in samples).items())),
        "subjects": len({s.subject for s in samples if s.subject}),
        "sequences": len({s.sequence for s in samples if s.sequence}),
        "aus": {f"AU{au}": n for au, n in sorted(Counter(au for s in samples for au in s.aus).items())},
    }


def _train(args: argparse.Namespace) -> dict:
    from core.models.recipes import train_model
    from core.models.training import TrainConfig
    from core.progress import tqdm_progress

    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         optimizer=args.optimizer, balance=not args.no_balance,
                         label_smoothing=args.label_smoothing, weight_decay=args.weight_decay,
                         random_erasing=args.random_erasing)  # fmt: skip
    command = "python -m core " + " ".join(sys.argv[1:])
    if args.arch == "micro_lstm":
        return _train_micro(args, command)
    if not args.format:
        raise InputError("--format is needed: the layout of the dataset to train on (fer2013, ckplus, folder...).")
    checkpoints = args.checkpoint or Path.home() / ".fer-dashboard" / "checkpoints" / args.name
    with tqdm_progress(f"training {args.name}") as progress:
        card = train_model(
            args.name, args.arch, args.format, args.root, config, train_split=args.train_split,
            test_split=args.test_split, holdout=args.holdout, cv=args.cv, width=args.width, init=args.init,
            au_labels=args.au_labels, command=command, progress=progress, checkpoints=checkpoints,
            resume=args.resume,
        )  # fmt: skip
    summary = {key: card[key] for key in ("name", "file", "sha256", "classes")}
    if "metrics" in card:
        summary["metrics"] = {
            k: card["metrics"][k] for k in ("accuracy", "macro_f1", "ci_low", "ci_high", "n")
        }
    if "cv" in card:
        summary["cv"] = {k: card["cv"][k] for k in ("k", "mean", "sd")}
    return summary


def _train_micro(args: argparse.Namespace, command: str) -> dict:
    """The MicroLSTM on synthetic clips (core.micro.lstm), through the same verb as the CNNs."""
    from core.micro.lstm import train_micro_lstm
    from core.progress import tqdm_progress

    with tqdm_progress(f"training {args.name}") as progress:
        card = train_micro_lstm(
            args.name, args.labels, args.clips, args.face3_clips, args.balance_clips, args.epochs, args.hidden,
            args.cache, command, progress,
        )  # fmt: skip
    metrics = card["metrics"]
    return {key: card[key] for key in ("name", "file", "sha256", "classes")} | {
        "metrics": {k: metrics[k] for k in ("uf1", "uar", "accuracy", "n", "clips")},
        "folds": [{k: f[k] for k in ("subject", "n", "uf1", "uar")} for f in metrics["folds"]],
    }


def _evaluate(args: argparse.Namespace) -> dict:
    from core.datasets.units import unit_ids
    from core.models import load_model
    from core.models.evaluation import evaluate_predictions
    from core.models.recipes import load_faces
    from core.models.training import predict_logits
    from core.models.zoo import card_of
    from core.progress import tqdm_progress

    model = load_model(args.model)
    classes = card_of(model)["classes"]
    with tqdm_progress("reading faces") as progress:
        crops, samples = load_faces(args.format, args.root, args.split, args.au_labels, progress)
    # Only the classes the model knows can be scored; the others are counted and reported.
    kept = [i for i, s in enumerate(samples) if s.label in classes]
    y_true = [classes.index(samples[i].label) for i in kept]
    y_pred = predict_logits(model, crops[kept], flip=args.flip).argmax(1).numpy()
    groups = unit_ids([samples[i] for i in kept])
    result = evaluate_predictions(y_true, y_pred, classes, groups=groups)
    result["model"], result["skipped_unknown_class"] = args.model, len(samples) - len(kept)
    result["flip_averaged"] = args.flip
    return result


def _each_crop(paths: list[Path], aligned: bool) -> Iterator[tuple[Path, object, list[str]]]:
    """(path, model crop or the InputError that stopped it, notes) for each image: its face
    found and aligned as the pages do (or passed through when aligned)."""
    from core.faces import FaceAnalyzer, prepare_face
    from core.media import load_image_info

    analyzer = None if aligned else FaceAnalyzer()
    try:
        for path in paths:
            try:
                loaded = load_image_info(path)
                result = prepare_face(loaded.image, analyzer, aligned=aligned)
            except InputError as error:
                yield path, error, []
                continue
            yield path, result.crop.image, [note for note in (loaded.note, result.note) if note]
    finally:
        if analyzer is not None:
            analyzer.close()


def _model_crops(paths: list[Path], aligned: bool) -> list:
    """Each image's model crop; the first image that cannot be used stops with a line naming it."""
    crops = []
    for path, crop, _ in _each_crop(paths, aligned):
        if isinstance(crop, InputError):
            raise InputError(_named(path, crop))
        crops.append(crop)
    return crops


def _predict(args: argparse.Namespace) -> dict:
    from core.models import load_model
    from core.models.summary import predict_expression, probability_note, temperature

    model = load_model(args.model)
    rows, failed = [], []
    for path, crop, notes in _each_crop(args.images, args.aligned):
        if isinstance(crop, InputError):  # reported in its row and on stderr; the others are predicted
            rows.append({"image": str(path), "error": str(crop)})
            failed.append(_named(path, crop))
            continue
        ranked = sorted(predict_expression(model, crop, flip=args.flip).items(), key=lambda p: -p[1])
        rows.append({"image": str(path), "label": ranked[0][0],
                     "probabilities": {c: round(p, 4) for c, p in ranked}, "notes": notes})  # fmt: skip
    output = {"model": args.model, "calibrated": temperature(model) is not None, "temperature": temperature(model),
              "flip_averaged": args.flip, "probabilities_are": probability_note(model, args.flip),
              "predictions": rows, "failed": len(failed)}  # fmt: skip
    if failed:
        raise _SomeFailed(output, failed)
    return output


def _deconv(args: argparse.Namespace) -> dict:
    import numpy as np
    from PIL import Image

    from core.explain.views import deconvolution_view
    from core.models import load_model

    if args.out.suffix.lower() not in (".png", ".npy"):
        raise InputError(
            f"--out must end in .png (the picture) or .npy (the raw projection), not '{args.out.name}'."
        )
    _writable(args.out, "--out")
    model = load_model(args.model)
    crop = _model_crops([args.image], args.aligned)[0]  # the same crop `predict` sees
    view = deconvolution_view(model, crop, args.layer, args.channel)  # what Explore shows, from the same call
    with _writing(args.out, "--out"):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.suffix.lower() == ".npy":
            np.save(args.out, view.projection[None, None])  # as `deconvolve` returns it: x's shape
        else:
            Image.fromarray(view.picture(DECONV_PNG_SCALE)).save(args.out)
    return {"model": args.model, "image": str(args.image), **view.to_json(), "out": str(args.out)}


def _atlas(args: argparse.Namespace) -> dict:
    from core.datasets import read_dataset
    from core.explain.atlas import atlas_for_samples
    from core.explain.figures import write_atlas
    from core.models import load_model
    from core.models.layers import resolve_layers
    from core.progress import tqdm_progress

    if args.top < 1:
        raise InputError(f"--top must be at least 1, not {args.top}.")
    model = load_model(args.model)
    # Bad input fails here, before the progress bar, so the error is one line.
    layers = resolve_layers(model, args.layers.split(",")) if args.layers else None
    samples = read_dataset(args.format, args.root, split=args.split)
    with tqdm_progress("filter atlas") as progress:
        atlas = atlas_for_samples(model, samples, args.top, layers, progress=progress)
    written = write_atlas(atlas, args.out)
    return {
        "model": args.model, "faces": atlas.n_faces, "top": atlas.top, "from_store": atlas.from_store,
        "layers": {layer: atlas.maps[layer].channels for layer in atlas.layers},
        "out": str(args.out), "files": len(written),
    }  # fmt: skip


def _labelled(fmt: str, root: Path, split: str | None, au_labels: Path | None = None) -> list:
    """The labelled faces of a dataset, or an InputError saying there are none."""
    from core.datasets import read_dataset

    samples = [s for s in read_dataset(fmt, root, split=split, au_labels=au_labels) if s.label]
    if not samples:
        raise InputError(f"No labelled faces in {root} ({fmt}, split {split}).")
    return samples


def _transfer(args: argparse.Namespace) -> dict:
    from core.models import load_model
    from core.models.inputs import crops_from_samples
    from core.progress import tqdm_progress
    from core.store import ResultStore
    from core.transfer.curves import ALL, MODES, CurveConfig
    from core.transfer.results import save_committed
    from core.transfer.runs import (
        run_au_probes,
        run_cross_dataset,
        run_fine_tuning,
        run_micro_probe,
        run_shift,
    )

    def numbers(text: str, name: str) -> list:
        try:
            return [item if item == ALL else int(item) for item in text.split(",") if item]
        except ValueError:
            raise InputError(
                f"--{name} takes comma-separated whole numbers (and 'all'), not '{text}'."
            ) from None

    modes = [mode for mode in args.modes.split(",") if mode]
    if set(modes) - set(MODES):
        raise InputError(f"--modes takes {', '.join(MODES)}, not '{args.modes}'.")
    if args.shift and not (args.from_format and args.from_root):
        raise InputError(
            "--shift needs the model's own data too: --from-format FMT --from-root DIR [--from-split S]."
        )
    curve_config = CurveConfig(ks=tuple(numbers(args.ks, "ks")), seeds=tuple(numbers(args.seeds, "seeds")),
                               modes=tuple(modes), steps=args.steps)  # fmt: skip
    model = load_model(args.model)
    store, command = ResultStore(), "python -m core " + " ".join(sys.argv[1:])
    # Datasets are listed before any progress bar, so a bad folder or format is one clear line.
    samples = _labelled(args.to, args.root, args.split, args.au_labels)
    source_samples = _labelled(args.from_format, args.from_root, args.from_split) if args.shift else []
    with tqdm_progress("reading faces") as progress:
        crops = crops_from_samples(samples, progress=progress)
    results = {}
    with tqdm_progress("cross-dataset") as progress:
        results["cross_dataset"] = run_cross_dataset(
            model, samples, args.split, crops, store, progress, command
        )
    if args.curves:
        with tqdm_progress("fine-tuning curves") as progress:
            results["fine_tuning"] = run_fine_tuning(
                model, samples, crops, args.split, curve_config, store, progress, command
            )
    if args.probes:
        with tqdm_progress("AU probes") as progress:
            results["au_probes"] = run_au_probes(model, samples, crops, args.split, store=store,
                                                 progress=progress, command=command)  # fmt: skip
    if args.shift:
        with tqdm_progress("reading the model's own faces") as progress:
            source_crops = crops_from_samples(source_samples, progress=progress)
        with tqdm_progress("activation shift") as progress:
            results["shift"] = run_shift(model, (samples, crops, args.split),
                                         (source_samples, source_crops, args.from_split), store, progress, command)  # fmt: skip
    if args.micro:
        with tqdm_progress("micro-expression probe") as progress:
            results["micro_probe"] = run_micro_probe(model, store=store, progress=progress, command=command)
    if args.save:
        for result in results.values():
            print(f"wrote {save_committed(result)}", file=sys.stderr)
    output = {key: value for key, value in results.pop("cross_dataset").items() if key != "provenance"}
    output["model"], output["to"] = args.model, args.to
    return {**output, **results}


def _au_table_command(args: argparse.Namespace, params, layers: list[str]) -> str:
    """Every option spelled out (not sys.argv), so the provenance repeats the run exactly."""
    return (
        f"python -m core au-table --model {args.model} --format {args.format} "
        + (f"--root {args.root} " if args.root else "")
        + (f"--au-labels {args.au_labels} " if args.au_labels else "")
        + f"--method {args.method} --layers {','.join(layers)} --combos '{','.join(params.combos)}' "
        f"--min-present {params.min_present} --bootstrap {params.n_boot} --permutations {params.n_permutations} "
        f"--spatial-top {params.spatial_top} --regions {params.regions} --seed {params.seed} --out {args.out}"
    )


def _au_table(args: argparse.Namespace) -> dict:
    from datetime import UTC, datetime

    from core.au.ranking import AUTableParams, au_table_for_samples, write_table
    from core.datasets import read_dataset
    from core.models import load_model
    from core.models.layers import resolve_layers
    from core.progress import tqdm_progress

    if args.out.suffix.lower() != ".csv":
        raise InputError(f"--out must end in .csv, not '{args.out.name}'.")
    model = load_model(args.model)
    # Bad input fails here, before the progress bar, so the error is one line.
    layers = tuple(resolve_layers(model, args.layers.split(","))) if args.layers else None
    combos = tuple(c for c in (args.combos or "").split(",") if c.strip())
    params = AUTableParams(
        layers=layers, combos=combos, min_present=args.min_present, n_boot=args.bootstrap,
        n_permutations=args.permutations, seed=args.seed, spatial_top=args.spatial_top, regions=args.regions,
    ).checked()  # fmt: skip
    samples = read_dataset(args.format, args.root, au_labels=args.au_labels)
    with tqdm_progress(f"AU table ({args.method})") as progress:
        table = au_table_for_samples(model, samples, args.method, params, progress=progress)
    command, created = _au_table_command(args, params, table.meta["layers"]), datetime.now(UTC)
    csv_path, json_path = write_table(table, args.out, command, created.strftime("%Y-%m-%dT%H:%M:%SZ"))
    meta = table.meta
    return {
        "model": args.model, "method": args.method, "rows": len(table.rows), "faces": meta["n_faces"],
        "units": meta["n_units"], "unit": meta["unit"],
        "n_present": {au: n["n_present"] for au, n in meta["aus"].items()},
        "skipped": {au: n["n_present"] for au, n in meta["skipped"].items()},
        "from_store": table.source == "store", "out": str(csv_path), "provenance": str(json_path),
    }  # fmt: skip


def _findings_list(args: argparse.Namespace) -> dict:
    from core.findings import FindingBoards
    from core.store import ResultStore

    boards = FindingBoards(ResultStore()).boards()
    return {"boards": [{"name": b.name, "findings": b.n_findings} for b in boards]}


def _findings_export(args: argparse.Namespace) -> dict:
    from core.findings import FindingBoards, bundle_zip, deck_pptx, handout_pdf
    from core.models.zoo import read_manifest
    from core.paths import write_atomically
    from core.store import ResultStore

    wanted = {"--pptx": (args.pptx, deck_pptx), "--pdf": (args.pdf, handout_pdf), "--zip": (args.zip, bundle_zip)}
    wanted = {option: pair for option, pair in wanted.items() if pair[0] is not None}
    if not wanted:
        raise InputError("Name at least one file to write: --pptx FILE, --pdf FILE or --zip FILE.")
    for option, (path, _) in wanted.items():
        _writable(path, option, (f".{option[2:]}",))
    boards = FindingBoards(ResultStore())
    board = boards.board_named(args.board)
    findings, cards = boards.findings(board.id), read_manifest()
    written = {}
    for option, (path, make) in wanted.items():
        with _writing(path, option):
            write_atomically(path, make(board, findings, cards))
        written[option[2:]] = str(path)
    return {"board": board.name, "findings": len(findings), "written": written}


def _study_run(args: argparse.Namespace) -> dict:
    from core.progress import tqdm_progress
    from core.study.manifest import read_study
    from core.study.run import run_study

    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"--out {args.out} is a file; name a folder for the study's tables.")
    workers = args.workers if args.workers is not None else os.cpu_count() or 1
    study = read_study(args.manifest)  # a bad manifest is one line, before Ray starts
    with _writing(args.out, "--out"):
        args.out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=args.out):
            pass  # the folder takes new files
    with tqdm_progress(f"study {study.name}") as progress, _writing(args.out, "--out"):
        result = run_study(study, args.out, args.address, workers, args.model, progress)
    files = sorted(path.name for path in result.files.values())
    return {**result.summary, "out": str(args.out), "files": files}


def _spot(args: argparse.Namespace) -> dict:
    # Tracking starts without torch; the CNN's thread imports it beside the first frames' mesh. The
    # tracker's thread waits for the GIL after each mesh pass: a short switch interval hands it back
    # at once rather than after 5 ms of torch's import or the CNN's Python.
    sys.setswitchinterval(0.0005)
    from core.micro.pipeline import spot_video
    from core.paths import atomic_path, write_atomically
    from core.progress import tqdm_progress

    suffix = args.out.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise InputError(f"--out must end in .json or .csv, not '{args.out.name}'.")
    _writable(args.out, "--out")  # and an output that cannot be written, before the work
    with tqdm_progress("spotting") as progress:
        result = spot_video(args.video, args.model, progress)
    if suffix == ".json":
        write_atomically(args.out, json.dumps(result.contract(), indent=2) + "\n")
    else:
        import csv

        from core.micro.intervals import INTERVAL_COLUMNS

        with atomic_path(args.out) as partial, open(partial, "w", newline="") as f:
            writer = csv.DictWriter(f, INTERVAL_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(interval.to_json() for interval in result.intervals)
    return {"video": str(args.video), "model": result.model, "fps": result.fps, "frames": result.frames,
            "intervals": len(result.intervals), "from_store": result.from_store, "out": str(args.out)}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

    faces = verbs.add_parser("faces", help="find faces and landmarks; write the aligned crop")
    faces.add_argument("image", type=Path)
    faces.add_argument("--size", type=int, default=48, help="crop side in pixels, 16 to 1024 (default 48)")
    faces.add_argument("--aligned", action="store_true", help="the image is already an aligned crop")
    faces.add_argument("--crop", type=Path, help="write the aligned crop here (.png, .jpg, .tif...)")
    faces.add_argument("--annotated", type=Path, help="write the picture with faces and landmarks drawn")
    faces.set_defaults(run=_faces)

    datasets = verbs.add_parser("datasets", help="read a dataset and count its faces, labels and AUs")
    datasets.add_argument("--format", required=True, help="fer2013, ckplus, folder or generated")
    datasets.add_argument("--root", type=Path, help="the dataset folder (or the FER2013 csv)")
    datasets.add_argument("--split", help="train, test or private (FER2013)")
    datasets.add_argument("--au-labels", type=Path, help="CSV of AU presence per CK+ sequence")
    datasets.set_defaults(run=_datasets)

    predict = verbs.add_parser("predict", help="the model's expression probabilities for faces")
    predict.add_argument("images", type=Path, nargs="+")
    predict.add_argument("--model", default=DEFAULT_MODEL)
    predict.add_argument("--aligned", action="store_true", help="the images are already aligned crops")
    predict.add_argument("--flip", action="store_true", help="average each face with its mirror image")
    predict.add_argument("--json", action="store_true", help="JSON on stdout (the default)")
    predict.set_defaults(run=_predict)

    deconv = verbs.add_parser(
        "deconv", help="project a feature map's strongest response back to pixels (Zeiler & Fergus)"
    )
    deconv.add_argument("image", type=Path)
    deconv.add_argument("--model", default=DEFAULT_MODEL)
    deconv.add_argument("--layer", required=True, help="a conv, ReLU or pool layer: conv2 or features.conv2")
    deconv.add_argument("--channel", type=int, required=True, help="the feature map, 0-based")
    deconv.add_argument("--aligned", action="store_true", help="the image is already an aligned crop")
    deconv.add_argument(
        "--out", type=Path, required=True,
        help=".npy: the raw projection (1, 1, 48, 48) float32; .png: the normalised picture, enlarged x4",
    )  # fmt: skip
    deconv.set_defaults(run=_deconv)

    evaluate = verbs.add_parser("evaluate", help="accuracy, macro-F1 and 95%% CIs on a dataset")
    evaluate.add_argument("--model", default=DEFAULT_MODEL)
    evaluate.add_argument("--format", required=True)
    evaluate.add_argument("--root", type=Path, required=True)
    evaluate.add_argument("--split", help="train, test or private (FER2013)")
    evaluate.add_argument("--au-labels", type=Path)
    evaluate.add_argument("--flip", action="store_true", help="average each face with its mirror image")
    evaluate.add_argument("--json", action="store_true", help="JSON on stdout (the default)")
    evaluate.set_defaults(run=_evaluate)

    atlas = verbs.add_parser(
        "atlas", help="each feature map's top faces and their deconvolutions (Zeiler & Fergus fig. 2)"
    )
    atlas.add_argument("--model", default=DEFAULT_MODEL)
    atlas.add_argument("--format", required=True, help="fer2013, ckplus, folder or generated")
    atlas.add_argument("--root", type=Path, help="the dataset folder (not needed for generated)")
    atlas.add_argument("--split", help="train, test or private (FER2013)")
    atlas.add_argument("--top", type=int, default=9, help="faces kept per feature map (default 9)")
    atlas.add_argument("--layers", help="comma-separated layers, e.g. conv1,conv2 (default: every conv)")
    atlas.add_argument(
        "--out", type=Path, required=True,
        help="folder for atlas.json, <layer>.png overviews and <layer>/channel_<c>.png sheets",
    )  # fmt: skip
    atlas.set_defaults(run=_atlas)

    train = verbs.add_parser("train", help="train a model and write its weights and model card")
    train.add_argument("--name", required=True, help="model name, e.g. fan2019-fer2013")
    train.add_argument("--arch", required=True, help="fan2019 or breuer2017 (faces), micro_lstm (synthetic clips)")
    train.add_argument("--format", help="the dataset layout (not for micro_lstm, which draws its clips)")
    train.add_argument("--root", type=Path, help="the dataset folder (not needed for generated)")
    train.add_argument("--train-split", help="the split to fit on (FER2013: train)")
    train.add_argument("--test-split", help="the split scored once at the end, never used to choose (FER2013: test)")
    train.add_argument("--holdout", type=float, default=0.1,
                       help="share of the training faces held out to pick the epoch and fit the temperature")  # fmt: skip
    train.add_argument("--cv", type=int, default=0, help="subject-independent k-fold CV first (CK+: 10)")
    train.add_argument("--init", help="fine-tune from this shipped model")
    train.add_argument("--au-labels", type=Path)
    train.add_argument("--width", type=float, default=1.0, help="channel width multiplier")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=128)
    train.add_argument("--lr", type=float, default=3e-3, help="the peak learning rate of the one-cycle schedule")
    train.add_argument("--optimizer", default="adamw", choices=["adamw", "sgd"])
    train.add_argument("--weight-decay", type=float, default=5e-4)
    train.add_argument("--label-smoothing", type=float, default=0.1)
    train.add_argument("--no-balance", action="store_true", help="no class weights in the loss")
    train.add_argument("--random-erasing", type=float, default=0.0,
                       help="share of training faces with one random rectangle blanked (0.5 for FER2013)")  # fmt: skip
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--checkpoint", type=Path,
        help="folder for the training state, saved each epoch (default ~/.fer-dashboard/checkpoints/NAME)",
    )  # fmt: skip
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint folder's last epoch")
    micro = train.add_argument_group("micro_lstm: a MicroLSTM on synthetic clips, leave-one-face-out metrics")
    micro.add_argument("--labels", default="megc", help="megc or casme2 (classes of each synthetic event)")
    micro.add_argument("--clips", type=int, default=60, help="clips of faces 0-2 (seeds 0.., faces in turn)")
    micro.add_argument("--face3-clips", type=int, default=20, help="clips of face 3 (seeds 10000..)")
    micro.add_argument("--balance-clips", type=int, default=3, help="clips per face with one AU9, AU4, AU14 each")
    micro.add_argument("--hidden", type=int, default=64, help="LSTM units")
    micro.add_argument("--cache", type=Path, default=Path("/tmp/micro-lstm-cache"), help="tracked clips, reused")
    train.set_defaults(run=_train)
    transfer = verbs.add_parser(
        "transfer", help="a model tested on another dataset as it is; fine-tuning curves, AU probes, shift"
    )
    transfer.add_argument("--model", default=DEFAULT_MODEL, help="a shipped image model")
    transfer.add_argument("--to", required=True, help="the other dataset's format: fer2013, ckplus, folder")
    transfer.add_argument("--root", type=Path, required=True, help="the other dataset's folder")
    transfer.add_argument("--split", help="its split (FER2013: test)")
    transfer.add_argument("--au-labels", type=Path, help="CSV of AU presence per CK+ sequence")
    transfer.add_argument("--json", action="store_true", help="JSON on stdout (the default)")
    transfer.add_argument("--curves", action="store_true", help="also fine-tuning curves")
    transfer.add_argument("--ks", default="1,2,5,10,20,all", help="labelled sequences per class (curves)")
    transfer.add_argument("--seeds", default="0,1,2", help="seeds; seed s holds out subject fold s (curves)")
    transfer.add_argument("--modes", default="head,full,scratch", help="which curves")
    transfer.add_argument("--steps", type=int, default=150, help="training steps per curve point and seed")
    transfer.add_argument("--probes", action="store_true", help="also linear probes per layer and AU (CK+)")
    transfer.add_argument("--shift", action="store_true", help="also the KS shift of each feature map")
    transfer.add_argument("--from-format", help="the model's own data, for --shift (e.g. fer2013)")
    transfer.add_argument("--from-root", type=Path, help="its folder, for --shift")
    transfer.add_argument("--from-split", help="its split, for --shift (FER2013: test)")
    transfer.add_argument("--micro", action="store_true", help="also micro-expression classes (synthetic)")
    transfer.add_argument("--save", action="store_true", help="also write weights/results/transfer/*.json")
    transfer.set_defaults(run=_transfer)
    au_table = verbs.add_parser(
        "au-table", help="rank feature maps per FACS Action Unit, with 95%% CIs and q-values"
    )
    au_table.add_argument("--model", default=DEFAULT_MODEL)
    au_table.add_argument("--format", required=True, help="ckplus, generated, ... (faces with AU labels)")
    au_table.add_argument("--root", type=Path, help="the dataset folder (not needed for generated)")
    au_table.add_argument("--au-labels", type=Path, help="CSV of AU presence per CK+ sequence")
    au_table.add_argument("--method", choices=["distance", "correlation"], default="distance")
    au_table.add_argument("--layers", help="comma-separated conv layers (default: every conv)")
    au_table.add_argument("--combos", default="1+2", help="AU combinations too, e.g. 1+2,6+12")
    au_table.add_argument("--min-present", type=int, default=5, help="skip rarer AUs (units)")
    au_table.add_argument("--bootstrap", type=int, default=1000, help="resamples of units")
    au_table.add_argument("--permutations", type=int, default=999, help="permutations for the p-values")
    au_table.add_argument("--spatial-top", type=int, default=5, help="maps per layer and AU deconvolved")
    au_table.add_argument(
        "--regions", choices=["landmarks", "template"], default="landmarks",
        help="AU regions of aligned crops: each crop's own mesh, or the canonical template (faster)",
    )  # fmt: skip
    au_table.add_argument("--seed", type=int, default=0)
    au_table.add_argument(
        "--out", type=Path, required=True, help="the table (.csv); its provenance goes beside it (.json)"
    )
    au_table.set_defaults(run=_au_table)
    spot = verbs.add_parser("spot", help="spot and classify micro- and macro-expressions in a video")
    spot.add_argument("video", type=Path)
    spot.add_argument("--model", help="a MicroLSTM or training-free (default: the shipped MicroLSTM)")
    spot.add_argument("--out", type=Path, required=True, help=".json (fps, frames, intervals) or .csv")
    spot.set_defaults(run=_spot)
    _add_findings_verbs(verbs)
    _add_study_verbs(verbs)
    return parser


def _add_study_verbs(verbs) -> None:
    study = verbs.add_parser("study", help="a study's recordings spotted on Ray, summarised per participant")
    actions = study.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", help="spot each clip (a Ray task each, none twice); write the tables")
    run.add_argument("manifest", type=Path, help="a CSV (path, participant, condition...) or a clip folder")
    run.add_argument("--out", type=Path, required=True, help="folder for intervals.parquet/.csv, clips.csv, "
                     "participants.csv, conditions.csv and summary.json")  # fmt: skip
    run.add_argument("--address", help="a Ray cluster: auto or HOST:PORT (default: a local Ray for this run)")
    run.add_argument("--workers", type=int, help="clips spotted at once (default: this machine's CPU cores)")
    run.add_argument("--model", help="a MicroLSTM or training-free (default: the shipped MicroLSTM)")
    run.set_defaults(run=_study_run)


def _add_findings_verbs(verbs) -> None:
    findings = verbs.add_parser("findings", help="boards of pinned figures and tables: list them, export one")
    actions = findings.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="the boards and how many findings each holds").set_defaults(run=_findings_list)
    export = actions.add_parser("export", help="a board as a slide deck, a PDF handout and a zip bundle")
    export.add_argument("board", help="the board's name, as the Findings page shows it")
    export.add_argument("--pptx", type=Path, help="the slide deck to write (.pptx)")
    export.add_argument("--pdf", type=Path, help="the handout to write (.pdf)")
    export.add_argument("--zip", type=Path, help="the bundle to write (.zip): SVG, PNG, CSV, findings.json")
    export.set_defaults(run=_findings_export)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet = contextlib.nullcontext() if args.verb in LOUD_VERBS else _native_logs_silenced()
    try:
        with quiet:
            output = args.run(args)
    except _SomeFailed as failure:  # predict: the rows it could make, and a line per image it could not
        print(json.dumps(failure.output, indent=2))
        for message in failure.messages:
            print(f"error: {message}", file=sys.stderr)
        return 2
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(output, indent=2))
    return 0


def exit_without_teardown(code: int) -> None:
    """End the process once a verb is done, without tearing down torch's and MediaPipe's modules.

    That teardown takes about 0.7 s here, a fifth of a short clip's `spot`. Exit handlers still
    run first (scratch files, Ray's shutdown) and buffered output is flushed; every file a verb
    writes is closed by then (`atomic_path`).
    """
    import atexit
    import threading

    threading._shutdown()  # as the interpreter does: wait for the threads still running
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_without_teardown(main())
