"""The stage cache: least-recently-used eviction under a size limit, and hits that refresh an entry's age."""
import os

from generator.store import CACHE_FOLDER, Store, evict


def _entry(folder, name, size, age_seconds, now=1_000_000.0):
    path = folder / name
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_seconds, now - age_seconds))
    return path


def test_evict_removes_the_oldest_until_under_the_limit_and_keeps_what_the_build_used(tmp_path):
    now = 1_000_000.0
    old = _entry(tmp_path, "q1-old.pickle", 400, 300)
    used_but_old = _entry(tmp_path, "q2-used.pickle", 400, 200)
    middle = _entry(tmp_path, "q3-middle.pickle", 400, 100)
    new = _entry(tmp_path, "q4-new.pickle", 400, 10)
    removed = evict(tmp_path, keep={used_but_old}, limit=1000, now=now)
    assert removed == [old, middle]  # 1600 -> 800 bytes; the kept entry is skipped, not counted out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q2-used.pickle", "q4-new.pickle"]
    assert new.is_file() and used_but_old.is_file()


def test_evict_under_the_limit_removes_nothing_but_stale_temporary_files(tmp_path):
    now = 1_000_000.0
    entry = _entry(tmp_path, "q1-a.pickle", 10, 10_000)
    stale = _entry(tmp_path, "q1-b.123.tmp", 10, 7200)  # an interrupted build's, two hours ago
    writing = _entry(tmp_path, "q1-c.456.tmp", 10, 5)  # maybe another build writing right now
    other = _entry(tmp_path, "notes.txt", 10_000, 99_999)  # not the cache's: never touched
    assert evict(tmp_path, keep=set(), limit=10**6, now=now) == [stale]
    assert entry.is_file() and writing.is_file() and other.is_file()


def test_a_cache_hit_makes_the_entry_recent(tmp_path):
    store = Store(tmp_path, tmp_path / "site_src")
    store.run("q1", {"a": 1}, lambda: 1)
    (entry,) = (tmp_path / CACHE_FOLDER).glob("q1-*.pickle")
    os.utime(entry, (1, 1))
    assert Store(tmp_path, tmp_path / "site_src").run("q1", {"a": 1}, lambda: 2) == 1
    assert entry.stat().st_mtime > 1_000_000
