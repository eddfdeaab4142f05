"""The dataset readers: tiny fixtures written in each exact on-disk format, then real data."""

import csv
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.datasets import read_dataset
from core.datasets.ckplus import read_au_labels, read_ckplus, read_emotion_file, read_facs_file
from core.datasets.fer2013 import read_fer2013, split_name
from core.datasets.folder import read_folder
from core.errors import DatasetError

AU_COLUMNS = [1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16, 17, 18, 20, 21, 22, 23, 24, 25, 26, 27]


# --- fixture writers (the real formats, synthetic pixels) -------------------------------------


def write_image(path: Path, size=(48, 48), value: int = 128, mode: str = "L") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)
    return path


def pixel_string(seed: int) -> str:
    return " ".join(str((i + seed) % 256) for i in range(48 * 48))


def write_fer_csv(path: Path, rows, header: str = "emotion,pixels,Usage") -> Path:
    lines = [header] + [f"{emotion},{pixels},{usage}" for emotion, pixels, usage in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


FER_ROWS = [
    (0, pixel_string(0), "Training"),
    (3, pixel_string(1), "Training"),
    (6, pixel_string(2), "PublicTest"),
    (4, pixel_string(3), "PrivateTest"),
    (5, pixel_string(4), "Training"),
]


def write_fer_folders(root: Path) -> Path:
    for relative in [
        "train/happy/Training_1.jpg",
        "train/happy/Training_2.jpg",
        "train/sad/Training_3.jpg",
        "test/angry/PublicTest_4.jpg",
    ]:
        write_image(root / relative)
    (root / "test" / "disgust").mkdir()  # an empty class folder is fine
    return root


def au_row(aus) -> list[int]:
    return [int(au in aus) for au in AU_COLUMNS]


CK48_FRAMES = {  # folder, file, AUs of the sequence
    ("anger", "S010_004_00000017.png"): {4, 7, 17},
    ("anger", "S010_004_00000018.png"): {4, 7, 17},
    ("sadness", "S011_002_00000020.png"): {1, 15},
    ("contempt", "S042_001_00000009.png"): {14},
}


def write_ck48(parent: Path, manifest: bool = True) -> Path:
    for (folder, name), _ in CK48_FRAMES.items():
        write_image(parent / "CK+48" / folder / name)
    if manifest:
        header = "path,label,subject,sequence,frame,sha256,n_aus,au_combination"
        lines = [header + "," + ",".join(f"AU{au}" for au in AU_COLUMNS)]
        for (folder, name), aus in CK48_FRAMES.items():
            subject, number, frame = name[:-4].split("_")
            combination = "_".join(str(au) for au in sorted(aus))
            fields = [
                f"CK+48/{folder}/{name}",
                folder,
                subject,
                f"{subject}_{number}",
                str(int(frame)),
                "0" * 64,
            ]
            fields += [str(len(aus)), combination, *map(str, au_row(aus))]
            lines.append(",".join(fields))
        (parent / "manifest.csv").write_text("\n".join(lines) + "\n")
    return parent


def write_au_labels(path: Path, sequences: dict[str, set[int]]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["subject", "video", "n_aus", "au_combination", "emotion", "valence"]
            + [f"AU{au}" for au in AU_COLUMNS]
        )
        for sequence, aus in sequences.items():
            combination = "_".join(str(au) for au in sorted(aus))
            writer.writerow([sequence[:4], sequence, len(aus), combination, "x", "", *au_row(aus)])
    return path


def write_original(root: Path, facs: bool = True) -> Path:
    """Two labelled sequences (disgust, surprise) and one unlabelled, as CK+ ships them."""
    sequences = {  # (subject, number): frames, emotion code, FACS rows
        ("S005", "001"): (
            3,
            "   3.0000000e+00",
            "   9.0000000e+00   4.0000000e+00\n   1.7000000e+01   2.0000000e+00\n",
        ),
        ("S010", "002"): (
            4,
            "   7.0000000e+00",
            "   1.0000000e+00   0.0000000e+00\n   2.7000000e+01   0.0000000e+00\n",
        ),
        ("S010", "003"): (2, None, None),
    }
    for (subject, number), (frames, emotion, rows) in sequences.items():
        stem = f"{subject}_{number}"
        for frame in range(1, frames + 1):
            write_image(root / "cohn-kanade-images" / subject / number / f"{stem}_{frame:08d}.png", (64, 49))
        peak = f"{stem}_{frames:08d}"
        if emotion is not None:
            folder = root / "Emotion" / subject / number
            folder.mkdir(parents=True)
            (folder / f"{peak}_emotion.txt").write_text(emotion + "\n")
        if facs and rows is not None:
            folder = root / "FACS" / subject / number
            folder.mkdir(parents=True)
            (folder / f"{peak}_facs.txt").write_text(rows)
        landmarks = root / "Landmarks" / subject / number
        landmarks.mkdir(parents=True)
        (landmarks / f"{peak}_landmarks.txt").write_text("   1.0e+02   2.0e+02\n" * 68)
    return root


# --- FER2013 csv ----------------------------------------------------------------------------


def test_fer_csv_reads_every_row_with_labels_splits_and_pixels(tmp_path):
    path = write_fer_csv(tmp_path / "fer2013.csv", FER_ROWS)
    samples = read_fer2013(path)
    assert [s.source_id for s in samples] == [f"fer2013.csv#{i}" for i in range(5)]
    assert [s.label for s in samples] == ["angry", "happy", "neutral", "sad", "surprise"]
    assert [s.split for s in samples] == ["train", "train", "test", "private", "train"]
    assert all(s.aligned and s.dataset == "fer2013" and s.subject is None for s in samples)
    image = samples[1].image
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    expected = ((np.arange(48 * 48) + 1) % 256).reshape(48, 48)
    assert np.array_equal(image[:, :, 0], expected) and np.array_equal(image[:, :, 2], expected)


def test_fer_csv_root_may_be_its_folder_and_split_filters(tmp_path):
    write_fer_csv(tmp_path / "fer2013.csv", FER_ROWS)
    assert [s.source_id for s in read_fer2013(tmp_path, split="train")] == [
        "fer2013.csv#0",
        "fer2013.csv#1",
        "fer2013.csv#4",
    ]
    assert [s.label for s in read_fer2013(tmp_path, split="PublicTest")] == ["neutral"]
    assert [s.label for s in read_fer2013(tmp_path, split="private")] == ["sad"]


def test_split_names():
    assert [split_name(n) for n in ("train", "Training", "test", "PublicTest", "private", "PrivateTest")] == [
        "train",
        "train",
        "test",
        "test",
        "private",
        "private",
    ]
    assert split_name(None) is None
    with pytest.raises(DatasetError, match="no split 'valid'"):
        split_name("valid")


@pytest.mark.parametrize(
    "rows, header, message",
    [
        (FER_ROWS, "label,image,usage", r"does not start with the header .*emotion,pixels,Usage"),
        ([(0, "1 2 3", "Training")], "emotion,pixels,Usage", r"row 0 \(line 2\) has 3 pixel value"),
        (
            [FER_ROWS[0], (1, pixel_string(0) + " 7", "Training")],
            "emotion,pixels,Usage",
            "row 1 .*2305 pixel",
        ),
        (
            [(1, pixel_string(0).replace("5", "x", 1), "Training")],
            "emotion,pixels,Usage",
            "row 0 .*not all integers",
        ),
        (
            [(1, pixel_string(0).replace("0", "300", 1), "Training")],
            "emotion,pixels,Usage",
            "not all integers 0..255",
        ),
        ([FER_ROWS[0], (7, pixel_string(0), "Training")], "emotion,pixels,Usage", "row 1 .*emotion that is not a code"),
        ([(0, pixel_string(0), "Validation")], "emotion,pixels,Usage", "row 0 .*unknown Usage"),
        ([], "emotion,pixels,Usage", "header but no rows"),
    ],
)
def test_fer_csv_errors_name_the_row(tmp_path, rows, header, message):
    path = write_fer_csv(tmp_path / "fer2013.csv", rows, header=header)
    with pytest.raises(DatasetError, match=message):
        read_fer2013(path)


def test_fer_csv_with_no_row_of_the_split(tmp_path):
    path = write_fer_csv(tmp_path / "fer2013.csv", FER_ROWS[:2])
    with pytest.raises(DatasetError, match="no test rows"):
        read_fer2013(path, split="test")


def test_fer_csv_binary_junk_and_empty_file(tmp_path):
    junk = tmp_path / "fer2013.csv"
    junk.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(DatasetError, match="not a readable text csv"):
        read_fer2013(junk)
    junk.write_bytes(b"")
    with pytest.raises(DatasetError, match="is empty"):
        read_fer2013(junk)


# --- FER2013 folders -----------------------------------------------------------------------


def test_fer_folders(tmp_path):
    samples = read_fer2013(write_fer_folders(tmp_path))
    assert [(s.source_id, s.label, s.split) for s in samples] == [
        ("test/angry/PublicTest_4.jpg", "angry", "test"),
        ("train/happy/Training_1.jpg", "happy", "train"),
        ("train/happy/Training_2.jpg", "happy", "train"),
        ("train/sad/Training_3.jpg", "sad", "train"),
    ]
    assert all(s.aligned and s.subject is None and s.sequence is None for s in samples)
    image = samples[0].image
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8
    assert [s.source_id for s in read_fer2013(tmp_path, split="Training")][0] == "train/happy/Training_1.jpg"
    assert len(read_fer2013(tmp_path, split="test")) == 1


def test_fer_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"No fer2013.csv, train/ or test/ .*found no subfolders"):
        read_fer2013(tmp_path)
    write_fer_folders(tmp_path / "fer")
    with pytest.raises(DatasetError, match="looks like a train/ or test/ folder itself.*parent"):
        read_fer2013(tmp_path / "fer" / "train")
    with pytest.raises(DatasetError, match="PrivateTest split is in the csv"):
        read_fer2013(tmp_path / "fer", split="private")
    (tmp_path / "fer" / "train" / "joy").mkdir()
    with pytest.raises(DatasetError, match="train/joy/ .* not a FER2013 class"):
        read_fer2013(tmp_path / "fer")
    (tmp_path / "only" / "test" / "happy").mkdir(parents=True)
    with pytest.raises(DatasetError, match="test/ holds no images"):
        read_fer2013(tmp_path / "only")
    with pytest.raises(DatasetError, match="does not exist"):
        read_fer2013(tmp_path / "missing")


def test_a_file_named_train_is_not_a_split_folder(tmp_path):
    (tmp_path / "train").write_text("not a folder")
    with pytest.raises(DatasetError, match="No fer2013.csv, train/ or test/"):
        read_fer2013(tmp_path)


# --- CK+48 ----------------------------------------------------------------------------------


def test_ck48_with_manifest_aus(tmp_path):
    samples = read_ckplus(write_ck48(tmp_path))
    assert [(s.source_id, s.label, s.subject, s.sequence) for s in samples] == [
        ("CK+48/anger/S010_004_00000017.png", "angry", "S010", "S010_004"),
        ("CK+48/anger/S010_004_00000018.png", "angry", "S010", "S010_004"),
        ("CK+48/contempt/S042_001_00000009.png", "contempt", "S042", "S042_001"),
        ("CK+48/sadness/S011_002_00000020.png", "sad", "S011", "S011_002"),
    ]
    assert [set(s.aus) for s in samples] == [{4, 7, 17}, {4, 7, 17}, {14}, {1, 15}]
    assert all(s.aligned and s.split is None and s.dataset == "ckplus" for s in samples)
    image = samples[0].image
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8


def test_ck48_root_may_be_the_ck48_folder(tmp_path):
    write_ck48(tmp_path)
    assert read_ckplus(tmp_path / "CK+48") == read_ckplus(tmp_path)


def test_ck48_au_labels_win_over_the_manifest(tmp_path):
    write_ck48(tmp_path)
    labels = write_au_labels(tmp_path / "aus.csv", {"S010_004": {25}, "S011_002": {1, 4}})
    samples = read_ckplus(tmp_path, au_labels=labels)
    # S042_001 is not in the csv: no AUs, not the manifest's.
    assert [set(s.aus) for s in samples] == [{25}, {25}, set(), {1, 4}]


def test_ck48_without_any_au_source_has_no_aus(tmp_path):
    samples = read_ckplus(write_ck48(tmp_path, manifest=False))
    assert len(samples) == 4 and all(s.aus == frozenset() for s in samples)


def test_ck48_errors(tmp_path):
    write_ck48(tmp_path)
    with pytest.raises(DatasetError, match="no official split.*by subject"):
        read_ckplus(tmp_path, split="train")
    other = write_au_labels(tmp_path / "other.csv", {"sub01_EP02": {12}})
    with pytest.raises(DatasetError, match="name none of the sequences"):
        read_ckplus(tmp_path, au_labels=other)
    bad = tmp_path / "bad.csv"
    bad.write_text("subject,clip,AU1\nS010,S010_004,1\n")
    with pytest.raises(DatasetError, match="needs a 'video'"):
        read_ckplus(tmp_path, au_labels=bad)
    bad.write_text("subject,video,AU1\nS010,S010_004,yes\n")
    with pytest.raises(DatasetError, match="'yes' in column AU1"):
        read_ckplus(tmp_path, au_labels=bad)
    write_image(tmp_path / "CK+48" / "happy" / "smile.png")
    with pytest.raises(DatasetError, match="smile.png .*S###_###_########.png"):
        read_ckplus(tmp_path)


def test_ck48_unknown_emotion_folder_and_empty(tmp_path):
    (tmp_path / "CK+48" / "joy").mkdir(parents=True)
    with pytest.raises(DatasetError, match="joy is not a CK\\+48 emotion folder"):
        read_ckplus(tmp_path)
    (tmp_path / "CK+48" / "joy").rmdir()
    (tmp_path / "CK+48" / "happy").mkdir()
    with pytest.raises(DatasetError, match="holds no images"):
        read_ckplus(tmp_path)


def test_ckplus_wrong_layouts(tmp_path):
    with pytest.raises(DatasetError, match=r"No CK\+48/<emotion>/ folders or cohn-kanade-images/ tree"):
        read_ckplus(tmp_path)
    write_image(tmp_path / "Happiness" / "x.png")  # a plain folder of photos
    with pytest.raises(DatasetError, match="No CK\\+48/<emotion>/ folders"):
        read_ckplus(tmp_path)
    with pytest.raises(DatasetError, match="is a file"):
        read_ckplus(tmp_path / "Happiness" / "x.png")


# --- the original CK+ tree ------------------------------------------------------------------


def test_original_tree_peak_and_neutral_frames(tmp_path):
    samples = read_ckplus(write_original(tmp_path))
    assert [(s.source_id, s.label, s.subject, s.sequence, set(s.aus)) for s in samples] == [
        ("cohn-kanade-images/S005/001/S005_001_00000001.png", "neutral", "S005", "S005_001", set()),
        ("cohn-kanade-images/S005/001/S005_001_00000003.png", "disgust", "S005", "S005_001", {9, 17}),
        ("cohn-kanade-images/S010/002/S010_002_00000001.png", "neutral", "S010", "S010_002", set()),
        ("cohn-kanade-images/S010/002/S010_002_00000004.png", "surprise", "S010", "S010_002", {1, 27}),
    ]
    assert all(not s.aligned and s.split is None for s in samples)
    image = samples[1].image
    assert image.shape == (49, 64, 3) and image.dtype == np.uint8


def test_original_tree_root_may_be_the_images_folder(tmp_path):
    write_original(tmp_path)
    assert read_ckplus(tmp_path / "cohn-kanade-images") == read_ckplus(tmp_path)


def test_original_tree_without_facs_uses_au_labels(tmp_path):
    write_original(tmp_path, facs=False)
    assert all(s.aus == frozenset() for s in read_ckplus(tmp_path))
    labels = write_au_labels(tmp_path / "aus.csv", {"S005_001": {9, 17, 25}})
    aus = {s.source_id: set(s.aus) for s in read_ckplus(tmp_path, au_labels=labels)}
    assert aus["cohn-kanade-images/S005/001/S005_001_00000003.png"] == {9, 17, 25}
    assert aus["cohn-kanade-images/S005/001/S005_001_00000001.png"] == set()  # the neutral frame
    assert aus["cohn-kanade-images/S010/002/S010_002_00000004.png"] == set()


def test_original_tree_errors(tmp_path):
    write_image(tmp_path / "cohn-kanade-images" / "S005" / "001" / "S005_001_00000001.png")
    with pytest.raises(DatasetError, match="no Emotion/ folder"):
        read_ckplus(tmp_path)
    (tmp_path / "Emotion").mkdir()
    with pytest.raises(DatasetError, match="no S###/###/\\*_emotion.txt"):
        read_ckplus(tmp_path)
    (tmp_path / "Emotion" / "S009" / "002").mkdir(parents=True)
    (tmp_path / "Emotion" / "S009" / "002" / "S009_002_00000005_emotion.txt").write_text("   1.0e+00\n")
    with pytest.raises(DatasetError, match="sequence with no frames in cohn-kanade-images/S009/002/"):
        read_ckplus(tmp_path)


def test_emotion_and_facs_files(tmp_path):
    path = tmp_path / "S005_001_00000011_emotion.txt"
    for text, label in [
        ("   3.0000000e+00\n", "disgust"),
        ("2.0", "contempt"),
        ("   0.0000000e+00", "neutral"),
    ]:
        path.write_text(text)
        assert read_emotion_file(path) == label
    for bad in ["9.0", "1.5", "happy", ""]:
        path.write_text(bad)
        with pytest.raises(DatasetError, match="one code from 0 to 7"):
            read_emotion_file(path)
    facs = tmp_path / "S005_001_00000011_facs.txt"
    facs.write_text("   9.0000000e+00   4.0000000e+00\n   1.7000000e+01   2.0000000e+00\n\n")
    assert read_facs_file(facs) == {9: 4.0, 17: 2.0}
    facs.write_text("   9.0000000e+00\n")
    with pytest.raises(DatasetError, match="line 1 .*two numbers per line"):
        read_facs_file(facs)
    facs.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(DatasetError, match="not a text file"):
        read_facs_file(facs)


def test_read_au_labels(tmp_path):
    path = write_au_labels(tmp_path / "aus.csv", {"S005_001": {9, 17}, "S010_002": set()})
    assert read_au_labels(path) == {"S005_001": frozenset({9, 17}), "S010_002": frozenset()}
    with pytest.raises(DatasetError, match="Cannot read"):
        read_au_labels(tmp_path / "missing.csv")


# --- plain folders --------------------------------------------------------------------------


def test_folder_labels_and_unknown_classes(tmp_path):
    write_image(tmp_path / "Happiness" / "a.jpg", (80, 60), mode="RGB")
    write_image(tmp_path / "sad" / "b.PNG")
    write_image(tmp_path / "unsorted" / "c.bmp")
    (tmp_path / "sad" / "notes.txt").write_text("not an image")
    (tmp_path / "sad" / ".hidden.jpg").write_text("a macOS resource fork")
    samples = read_folder(tmp_path)
    assert [(s.source_id, s.label) for s in samples] == [
        ("Happiness/a.jpg", "happy"),
        ("sad/b.PNG", "sad"),
        ("unsorted/c.bmp", None),
    ]
    assert all(not s.aligned and s.dataset == "folder" and s.split is None for s in samples)
    image = samples[0].image
    assert image.shape == (60, 80, 3) and image.dtype == np.uint8


def test_folder_split_reads_a_subfolder(tmp_path):
    write_image(tmp_path / "train" / "happy" / "a.jpg")
    write_image(tmp_path / "test" / "fear" / "b.jpg")
    samples = read_folder(tmp_path, split="test")
    assert [(s.source_id, s.label, s.split) for s in samples] == [("test/fear/b.jpg", "fear", "test")]
    with pytest.raises(DatasetError, match="No valid/ folder"):
        read_folder(tmp_path, split="valid")


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="found no image in any subfolder"):
        read_folder(tmp_path)
    (tmp_path / "happy").mkdir()
    with pytest.raises(DatasetError, match="found no image in any subfolder"):
        read_folder(tmp_path)
    write_image(tmp_path / "loose.jpg")
    with pytest.raises(DatasetError, match="1 image\\(s\\) directly in it"):
        read_folder(tmp_path)
    with pytest.raises(DatasetError, match="is a file"):
        read_folder(tmp_path / "loose.jpg")
    with pytest.raises(DatasetError, match="is nothing"):
        read_folder(tmp_path / "missing")


def test_read_dataset_dispatches_to_each_reader(tmp_path):
    (tmp_path / "fer").mkdir()
    write_fer_csv(tmp_path / "fer" / "fer2013.csv", FER_ROWS)
    assert len(read_dataset("fer2013", tmp_path / "fer", split="train")) == 3
    assert len(read_dataset("ckplus", write_original(tmp_path / "ck"))) == 4
    write_image(tmp_path / "photos" / "happy" / "a.jpg")
    assert [s.label for s in read_dataset("folder", tmp_path / "photos")] == ["happy"]


# --- real data ------------------------------------------------------------------------------


def test_real_fer2013_folders(data_dir):
    root = data_dir / "fer2013"
    with open(root / "manifest.csv", newline="") as handle:
        expected = Counter((row["usage"], row["label"]) for row in csv.DictReader(handle))
    start = time.perf_counter()
    train = read_fer2013(root, split="train")
    elapsed = time.perf_counter() - start
    assert elapsed < 5, f"listing 28,709 faces took {elapsed:.1f} s; images must not be decoded while listing"
    test = read_fer2013(root, split="test")
    assert len(train) == 28709 and len(test) == 3589
    assert Counter(("Training", s.label) for s in train) == {
        k: v for k, v in expected.items() if k[0] == "Training"
    }
    assert Counter(("PublicTest", s.label) for s in test) == {
        k: v for k, v in expected.items() if k[0] == "PublicTest"
    }
    for sample in train[::7000] + test[:2]:
        image = sample.image
        assert image.shape == (48, 48, 3) and image.dtype == np.uint8


def test_real_ck48(data_dir):
    samples = read_ckplus(data_dir / "ckplus48")
    assert len(samples) == 981
    assert len({s.sequence for s in samples}) == 327
    assert len({s.subject for s in samples}) == 118
    assert Counter(s.label for s in samples) == {
        "angry": 135,
        "contempt": 54,
        "disgust": 177,
        "fear": 75,
        "happy": 207,
        "sad": 84,
        "surprise": 249,
    }
    assert all(len(s.aus) > 0 for s in samples)  # from manifest.csv beside CK+48
    image = samples[0].image
    assert image.shape == (48, 48, 3) and image.dtype == np.uint8


def test_real_ck48_au_labels_match_the_readme(data_dir):
    labels = data_dir / "ckplus_facs" / "ckplus_netfacs_au_emotion.csv"
    samples = read_ckplus(data_dir / "ckplus48" / "CK+48", au_labels=labels)
    by_sequence = {s.sequence: s.aus for s in samples}
    counts = Counter(au for aus in by_sequence.values() for au in aus)
    assert (counts[25], counts[1], counts[4], counts[17], counts[12]) == (181, 130, 122, 114, 80)
    # The manifest's AU flags are the same sequence-level AUs.
    manifest = {s.sequence: s.aus for s in read_ckplus(data_dir / "ckplus48")}
    assert manifest == by_sequence


def test_real_facs_files(data_dir):
    folder = data_dir / "ckplus_facs" / "original_facs_file_samples"
    assert read_facs_file(folder / "S005_001_00000011_facs.txt") == {9: 4.0, 17: 2.0}
    assert read_facs_file(folder / "S055_006_00000008_facs.txt") == {1: 2.0, 2: 1.0, 4: 2.0, 5: 1.0, 20: 2.0}
    assert set(read_facs_file(folder / "S135_012_00000020_facs.txt")) == {13, 25}
    assert set(read_facs_file(folder / "S128_004_00000013_facs.txt")) == {4, 7, 9}  # "AU 1.7" is skipped
    # Each file agrees with the AU csv on the AUs the csv has columns for.
    labels = read_au_labels(data_dir / "ckplus_facs" / "ckplus_netfacs_au_emotion.csv")
    files = sorted(folder.glob("*_facs.txt"))
    assert len(files) == 7
    for path in files:
        sequence = path.name[:8]
        assert set(read_facs_file(path)) & set(AU_COLUMNS) == labels[sequence], path.name
