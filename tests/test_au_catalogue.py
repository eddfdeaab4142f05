"""The AU catalogue, AU code parsing on the real coding sheets, and AU regions on faces."""

import csv
from pathlib import Path

import numpy as np
import pytest

from core.au import CATALOGUE, describe, parse_au_codes, parse_au_detail
from core.au.regions import (
    REGIONS,
    au_region_masks,
    canonical_landmarks,
    canonical_region_masks,
    draw_regions,
    measure_canonical_landmarks,
    region_for_au,
)
from core.faces import LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR


def test_parse_real_cells():
    assert parse_au_codes("4+7") == {4, 7}
    assert parse_au_codes("L10") == {10}
    assert parse_au_codes("R12") == {12}
    assert parse_au_codes("12B") == {12}
    assert parse_au_codes("R14A") == {14}
    assert parse_au_codes("AU4") == {4}
    assert parse_au_codes("9_17") == {9, 17}  # CK+ NetFACS
    assert parse_au_codes("4+9+L10+14") == {4, 9, 10, 14}  # CASME II
    assert parse_au_codes("1A+2B+L14C") == {1, 2, 14}  # SAMM
    assert parse_au_codes("(R6 or R12)+R15") == {6, 12, 15}
    assert parse_au_codes("R14+17+soft focus") == {14, 17}
    assert parse_au_codes("4D+ref(6)+7C+43E") == {4, 6, 7, 43}
    assert parse_au_codes("4D+ref(6)+7C+43E", include_reference=False) == {4, 7, 43}
    assert parse_au_codes("") == frozenset() and parse_au_codes(None) == frozenset()
    assert parse_au_codes(float("nan")) == frozenset()
    (code,) = parse_au_detail("R14A")
    assert (code.number, code.side, code.intensity) == (14, "R", "A")
    (code,) = parse_au_detail("A/L12")
    assert (code.number, code.side, code.prefix) == (12, "L", "A")
    (code,) = parse_au_detail("10A/B")
    assert code.intensity == "A/B"


def _sheet_aus(data_dir: Path) -> dict[str, set[int]]:
    labels = data_dir / "micro_expression_labels"
    found: dict[str, set[int]] = {}
    for name, column in (
        ("CASME2-coding-20190701.as_csv.csv", "Action Units"),
        ("SAMM_Micro_FACS_Codes_v2.MICRO_ONLY.as_csv.csv", "Action Units"),
    ):
        with open(labels / name, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
        assert rows, name
        found[name] = set().union(*(parse_au_codes(row[column]) for row in rows))
    # combined_3class_gt.csv (dataset, subject, clip, class) has no AU column: nothing to check.
    with open(data_dir / "ckplus_facs" / "ckplus_netfacs_au_emotion.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        au_columns = [c for c in reader.fieldnames if c.startswith("AU")]
        rows = list(reader)
    found["ckplus_columns"] = set().union(*(parse_au_codes(c) for c in au_columns))
    found["ckplus_combinations"] = set().union(*(parse_au_codes(r["au_combination"]) for r in rows))
    facs_files = sorted((data_dir / "ckplus_facs" / "original_facs_file_samples").glob("*_facs.txt"))
    found["ckplus_facs_files"] = {
        int(row[0]) for f in facs_files for row in np.loadtxt(f, ndmin=2) if row[0] > 0
    }  # fmt: skip
    return found


def test_catalogue_covers_every_real_sheet(data_dir):
    found = _sheet_aus(data_dir)
    assert {4, 7, 10, 12, 14} <= found["CASME2-coding-20190701.as_csv.csv"]
    assert {43, 39, 56} <= found["SAMM_Micro_FACS_Codes_v2.MICRO_ONLY.as_csv.csv"]
    assert len(found["ckplus_columns"]) == 23
    for sheet, numbers in found.items():
        missing = numbers - CATALOGUE.keys()
        assert not missing, f"{sheet}: AUs {sorted(missing)} are not in the catalogue"


def test_catalogue_entries():
    unit = CATALOGUE[12]
    assert (unit.name, unit.muscles, unit.region) == ("Lip Corner Puller", "zygomaticus major", "lip_corners")
    assert "smile" in unit.description and "AU12 Lip Corner Puller" in describe(12)
    for number, unit in CATALOGUE.items():
        assert unit.number == number and unit.name and unit.muscles and unit.description
        assert unit.region is None or unit.region in REGIONS
    with pytest.raises(AttributeError):
        unit.name = "x"  # frozen
    expected = {1: "brows", 2: "brows", 4: "brows", 5: "eyelids", 7: "eyelids", 6: "cheeks", 9: "nose",
                10: "upper_lip", 12: "lip_corners", 14: "lip_corners", 15: "lip_corners", 20: "lip_corners",
                17: "chin", 23: "lips", 24: "lips", 25: "lips", 26: "jaw", 27: "jaw", 21: None, 51: None}  # fmt: skip
    assert {au: region_for_au(au) for au in expected} == expected
    assert region_for_au(99) is None


def test_point_groups_match_mediapipe():
    import mediapipe as mp

    from core.au import regions

    for name in ("RIGHT_EYEBROW", "LEFT_EYEBROW", "RIGHT_EYE", "LEFT_EYE", "NOSE", "LIPS", "FACE_OVAL"):
        mesh = {i for edge in getattr(mp.solutions.face_mesh_connections, f"FACEMESH_{name}") for i in edge}
        assert set(getattr(regions, name)) == mesh, name


def _check_regions(masks: dict[str, np.ndarray], landmarks: np.ndarray, size: int) -> None:
    assert set(masks) == set(REGIONS)
    for region, mask in masks.items():
        assert mask.shape == (size, size) and mask.dtype == bool
        # The generated faces are long: in a few (sad, fear) the crop ends at the lower lip.
        cut_off = region in ("chin", "jaw") and landmarks[18, 1] > size - 0.5
        assert mask.any() or cut_off, f"{region} is empty"
    eye_y = (landmarks[list(RIGHT_EYE_CONTOUR), 1].mean() + landmarks[list(LEFT_EYE_CONTOUR), 1].mean()) / 2
    ys, _ = np.nonzero(masks["brows"])
    assert ys.max() < eye_y, "the brows reach below the eye centres"
    ys, _ = np.nonzero(masks["lip_corners"])
    assert ys.min() >= size * 2 / 3, "the lip corners are not in the lower third"
    for corner in (61, 291):
        x, y = np.round(landmarks[corner]).astype(int)
        assert masks["lip_corners"][y, x], f"mouth corner {corner} is outside the lip-corner region"
    ys, _ = np.nonzero(masks["eyelids"])
    assert ys.min() < eye_y < ys.max()
    if masks["chin"].any():
        assert np.nonzero(masks["chin"])[0].mean() > np.nonzero(masks["lips"])[0].mean()
    assert np.nonzero(masks["nose"])[0].mean() < np.nonzero(masks["lips"])[0].mean()


@pytest.fixture(scope="module")
def generated_faces(analyzer):
    from core.datasets.generated import read_generated
    from core.faces import prepare_face

    faces = []
    for sample in read_generated():
        crop = prepare_face(sample.load(), analyzer, size=96).crop
        faces.append((sample, crop))
    return faces


def test_regions_on_generated_faces(generated_faces):
    assert any(12 in sample.aus for sample, _ in generated_faces)
    for sample, crop in generated_faces:
        assert crop.landmarks is not None, sample.source_id
        masks = au_region_masks(crop.landmarks, 96)
        _check_regions(masks, crop.landmarks, 96)
        for au in sample.aus:
            region = region_for_au(au)
            assert region is not None and masks[region].any(), (sample.source_id, au)


@pytest.mark.parametrize("size", [48, 96])
def test_canonical_masks(size):
    masks = canonical_region_masks(size)
    _check_regions(masks, canonical_landmarks(size), size)
    assert canonical_region_masks(size)["lips"] is masks["lips"]  # cached
    assert not masks["lips"].flags.writeable


def test_canonical_landmarks_are_the_measured_mean(analyzer):
    measured = measure_canonical_landmarks(analyzer)
    stored = canonical_landmarks(1) + 0.5
    used = ~np.isnan(stored[:, 0])
    assert used.sum() >= 150
    assert np.abs(measured[used] - stored[used]).max() < 0.005


def test_draw_regions():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, (48, 48), dtype=np.uint8)
    masks = canonical_region_masks(48)
    drawn = draw_regions(gray, masks)
    assert drawn.shape == (48, 48, 3) and drawn.dtype == np.uint8
    assert not np.array_equal(drawn, np.stack([gray] * 3, axis=-1))
    rgb = np.stack([gray] * 3, axis=-1)
    only = draw_regions(rgb, masks, aus={12})
    changed = np.any(only != rgb, axis=-1)
    assert changed.any() and not changed[~masks["lip_corners"]].any()
    big = draw_regions(gray, masks, aus={6, 12, 21}, scale=4)  # labelled; AU21 has no region
    assert big.shape == (192, 192, 3)
