"""Micro-expression readers: the real coding sheets, and fake clip trees in the real layouts."""

import collections
import csv
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pytest

from core.datasets import fingerprint, read_dataset
from core.datasets.casme2 import read_casme2_sheet
from core.datasets.megc import find_sheet, frame_number, join_sheets, read_coding_sheet, read_megc_composite
from core.datasets.samm import read_samm_sheet
from core.errors import DatasetError
from core.labels.micro import MEGC_CLASSES, to_casme2_class, to_megc

CASME2_HEADER = ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
                 "Estimated Emotion", "Objective Classes"]  # fmt: skip
SAMM_HEADER = ["Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
               "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes"]  # fmt: skip
APEX_GRAY, OTHER_GRAY = 200, 60


@pytest.fixture(scope="module")
def labels_dir(data_dir) -> Path:
    folder = data_dir / "micro_expression_labels"
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing")
    return folder


def _frames(folder: Path, names: list[str], apex: str | None) -> None:
    folder.mkdir(parents=True)
    for name in names:
        gray = APEX_GRAY if name == apex else OTHER_GRAY
        cv2.imwrite(str(folder / name), np.full((12, 16, 3), gray, np.uint8))


# ---- the real sheets ---------------------------------------------------------------------


def test_real_casme2_sheet(labels_dir):
    clips = read_casme2_sheet(labels_dir / "CASME2-coding-20190701.xlsx")
    assert len(clips) == 255
    assert len({c.subject for c in clips}) == 26
    assert clips == read_casme2_sheet(labels_dir / "CASME2-coding-20190701.as_csv.csv")  # the csv twin agrees
    first = clips[0]
    assert (first.subject, first.clip, first.onset_frame, first.apex_frame, first.offset_frame) == (
        "sub01", "EP02_01f", 46, 59, 86,
    )  # fmt: skip
    assert first.aus == {12} and first.emotion == "happiness" and first.megc_class == "positive"
    no_apex = [c for c in clips if c.apex_frame is None]  # the sheet writes "/"
    assert [(c.subject, c.clip) for c in no_apex] == [("sub04", "EP12_01f")]
    assert no_apex[0].aus == {4, 7, 10} and no_apex[0].au_text == "4+7+L10"
    emotions = collections.Counter(c.emotion for c in clips)
    assert emotions == {"others": 99, "disgust": 63, "happiness": 32, "surprise": 28, "repression": 27,
                        "sadness": 4, "fear": 2}  # fmt: skip
    classes = collections.Counter(to_casme2_class(c.emotion) for c in clips)
    assert classes[None] == 6 and sum(classes.values()) == 255  # fear and sadness are left out
    assert all(c.onset_frame <= c.offset_frame for c in clips)
    assert all(c.onset_frame <= c.apex_frame <= c.offset_frame for c in clips if c.apex_frame is not None)


def test_real_samm_sheet_with_its_notes_above_the_header(labels_dir):
    clips = read_samm_sheet(labels_dir / "SAMM_Micro_FACS_Codes_v2.xlsx")
    assert len(clips) == 159
    assert len({c.subject for c in clips}) == 29
    assert clips == read_samm_sheet(labels_dir / "SAMM_Micro_FACS_Codes_v2.MICRO_ONLY.as_csv.csv")
    by_clip = {c.clip: c for c in clips}
    first = by_clip["006_1_2"]
    assert (first.subject, first.onset_frame, first.apex_frame, first.offset_frame) == (
        "006",
        5562,
        5588,
        5632,
    )
    assert first.emotion == "anger" and first.megc_class == "negative" and first.aus == {4, 7}
    assert by_clip["007_6_1"].aus == {6, 12, 15}  # "(R6 or R12)+R15"
    assert all(c.apex_frame is not None for c in clips)
    megc = collections.Counter(c.megc_class for c in clips)
    assert megc == {"negative": 92, None: 26, "positive": 26, "surprise": 15}


def test_real_megc_composite_joins_every_clip_with_its_own_sheet(labels_dir):
    composite = read_megc_composite(labels_dir / "combined_3class_gt.csv")
    assert len(composite) == 442
    per_dataset = collections.Counter((c.dataset, c.emotion) for c in composite)
    assert per_dataset[("casme2", "negative")] == 88 and per_dataset[("samm", "negative")] == 92
    assert sum(n for (d, _), n in per_dataset.items() if d == "smic") == 164
    assert {c.subject for c in composite if c.dataset == "samm"} >= {"006", "037"}  # "6" in the file
    sheets = []
    for dataset in ("casme2", "samm", "smic"):
        sheet = find_sheet(labels_dir, dataset)
        assert sheet is not None, dataset
        sheets += read_coding_sheet(sheet, dataset)
    assert find_sheet(labels_dir, "casme2").name == "CASME2-coding-20190701.xlsx"  # newest first
    joined = join_sheets(composite, sheets)
    assert all(c.onset_frame is not None for c in joined)  # SMIC's "s1_ne_01" is the composite's "s01_ne_01"
    # The composite's class is the MEGC class of each clip's own emotion, for all 442.
    assert [c.megc_class for c in joined] == [c.emotion for c in composite]
    assert collections.Counter(c.emotion for c in joined if c.dataset == "casme2") == {
        "disgust": 61, "repression": 27, "happiness": 32, "surprise": 25,
    }  # fmt: skip


def test_megc_mapping():
    assert [to_megc(e) for e in ("happiness", "repression", "anger", "contempt", "surprise")] == [
        "positive", "negative", "negative", "negative", "surprise",
    ]  # fmt: skip
    assert to_megc("others") is None and to_megc(None) is None
    assert to_megc("fear", "casme2") is None and to_megc("fear", "samm") == "negative"
    assert MEGC_CLASSES == ("negative", "positive", "surprise")
    assert to_casme2_class("Repression ") == "repression" and to_casme2_class("fear") is None


# ---- fake trees in the real layouts ------------------------------------------------------


@pytest.fixture
def casme2_root(tmp_path) -> Path:
    tree = tmp_path / "CASME2_RAW_selected"
    _frames(tree / "sub01" / "EP02_01f", [f"img{n}.jpg" for n in range(46, 52)], apex="img49.jpg")
    _frames(tree / "sub04" / "EP12_01f", [f"img{n}.jpg" for n in (261, 290, 291, 321)], apex="img291.jpg")
    _frames(tree / "sub26" / "EP07_28", [f"img{n}.jpg" for n in (8, 9, 10, 11)], apex="img10.jpg")
    rows = [
        ["01", "EP02_01f", 46, 49, 51, 12, "happiness", 1],
        ["04", "EP12_01f", 261, "/", 321, "4+7+L10", "disgust", 4],  # no apex: the middle frame, 291
        ["26", "EP07_28", 8, 10, 11, "R14", "repression", 7],
        ["05", "EP01_01", 1, 5, 9, "4", "others", 7],  # in the sheet, not in the tree
    ]
    # The real xlsx has two unnamed empty columns, kept here.
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame", None, "Action Units",
                  "Estimated Emotion", "Objective Classes"])  # fmt: skip
    for row in rows:
        sheet.append([row[0], row[1], None, *row[2:5], None, *row[5:]])
    book.save(tmp_path / "CASME2-coding-20190701.xlsx")
    with (tmp_path / "casme2.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([CASME2_HEADER, *rows])
    return tmp_path


def test_casme2_tree_gives_one_sample_per_clip_with_the_apex_as_image(casme2_root):
    samples = read_dataset("casme2", casme2_root)
    assert [s.source_id for s in samples] == ["sub01/EP02_01f", "sub04/EP12_01f", "sub26/EP07_28"]
    happy, disgust, repression = samples
    assert (happy.subject, happy.sequence, happy.label, happy.emotion, happy.aus) == (
        "sub01", "EP02_01f", "happy", "happiness", frozenset({12}),
    )  # fmt: skip
    assert (happy.onset_frame, happy.apex_frame, happy.offset_frame) == (46, 49, 51)
    assert [frame_number(p) for p in happy.frame_paths] == [46, 47, 48, 49, 50, 51]
    assert happy.image.shape == (12, 16, 3) and abs(int(happy.image.mean()) - APEX_GRAY) < 5
    assert disgust.apex_frame is None and abs(int(disgust.image.mean()) - APEX_GRAY) < 5  # img291, the middle
    assert repression.label is None and repression.emotion == "repression"  # no canonical label
    assert {s.dataset for s in samples} == {"casme2"} and not any(s.aligned for s in samples)
    # The tree's own folder reads the same, and the csv sheet can be named instead.
    same = read_dataset("casme2", casme2_root / "CASME2_RAW_selected")
    assert [s.source_id for s in same] == [s.source_id for s in samples]
    from_csv = read_dataset(
        "casme2", casme2_root / "CASME2_RAW_selected", au_labels=casme2_root / "casme2.csv"
    )
    assert fingerprint(from_csv) == fingerprint(samples)


def test_casme2_refusals(casme2_root, tmp_path_factory):
    with pytest.raises(DatasetError, match="split"):
        read_dataset("casme2", casme2_root, split="test")
    bare = tmp_path_factory.mktemp("bare")
    _frames(bare / "CASME2_RAW_selected" / "sub01" / "EP02_01f", ["img46.jpg"], apex=None)
    with pytest.raises(DatasetError, match="coding sheet"):
        read_dataset("casme2", bare)
    other = tmp_path_factory.mktemp("other")
    (other / "CASME2_RAW_selected" / "sub09").mkdir(parents=True)
    (casme2_root / "CASME2-coding-20190701.xlsx").rename(other / "CASME2-coding-20190701.xlsx")
    with pytest.raises(DatasetError, match="img46.jpg"):
        read_dataset("casme2", other)
    broken = other / "broken.csv"
    broken.write_text("Subject,Filename,OnsetFrame,ApexFrame,OffsetFrame\n01,EP02_01f,46,x9,51\n")
    with pytest.raises(DatasetError, match="is not a frame number") as error:
        read_casme2_sheet(broken)
    assert "x9" not in str(error.value), "a file's contents are never echoed"


@pytest.fixture
def samm_root(tmp_path) -> Path:
    tree = tmp_path / "SAMM"
    _frames(tree / "006" / "006_1_2", [f"006_{n:05d}.jpg" for n in range(5562, 5566)], apex="006_05564.jpg")
    _frames(tree / "007" / "007_6_1", [f"007_{n:05d}.jpg" for n in range(497, 500)], apex="007_00498.jpg")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "MICRO_ONLY"
    # Like the real sheet: a title, notes and a symbol key above the header row.
    sheet.append(["SAMM Dataset - Master FACS Codes", None, None, None, "(Note to the users: ...)"])
    for _ in range(11):
        sheet.append([None])
    sheet.append(['"A2" = Asymmetric AU 2. Occurs on both sides of face but stronger on one side'])
    sheet.append(SAMM_HEADER)
    sheet.append(["006", "006_1_2", 1, 5562, 5564, 5565, 4, "Micro - 1/2", "4+7", "Anger", 3, None])
    sheet.append(
        ["007", "007_6_1", 6, 497, 498, 499, 3, "Micro - 1/2", "(R6 or R12)+R15", "Happiness", 7, "x"]
    )
    sheet.append(["011", "011_2_1", 2, 10, 12, 14, 5, "Micro - 1/2", "ref(5)+20C", "Other", 7, None])
    book.save(tmp_path / "SAMM_Micro_FACS_Codes_v2.xlsx")
    return tmp_path


def test_samm_tree(samm_root):
    assert len(read_samm_sheet(samm_root / "SAMM_Micro_FACS_Codes_v2.xlsx")) == 3
    samples = read_dataset("samm", samm_root)
    assert [s.source_id for s in samples] == ["006/006_1_2", "007/007_6_1"]
    anger, happy = samples
    assert (anger.subject, anger.label, anger.emotion, anger.aus) == (
        "006",
        "angry",
        "anger",
        frozenset({4, 7}),
    )
    assert [frame_number(p) for p in anger.frame_paths] == [5562, 5563, 5564, 5565]
    assert abs(int(anger.image.mean()) - APEX_GRAY) < 5 and abs(int(happy.image.mean()) - APEX_GRAY) < 5
    assert happy.aus == {6, 12, 15} and happy.label == "happy"
    assert [s.source_id for s in read_dataset("samm", samm_root / "SAMM")] == ["006/006_1_2", "007/007_6_1"]


def test_megc_tree_reads_composite_clips_from_both_trees(casme2_root, samm_root):
    # casme2_root and samm_root are the same tmp_path: one root holding both trees.
    root = casme2_root
    (root / "combined_3class_gt.csv").write_text(
        "casme2,sub01,EP02_01f,1\ncasme2,sub26,EP07_28,0\nsamm,6,006_1_2,0\nsamm,7,007_6_1,1\nsmic,s01,s01_ne_01,0\n"
    )
    samples = read_dataset("megc", root)
    assert [s.source_id for s in samples] == [
        "CASME2_RAW_selected/sub01/EP02_01f", "CASME2_RAW_selected/sub26/EP07_28", "SAMM/006/006_1_2",
        "SAMM/007/007_6_1",
    ]  # fmt: skip
    assert [s.subject for s in samples] == ["casme2/sub01", "casme2/sub26", "samm/006", "samm/007"]
    assert [to_megc(s.emotion) for s in samples] == ["positive", "negative", "negative", "positive"]
    assert samples[1].emotion == "repression" and samples[2].onset_frame == 5562  # joined with the sheets
    (root / "combined_3class_gt.csv").write_text("casme2,sub01,EP02_01f,7\n")
    with pytest.raises(DatasetError, match="class 0, 1 or 2"):
        read_dataset("megc", root)
