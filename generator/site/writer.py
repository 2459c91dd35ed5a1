"""The one writer into site_src/: everything is computed first, then only changed files are replaced.

A build hands over the complete set of files. Each goes to ``<name>.new`` and is moved over the real file only
when its bytes differ, so unchanged files keep their mtime (as in sphinx-gallery). Files written by an earlier
build and no longer produced are removed; files the generator never wrote are left alone.

The folder holds the old report or the new one, never a mix: a failure or a Ctrl-C while staging removes the
``.new`` files, and Ctrl-C during the moves (renames only, so brief) is held until the last move is done.
"""
from __future__ import annotations

import json
import os
import tempfile
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from generator.errors import InputError

MANIFEST = ".generated.json"  # mkdocs skips dot files in docs_dir


def _previous(manifest_path: Path) -> set:
    try:
        return set(json.loads(manifest_path.read_text()))
    except (OSError, ValueError, TypeError):
        return set()  # no manifest, or a damaged one: remove nothing rather than guess


@contextmanager
def _interrupts_held():
    """Hold SIGINT until the block ends, then raise KeyboardInterrupt if one came. Signal handlers can only be
    set from the main thread; elsewhere the block runs unprotected."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def write_site(site_dir: Path, files: dict[str, bytes]) -> dict[str, int]:
    """Write ``files`` (relative path -> bytes). Returns counts of written, unchanged and removed files.

    Every changed file is first written beside its target as ``.new``; only when all of them are on disk are they
    moved into place, one ``os.replace`` each. A failure while writing (a full disk, a read-only folder) leaves
    site_dir as it was.
    """
    site_dir.mkdir(parents=True, exist_ok=True)
    for leftover in site_dir.rglob("*.new"):  # from a build killed outright (kill -9, power loss)
        leftover.unlink()
    manifest_path = site_dir / MANIFEST
    previous = _previous(manifest_path)
    manifest = (json.dumps(sorted(files), indent=1) + "\n").encode()
    staged = []
    try:
        for rel, data in sorted({**files, MANIFEST: manifest}.items()):
            target = site_dir / rel
            if target.is_file() and target.read_bytes() == data:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(target.name + ".new")
            staged.append((temporary, target))
            temporary.write_bytes(data)
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    removed = 0
    with _interrupts_held():
        for temporary, target in staged:
            os.replace(temporary, target)
        for rel in sorted(previous - set(files)):
            stale = site_dir / rel
            if stale.is_file():
                stale.unlink()
                removed += 1
    written = sum(target != manifest_path for _, target in staged)
    return {"written": written, "unchanged": len(files) - written, "removed": removed}


def check_writable(folder: Path, where: str) -> None:
    """The folder exists and takes a new file, or its nearest existing parent is a folder that does.

    Tried with a real temporary file rather than os.access: root passes every access check, not every write
    (a read-only mount, /proc)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{where}: cannot create {folder}: {existing} is a file, expected a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise InputError(f"{where}: cannot write in {existing} ({error.strerror or error}), expected a writable "
                         "folder") from None
