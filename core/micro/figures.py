"""Pictures of a spotting run: the clip with its face track and spotting state drawn on every frame."""

from pathlib import Path

import cv2
import numpy as np

from core.faces import align_face
from core.media import iter_frames, probe_video, write_webm
from core.micro.intervals import Interval
from core.micro.track import eyes_face
from core.models.inputs import INPUT_SIZE
from core.progress import Progress, no_progress


def annotated_video(
    path: str | Path,
    track: dict[str, np.ndarray],
    score: list[float],
    intervals: list[Interval],
    target: Path,
    progress: Progress = no_progress,
) -> Path:
    """A WebM copy of the clip with the face box, the landmarks and the spotting state drawn.

    The box is green inside a spotted interval (with its kind, class and confidence written
    above it) and gray elsewhere; a bar at the bottom shows the spotting score.
    """
    info = probe_video(path)
    states: dict[int, Interval] = {}
    for interval in intervals:
        for index in range(interval.onset_frame, interval.offset_frame + 1):
            states[index] = interval
    frames = (_annotate(frame, index, track, score, states.get(index)) for index, frame in iter_frames(path))
    write_webm(Path(target), info, frames, progress)
    return Path(target)


def _annotate(
    frame: np.ndarray, index: int, track: dict, score: list[float], interval: Interval | None
) -> np.ndarray:
    canvas = frame.copy()
    height, width = canvas.shape[:2]
    thick = max(1, round(width / 400))
    color = (40, 220, 60) if interval else (170, 170, 170)
    if index < len(track["found"]) and track["found"][index]:
        x, y, w, h = (float(v) for v in track["boxes"][index])
        cv2.rectangle(canvas, (round(x), round(y)), (round(x + w), round(y + h)), color, thick, cv2.LINE_AA)
        if "landmarks" in track:  # a stored run whose landmark file was cleaned away has none
            back = cv2.invertAffineTransform(
                align_face(frame, eyes_face(track["eyes"][index]), INPUT_SIZE).matrix
            )
            points = track["landmarks"][index].astype(np.float32) @ back[:, :2].T + back[:, 2]
            for px, py in np.round(points).astype(int):
                cv2.circle(canvas, (int(px), int(py)), max(1, thick), (0, 230, 255), -1, cv2.LINE_AA)
        if interval:
            text = f"{interval.kind} {interval.label} {interval.score:.2f}"
            cv2.putText(canvas, text, (round(x), max(12, round(y) - 6)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.5 * thick, color, thick, cv2.LINE_AA)  # fmt: skip
    value = score[index] if index < len(score) else 0.0
    level = float(np.clip(value / 20.0, 0.0, 1.0))  # the bar is full at 20 noise units
    bar = max(4, height // 40)
    cv2.rectangle(canvas, (0, height - bar), (round(level * width), height), color, -1)
    cv2.putText(canvas, f"score {value:.1f}", (4, height - bar - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4 * thick, (255, 255, 255), thick, cv2.LINE_AA)  # fmt: skip
    return canvas
