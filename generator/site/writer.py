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


def write_site(site_dir: Path, files: dict[str, bytes]) -> dict[str, int]:
    """Write ``files`` (relative path -> bytes). Returns counts of written, unchanged and removed files."""
    site_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = site_dir / MANIFEST
    previous = set(json.loads(manifest_path.read_text())) if manifest_path.is_file() else set()
    written = unchanged = 0
    for rel, data in sorted(files.items()):
        target = site_dir / rel
        if target.is_file() and target.read_bytes() == data:
            unchanged += 1
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(target.name + ".new")
        temporary.write_bytes(data)
        os.replace(temporary, target)
        written += 1
    removed = 0
    for rel in sorted(previous - set(files)):
        stale = site_dir / rel
        if stale.is_file():
            stale.unlink()
            removed += 1
    manifest = (json.dumps(sorted(files), indent=1) + "\n").encode()
    if not manifest_path.is_file() or manifest_path.read_bytes() != manifest:
        manifest_path.write_bytes(manifest)
    return {"written": written, "unchanged": unchanged, "removed": removed}
