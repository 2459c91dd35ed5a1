"""The one writer into site_src/: everything is computed first, then only changed files are replaced.

A build hands over the complete set of files. Each goes to ``<name>.new`` and is moved over the real file only
when its bytes differ, so unchanged files keep their mtime (as in sphinx-gallery). Files written by an earlier
build and no longer produced are removed; files the generator never wrote are left alone.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

MANIFEST = ".generated.json"  # mkdocs skips dot files in docs_dir


def _previous(manifest_path: Path) -> set:
    try:
        return set(json.loads(manifest_path.read_text()))
    except (OSError, ValueError, TypeError):
        return set()  # no manifest, or a damaged one: remove nothing rather than guess


def write_site(site_dir: Path, files: dict[str, bytes]) -> dict[str, int]:
    """Write ``files`` (relative path -> bytes). Returns counts of written, unchanged and removed files.

    Every changed file is first written beside its target as ``.new``; only when all of them are on disk are they
    moved into place, one ``os.replace`` each. A failure while writing (a full disk, a read-only folder) leaves
    site_dir as it was, apart from ``.new`` files that the next build removes.
    """
    site_dir.mkdir(parents=True, exist_ok=True)
    for leftover in site_dir.rglob("*.new"):
        leftover.unlink()
    manifest_path = site_dir / MANIFEST
    previous = _previous(manifest_path)
    staged = []
    for rel, data in sorted(files.items()):
        target = site_dir / rel
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".new")
        temporary.write_bytes(data)
        staged.append((temporary, target))
    for temporary, target in staged:
        os.replace(temporary, target)
    manifest = (json.dumps(sorted(files), indent=1) + "\n").encode()
    if not manifest_path.is_file() or manifest_path.read_bytes() != manifest:
        manifest_path.write_bytes(manifest)
    removed = 0
    for rel in sorted(previous - set(files)):
        stale = site_dir / rel
        if stale.is_file():
            stale.unlink()
            removed += 1
    return {"written": len(staged), "unchanged": len(files) - len(staged), "removed": removed}
