import pytest

from core.datasets import Sample
from core.datasets.registry import (
    EMBEDDED_NAME,
    DatasetEntry,
    add_dataset,
    filter_samples,
    list_datasets,
    parse_env,
    remove_dataset,
    samples_table,
)
from core.errors import DatasetError
from core.store import ResultStore


def _folder_dataset(root, counts: dict[str, int]):
    from PIL import Image

    for label, n in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(n):
            Image.new("L", (48, 48), 40 * i).save(root / label / f"{i}.png")
    return root


def test_embedded_faces_are_always_offered(tmp_path):
    entries = list_datasets(ResultStore(tmp_path / "r.sqlite"))
    assert entries[0].name == EMBEDDED_NAME
    assert entries[0].origin == "embedded"


def test_environment_datasets(monkeypatch, tmp_path):
    monkeypatch.setenv("FER_DATASETS", "A=folder:/x; B=ckplus:/y")
    names = [(e.name, e.fmt, e.root, e.origin) for e in list_datasets(ResultStore(tmp_path / "r.sqlite"))]
    assert names[1:] == [("A", "folder", "/x", "environment"), ("B", "ckplus", "/y", "environment")]


@pytest.mark.parametrize("value", ["A=folder", "=folder:/x", "A=nope:/x", "A:folder=/x"])
def test_malformed_environment_is_one_clear_error(value):
    with pytest.raises(DatasetError, match="FER_DATASETS"):
        parse_env(value)


def test_add_checks_the_folder_and_saves_it(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    root = _folder_dataset(tmp_path / "faces", {"happy": 2, "sad": 1})
    assert add_dataset(store, DatasetEntry("Mine", "folder", str(root))) == 3
    saved = [e for e in list_datasets(ResultStore(tmp_path / "r.sqlite")) if e.origin == "saved"]
    assert [(e.name, e.root) for e in saved] == [("Mine", str(root))]
    remove_dataset(store, "Mine")
    assert all(e.origin != "saved" for e in list_datasets(store))
    assert root.is_dir(), "removing a dataset never touches its files"


def test_add_refuses_a_wrong_folder_and_saves_nothing(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    with pytest.raises(DatasetError):
        add_dataset(store, DatasetEntry("Gone", "folder", str(tmp_path / "nowhere")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError):
        add_dataset(store, DatasetEntry("Empty", "fer2013", str(tmp_path / "empty")))
    assert store.load_state("datasets", []) == []


def test_add_refuses_a_taken_or_empty_name(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    root = _folder_dataset(tmp_path / "faces", {"happy": 1})
    with pytest.raises(DatasetError, match="already exists"):
        add_dataset(store, DatasetEntry(EMBEDDED_NAME, "folder", str(root)))
    with pytest.raises(DatasetError, match="name"):
        add_dataset(store, DatasetEntry("  ", "folder", str(root)))


def _sample(i, label, subject=None, aus=()):
    return Sample(f"s{i}", "test", label, subject=subject, aus=frozenset(aus))


def test_filter_by_label_subject_and_all_aus():
    samples = [
        _sample(0, "happy", "S1", {6, 12}),
        _sample(1, "happy", "S2", {12}),
        _sample(2, "sad", "S1", {1, 4, 15}),
    ]
    assert [s.source_id for s in filter_samples(samples, labels=["happy"])] == ["s0", "s1"]
    assert [s.source_id for s in filter_samples(samples, subjects=["S1"])] == ["s0", "s2"]
    assert [s.source_id for s in filter_samples(samples, aus=[6, 12])] == ["s0"]
    assert [s.source_id for s in filter_samples(samples, labels=["happy"], subjects=["S2"])] == ["s1"]
    assert filter_samples(samples) == samples


def test_samples_table_rows():
    rows = samples_table([_sample(0, "happy", "S1", {12, 6})])
    assert rows == [
        {
            "source_id": "s0",
            "label": "happy",
            "subject": "S1",
            "sequence": None,
            "aus": "AU6 AU12",
            "split": None,
        }
    ]


def test_fingerprint_depends_on_faces_and_labels_not_order():
    from core.datasets import fingerprint

    a, b = _sample(0, "happy"), _sample(1, "sad")
    assert fingerprint([a, b]) == fingerprint([b, a])
    assert fingerprint([a, b]) != fingerprint([a, _sample(1, "happy")])
    assert fingerprint([a]) != fingerprint([a, b])


def test_a_browser_user_reads_nothing_outside_the_allowed_roots(tmp_path, monkeypatch):
    """/etc/passwd, /proc/self/environ, /usr/share: refused by name, never read or echoed."""
    store = ResultStore(tmp_path / "r.sqlite")
    allowed = _folder_dataset(tmp_path / "allowed" / "faces", {"happy": 1})
    monkeypatch.setenv("FER_DATA_ROOTS", str(tmp_path / "allowed"))
    secret = tmp_path / "secret.csv"
    secret.write_text("root:x:0:0:secret-content\n")
    (tmp_path / "allowed" / "link").symlink_to(secret)
    for fmt, root in [
        ("fer2013", "/etc/passwd"),
        ("fer2013", "/proc/self/environ"),
        ("folder", "/usr/share"),
        ("fer2013", str(secret)),
        ("fer2013", str(tmp_path / "allowed" / "link")),  # a symlink out of the root
        ("folder", str(tmp_path / "allowed" / ".." / "secret.csv")),  # `..` out of the root
    ]:
        with pytest.raises(DatasetError, match="outside the folders this server may read") as error:
            add_dataset(store, DatasetEntry(f"x{len(root)}", fmt, root))
        assert "secret-content" not in str(error.value) and "root:x" not in str(error.value)
    with pytest.raises(DatasetError, match="outside"):
        add_dataset(store, DatasetEntry("labels", "ckplus", str(allowed), au_labels="/etc/passwd"))
    assert store.load_state("datasets", []) == []
    assert add_dataset(store, DatasetEntry("Inside", "folder", str(allowed))) == 1


def test_a_saved_dataset_outside_the_roots_is_not_read(tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "r.sqlite")
    store.save_state("datasets", [{"name": "Old", "fmt": "folder", "root": "/usr/share", "au_labels": None}])
    monkeypatch.setenv("FER_DATA_ROOTS", str(tmp_path))
    (old,) = [e for e in list_datasets(store) if e.origin == "saved"]
    with pytest.raises(DatasetError, match="outside"):
        old.read()


def test_no_file_contents_in_a_layout_error(tmp_path):
    path = tmp_path / "fer2013.csv"
    path.write_text("root:x:0:0:secret-content\n")
    with pytest.raises(DatasetError) as error:
        add_dataset(ResultStore(tmp_path / "r.sqlite"), DatasetEntry("X", "fer2013", str(path)))
    assert "secret" not in str(error.value) and "root:x" not in str(error.value)
