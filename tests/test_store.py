import sqlite3
import threading

import pytest

from core.store import ResultStore, home_dir, key_hash


def test_created_on_first_use_in_wal_mode(tmp_path):
    path = tmp_path / "sub" / "results.sqlite"
    ResultStore(path)
    assert path.is_file()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_location_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_DASHBOARD_HOME", str(tmp_path / "home"))
    assert home_dir() == tmp_path / "home"
    assert ResultStore().path == tmp_path / "home" / "results.sqlite"


def test_results_round_trip_by_key_in_any_order(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.put_result("atlas", {"model": "abc", "top": 9}, {"rows": [1, 2, 3]})
    assert store.get_result("atlas", {"top": 9, "model": "abc"}) == {"rows": [1, 2, 3]}
    assert store.get_result("atlas", {"model": "abc", "top": 8}) is None
    assert store.get_result("au-table", {"model": "abc", "top": 9}) is None


def test_bytes_results_and_replacement(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.put_result("blob", {"k": 1}, b"\x00\x01")
    store.put_result("blob", {"k": 1}, b"\x02")
    assert store.get_result("blob", {"k": 1}) == b"\x02"
    assert [row["key"] for row in store.list_results("blob")] == [{"k": 1}]


def test_user_state_survives_a_new_store_on_the_same_file(tmp_path):
    ResultStore(tmp_path / "r.sqlite").save_state("datasets", [{"name": "x"}])
    assert ResultStore(tmp_path / "r.sqlite").load_state("datasets") == [{"name": "x"}]
    assert ResultStore(tmp_path / "r.sqlite").load_state("missing", default=[]) == []


def test_key_hash_is_order_independent_and_distinguishes_values():
    assert key_hash({"a": 1, "b": 2}) == key_hash({"b": 2, "a": 1})
    assert key_hash({"a": 1}) != key_hash({"a": 2})


def test_concurrent_writers_lose_nothing(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")

    def write(start: int) -> None:
        for i in range(start, start + 25):
            store.put_result("n", {"i": i}, i)

    threads = [threading.Thread(target=write, args=(k * 25,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(store.get_result("n", {"i": i}) for i in range(100)) == list(range(100))


def test_the_parts_of_one_result_are_stored_together_or_not_at_all(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    key = {"clip": "abc"}
    with pytest.raises(TypeError):  # the second part cannot be stored: neither is
        store.put_results([("spot", key, {"intervals": []}), ("spot-track", key, object.__new__(Unstorable))])
    assert store.get_result("spot", key) is None
    store.put_results([("spot", key, {"intervals": [1]}), ("spot-track", key, b"track")])
    assert store.get_results([("spot", key), ("spot-track", key)]) == [{"intervals": [1]}, b"track"]


def test_a_partial_result_reads_as_absent(tmp_path):
    store = ResultStore(tmp_path / "r.sqlite")
    store.put_result("spot", {"clip": "abc"}, {"intervals": [1]})  # as a kill between two writes left it
    assert store.get_results([("spot", {"clip": "abc"}), ("spot-track", {"clip": "abc"})]) is None


class Unstorable:
    """json.dumps(default=str) stores anything with a str(); this one refuses."""

    def __str__(self) -> str:
        raise TypeError("not storable")
