from pathlib import Path

import pytest

from generator.site.writer import MANIFEST, write_site


def _state(folder: Path):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_only_changed_files_are_written_and_stale_ones_removed(tmp_path):
    first = write_site(tmp_path, {"a.md": b"1", "figures/x.png": b"2", "old.md": b"3"})
    assert first == {"written": 3, "unchanged": 0, "removed": 0}
    (tmp_path / "mine.md").write_bytes(b"not generated")  # a file the generator never wrote
    mtime = (tmp_path / "a.md").stat().st_mtime_ns
    second = write_site(tmp_path, {"a.md": b"1", "figures/x.png": b"22"})
    assert second == {"written": 1, "unchanged": 1, "removed": 1}
    assert (tmp_path / "a.md").stat().st_mtime_ns == mtime
    assert _state(tmp_path) == {MANIFEST: b'[\n "a.md",\n "figures/x.png"\n]\n', "a.md": b"1",
                                "figures/x.png": b"22", "mine.md": b"not generated"}


def test_a_failure_while_staging_changes_no_file(tmp_path, monkeypatch):
    write_site(tmp_path, {"a.md": b"old a", "b.md": b"old b", "c.md": b"old c"})
    before = _state(tmp_path)
    real = Path.write_bytes
    calls = []

    def failing(self, data):
        calls.append(self.name)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", failing)
    with pytest.raises(OSError):
        write_site(tmp_path, {"a.md": b"new a", "b.md": b"new b", "c.md": b"new c"})
    monkeypatch.setattr(Path, "write_bytes", real)
    after = {k: v for k, v in _state(tmp_path).items() if not k.endswith(".new")}
    assert after == before
    write_site(tmp_path, {"a.md": b"new a", "b.md": b"new b", "c.md": b"new c"})
    assert not list(tmp_path.rglob("*.new"))  # the next build clears what the failed one staged


def test_a_damaged_manifest_removes_nothing(tmp_path):
    write_site(tmp_path, {"a.md": b"1"})
    (tmp_path / MANIFEST).write_text("{not json")
    assert write_site(tmp_path, {"b.md": b"2"})["removed"] == 0 and (tmp_path / "a.md").is_file()
