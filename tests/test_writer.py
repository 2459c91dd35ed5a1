import os
import signal
from pathlib import Path

import pytest

from generator.site import writer
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


OLD = {"index.md": b"old index", "q1.md": b"old q1", "figures/a.png": b"old a", "gone.md": b"only in the old"}
NEW = {"index.md": b"new index", "q1.md": b"new q1", "figures/a.png": b"new a", "figures/b.png": b"new b"}


@pytest.fixture
def python_sigint_handler():
    """Python's own SIGINT handler (which raises KeyboardInterrupt) for the test's duration, then the old one back.

    A shell starts a background job with SIGINT ignored, and pytest keeps what it inherited: without this, the
    signal these tests send would do nothing when the suite runs as `bash .ci/run &`."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def _interrupt_at(monkeypatch, owner, name, when):
    """Deliver a real SIGINT (as Ctrl-C does) just before call number ``when`` of ``owner.name``."""
    real, calls = getattr(owner, name), []

    def wrapped(*args, **kwargs):
        calls.append(1)
        if len(calls) == when:
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapped)


def _generated(folder):
    return {k: v for k, v in _state(folder).items() if k != MANIFEST}


@pytest.mark.parametrize("when", [1, 2, 3, 4, 5])
def test_ctrl_c_while_moving_files_into_place_leaves_the_new_tree_complete(tmp_path, monkeypatch, when,
                                                                           python_sigint_handler):
    write_site(tmp_path, OLD)
    _interrupt_at(monkeypatch, writer.os, "replace", when)
    with pytest.raises(KeyboardInterrupt):
        write_site(tmp_path, NEW)
    assert _generated(tmp_path) == NEW and not list(tmp_path.rglob("*.new"))


@pytest.mark.parametrize("when", [1, 2, 3, 4, 5])
def test_ctrl_c_while_staging_leaves_the_old_tree_and_no_staged_file(tmp_path, monkeypatch, when,
                                                                      python_sigint_handler):
    write_site(tmp_path, OLD)
    before = _state(tmp_path)
    _interrupt_at(monkeypatch, Path, "write_bytes", when)
    with pytest.raises(KeyboardInterrupt):
        write_site(tmp_path, NEW)
    monkeypatch.undo()
    assert _state(tmp_path) == before  # nothing staged is left behind, so mkdocs sees only the old report
    assert write_site(tmp_path, NEW) == {"written": 4, "unchanged": 0, "removed": 1}
    assert _generated(tmp_path) == NEW
