"""Face detection, landmarks and alignment, on faces the project draws (and on CK+48 where present)."""

import threading

import cv2
import numpy as np
import pytest

from core.datasets.generated import generate_face, read_generated
from core.errors import FaceError, InputError
from core.faces import (
    LEFT_EYE_CONTOUR,
    NO_FACE_MESSAGE,
    RIGHT_EYE_CONTOUR,
    AlignedFace,
    Face,
    FaceAnalyzer,
    align_face,
    canonical_eye_positions,
    choose_face,
    draw_faces,
    draw_landmarks,
    mesh_points,
    prepare_face,
)
from core.media import load_image

SAMPLES = read_generated()


def eye_centres(crop: AlignedFace) -> np.ndarray:
    return np.stack(
        [crop.landmarks[list(RIGHT_EYE_CONTOUR)].mean(0), crop.landmarks[list(LEFT_EYE_CONTOUR)].mean(0)]
    )


def eye_line_degrees(crop: AlignedFace) -> float:
    right, left = eye_centres(crop)
    return float(np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0])))


def paste(canvas: np.ndarray, face: np.ndarray, x: int, y: int) -> tuple[int, int, int, int]:
    h, w = face.shape[:2]
    canvas[y : y + h, x : x + w] = face
    return x, y, w, h


def inside(point, region) -> bool:
    x, y, w, h = region
    return x <= point[0] <= x + w and y <= point[1] <= y + h


# ---- every generated face ------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.source_id)
def test_every_generated_face_aligns_onto_the_canonical_eyes(analyzer, sample):
    result = prepare_face(sample.image, analyzer)
    crop = result.crop
    assert result.face is not None and result.others == []
    assert crop.image.shape == (48, 48) and crop.image.dtype == np.uint8
    assert crop.landmarks.shape == (478, 2) and crop.matrix.shape == (2, 3)
    assert np.abs(eye_centres(crop) - canonical_eye_positions(48)).max() < 1.5
    within = ((crop.landmarks >= -0.5) & (crop.landmarks <= 47.5)).all(axis=1)
    # The crop is the face, cheek to cheek; as in CK+48, the tip of the chin may run past the bottom.
    assert within.mean() > 0.85


def test_colour_crops_and_other_sizes(analyzer):
    image = SAMPLES[3].image
    assert prepare_face(image, analyzer, gray=False).crop.image.shape == (48, 48, 3)
    crop = prepare_face(image, analyzer, size=96).crop
    assert crop.image.shape == (96, 96)
    assert np.abs(eye_centres(crop) - canonical_eye_positions(96)).max() < 1.5


@pytest.mark.parametrize("angle", [20, -20])
@pytest.mark.parametrize("label", ["happy", "surprise", "neutral"])
def test_a_rotated_face_is_aligned_back_upright(analyzer, label, angle):
    face = generate_face(label, seed=1)
    rotation = cv2.getRotationMatrix2D((128, 128), angle, 1.0)
    rotated = cv2.warpAffine(face, rotation, (256, 256), borderMode=cv2.BORDER_REPLICATE)
    crop = prepare_face(rotated, analyzer).crop
    assert abs(eye_line_degrees(crop)) < 3


def test_without_a_mesh_the_detector_eyes_are_used(analyzer):
    image = SAMPLES[0].image
    face = analyzer.detect(image)[0]
    bare = Face(box=face.box, score=face.score, keypoints=face.keypoints, landmarks=None)
    crop = align_face(image, bare)
    assert crop.image.shape == (48, 48) and crop.landmarks is None
    mapped = face.keypoints[:2] @ crop.matrix[:, :2].T + crop.matrix[:, 2]
    assert np.allclose(mapped, canonical_eye_positions(48), atol=1e-3)
    # BlazeFace's eyes are coarser than the mesh's (a few pixels), but frame the same face.
    meshed = align_face(image, face)
    scale = np.sqrt(np.linalg.det(crop.matrix[:, :2]) / np.linalg.det(meshed.matrix[:, :2]))
    angle = np.degrees(
        np.arctan2(crop.matrix[1, 0], crop.matrix[0, 0])
        - np.arctan2(meshed.matrix[1, 0], meshed.matrix[0, 0])
    )
    assert 0.75 < scale < 1.33 and abs(angle) < 8


# ---- several faces, none, tiny and huge pictures ------------------------------------------


def test_several_faces_are_all_found_and_the_largest_is_chosen(analyzer):
    canvas = np.full((400, 900, 3), 90, np.uint8)
    small = paste(canvas, generate_face("happy", 150, 0), 20, 80)
    large = paste(canvas, generate_face("sad", 320, 1), 250, 20)
    middle = paste(canvas, generate_face("fear", 200, 2), 620, 150)
    faces = analyzer.detect(canvas)
    assert len(faces) == 3
    assert [face.area for face in faces] == sorted((face.area for face in faces), reverse=True)
    assert all(face.landmarks is not None for face in faces)
    result = prepare_face(canvas, analyzer)
    assert inside(result.face.center, large)
    assert all(
        inside(face.center, region) for face, region in zip(result.others, (middle, small), strict=True)
    )


def test_small_faces_of_a_group_photo_are_found(analyzer):
    canvas = np.full((300, 1000, 3), 120, np.uint8)
    regions = [
        paste(canvas, generate_face(label, size, seed), x, y)
        for (x, y, size, label, seed) in [
            (20, 80, 60, "happy", 0), (200, 20, 80, "sad", 1), (400, 150, 100, "fear", 2), (600, 50, 45, "neutral", 3),
        ]
    ]  # fmt: skip
    faces = analyzer.detect(canvas)
    assert len(faces) == 4
    assert all(any(inside(face.center, region) for face in faces) for region in regions)


def test_choose_face():
    keypoints = np.zeros((6, 2), np.float32)
    big = Face((0, 0, 100, 100), 0.7, keypoints)
    sure = Face((200, 0, 50, 50), 0.95, keypoints)
    assert choose_face([sure, big]) == (big, [sure])
    assert choose_face([sure, big], how="score") == (sure, [big])
    with pytest.raises(FaceError, match="No face was found"):
        choose_face([])
    with pytest.raises(ValueError):
        choose_face([big], how="nearest")


def _landscape() -> np.ndarray:
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    sky = np.stack(
        [100 + 100 * yy / 480, 150 - 50 * yy / 480 + 20 * np.sin(xx / 40), 230 - 150 * yy / 480], -1
    )
    return sky.clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "image",
    [
        np.full((480, 640, 3), 128, np.uint8),
        np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8),
        _landscape(),
    ],
    ids=["grey", "noise", "landscape"],
)
def test_no_face_gives_a_clear_error(analyzer, image):
    with pytest.raises(FaceError) as error:
        prepare_face(image, analyzer)
    assert str(error.value) == NO_FACE_MESSAGE
    assert "frontal" in NO_FACE_MESSAGE and "40 pixels" in NO_FACE_MESSAGE


def test_a_pre_aligned_crop_passes_straight_through():
    gray = cv2.cvtColor(generate_face("sad", 48, 0), cv2.COLOR_RGB2GRAY)
    result = prepare_face(gray, None, aligned=True)
    assert result.face is None and result.others == [] and result.crop.landmarks is None
    assert np.array_equal(result.crop.image, gray)
    assert np.allclose(result.crop.matrix, [[1, 0, 0], [0, 1, 0]])
    bigger = prepare_face(generate_face("sad", 96, 0), None, aligned=True).crop
    assert bigger.image.shape == (48, 48)
    assert np.allclose(bigger.matrix @ [0.5, 0.5, 1], [0, 0])  # 2 x 2 source pixels -> 1 crop pixel


@pytest.mark.parametrize("label", ["happy", "angry", "neutral"])
def test_a_tiny_unaligned_face_is_upscaled_and_found(analyzer, label):
    image = generate_face(label, 48, 2)
    result = prepare_face(image, analyzer)
    x, y, w, h = result.face.box
    assert x >= 0 and y >= 0 and x + w <= 48 and y + h <= 48 and w > 15
    assert result.face.landmarks is not None
    assert np.abs(eye_centres(result.crop) - canonical_eye_positions(48)).max() < 1.5


def test_a_huge_picture_is_shrunk_for_detection_and_mapped_back(analyzer):
    canvas = np.zeros((3000, 4000, 3), np.uint8)
    canvas[:] = (70, 90, 60)
    pasted = paste(canvas, generate_face("happy", 600, 0), 2500, 1200)
    faces = analyzer.detect(canvas)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert x >= 0 and y >= 0 and x + w <= 4000 and y + h <= 3000
    assert inside(faces[0].center, pasted) and 200 < w < 600
    landmarks = faces[0].landmarks
    assert all(inside(point, pasted) for point in (landmarks.min(0), landmarks.max(0)))
    crop = prepare_face(canvas, analyzer).crop
    assert np.abs(eye_centres(crop) - canonical_eye_positions(48)).max() < 1.5


def test_gray_pictures_are_accepted_and_other_arrays_refused(analyzer):
    gray = cv2.cvtColor(SAMPLES[5].image, cv2.COLOR_RGB2GRAY)
    assert len(analyzer.detect(gray)) == 1
    with pytest.raises(InputError, match="8-bit"):
        analyzer.detect(gray.astype(np.float32))
    with pytest.raises(InputError, match="shape"):
        analyzer.detect(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(InputError, match="empty"):
        prepare_face(np.zeros((0, 0, 3), np.uint8), analyzer)


# ---- sharing, drawing, closing -------------------------------------------------------------


def test_threads_sharing_one_analyzer_get_identical_results(analyzer):
    images = [SAMPLES[i].image for i in (0, 9, 18, 27)]
    expected = [analyzer.detect(image) for image in images]
    results: dict[int, list] = {}

    def work(worker: int) -> None:
        results[worker] = [analyzer.detect(image) for image in images]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1, 2, 3]
    for faces_per_image in results.values():
        for faces, reference in zip(faces_per_image, expected, strict=True):
            assert len(faces) == len(reference) == 1
            assert np.allclose(faces[0].box, reference[0].box)
            assert np.allclose(faces[0].landmarks, reference[0].landmarks)


def test_draw_faces_returns_a_new_marked_picture(analyzer):
    image = SAMPLES[12].image
    before = image.copy()
    drawn = draw_faces(image, analyzer.detect(image))
    assert drawn.shape == image.shape and drawn.dtype == np.uint8
    assert not np.array_equal(drawn, image)
    assert np.array_equal(image, before)
    assert np.array_equal(draw_faces(image, []), image)


def test_a_closed_analyzer_refuses_work():
    analyzer = FaceAnalyzer()
    analyzer.close()
    analyzer.close()  # twice is fine
    with pytest.raises(RuntimeError, match="closed"):
        analyzer.detect(SAMPLES[0].image)


# ---- real data (../shared/data) --------------------------------------------------------------


def _ckplus_happy(data_dir, count: int = 3):
    folder = data_dir / "ckplus48" / "CK+48" / "happy"
    if not folder.is_dir():
        pytest.skip(f"CK+48 not found at {folder}")
    return sorted(folder.glob("*.png"))[:count]


def test_ckplus48_crops_pass_through_as_48x48_gray(data_dir):
    for path in _ckplus_happy(data_dir):
        image = load_image(path)
        crop = prepare_face(image, None, aligned=True).crop
        assert crop.image.shape == (48, 48) and crop.image.dtype == np.uint8
        assert np.array_equal(crop.image, image[..., 0])  # a gray PNG: nothing changed


def test_ckplus48_faces_are_found_when_treated_as_photos(analyzer, data_dir):
    for path in _ckplus_happy(data_dir):
        result = prepare_face(load_image(path), analyzer)
        assert result.face.landmarks is not None and result.face.score > 0.7


def test_draw_landmarks_enlarges_and_marks_the_crop():
    crop = np.full((48, 48), 100, np.uint8)
    drawn = draw_landmarks(crop, np.array([[10.0, 20.0]], np.float32), scale=6)
    assert drawn.shape == (288, 288, 3)
    assert tuple(drawn[20 * 6 + 2, 10 * 6 + 2]) != (100, 100, 100), "the dot is drawn where the landmark is"
    assert tuple(drawn[0, 0]) == (100, 100, 100)
    assert np.array_equal(draw_landmarks(crop, None, scale=2)[::2, ::2, 0], crop)


# ---- the mesh's points -------------------------------------------------------------------


def points_by_loop(landmarks) -> np.ndarray:
    return np.array([[p.x, p.y] for p in landmarks.landmark], np.float32)


def test_mesh_points_read_from_the_bytes_are_the_meshs_own():
    mp = pytest.importorskip("mediapipe")
    image = SAMPLES[0].image if SAMPLES[0].image.ndim == 3 else cv2.cvtColor(SAMPLES[0].image, cv2.COLOR_GRAY2RGB)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, refine_landmarks=True) as mesh:
        found = mesh.process(np.ascontiguousarray(image)).multi_face_landmarks
    assert found, "the mesh found no face on the generated sample"
    points = mesh_points(found[0])
    assert points.shape == (478, 2) and points.dtype == np.float32
    np.testing.assert_array_equal(points, points_by_loop(found[0]))


def test_mesh_points_of_another_layout_take_the_loop():
    from mediapipe.framework.formats import landmark_pb2

    landmarks = landmark_pb2.NormalizedLandmarkList()
    for i in range(5):
        landmarks.landmark.add(x=0.1 * i, y=0.5 - 0.1 * i, z=0.0, visibility=0.9)  # 5 more bytes a point
    landmarks.landmark.add(x=0.25, y=0.75)  # no z: 5 bytes fewer
    np.testing.assert_array_equal(mesh_points(landmarks), points_by_loop(landmarks))
    assert mesh_points(landmark_pb2.NormalizedLandmarkList()).shape[0] == 0
