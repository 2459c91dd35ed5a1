"""``build --only q3``: recompute one question and rewrite only its two pages and its figures.

The pages share numbers (the home page lists every question, each question shows its trust-page scores), so every
full build keeps its page context in the cache folder. ``--only`` computes the question's stage under the current
settings (from the cache when it can), puts the question's numbers into the saved context, renders, and writes only
``<q>.md``, ``<q>.en.md`` and ``figures/<q>/``. Every other file keeps its bytes and its mtime, including the trust
and reproducibility pages, which still describe the last full build: run a full build before publishing.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

from generator.cache import code_version
from generator.errors import InputError
from generator.site.writer import MANIFEST

QUESTIONS = ("q1", "q2", "q3", "q4")


def context_file(cache_folder: Path, site_dir: Path, root: Path) -> Path:
    """One saved context per site folder, so two sites built from one project do not mix. Named by the path
    relative to the project, so a moved or copied project keeps its saved context."""
    name = os.path.relpath(site_dir, root)
    return cache_folder / f"context-{hashlib.sha256(name.encode()).hexdigest()[:16]}.pickle"


def save_context(path: Path, context: dict) -> None:
    """Saved with the code version: a context from another version of the generator may not fit its templates."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    saved = {"code": code_version(), "context": context}
    temporary.write_bytes(pickle.dumps(saved, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(temporary, path)


def require_full_build(path: Path, site_dir: Path, question: str) -> None:
    """Checked before any work: --only updates a site, it cannot start one."""
    if not (site_dir / MANIFEST).is_file() or not path.is_file():
        raise InputError(f"--only {question}: {site_dir} holds no full build to update, expected one; run "
                         "`python -m generator build` once first")


def previous_context(path: Path, site_dir: Path, question: str, rows) -> dict:
    """The last full build's context, if that build explained the same seven faces."""
    require_full_build(path, site_dir, question)
    try:
        saved = pickle.loads(path.read_bytes())
        context = saved["context"] if saved["code"] == code_version() else None
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, KeyError, TypeError):
        raise InputError(f"--only {question}: the saved pages of the last full build ({path}) cannot be read; "
                         "run a full build") from None
    if context is None:
        raise InputError(f"--only {question}: the generator's code changed since the last full build, expected the "
                         "same version on every page; run a full build")
    before = [face["row"] for face in context["imageset"]["faces"]]
    if before != [int(r) for r in rows]:
        raise InputError(f"--only {question}: the image set changed since the last full build (rows {before}, now "
                         f"{[int(r) for r in rows]}), expected the same faces on every page; run a full build")
    return context


def _owned(rel: str, question: str) -> bool:
    return rel in (f"{question}.md", f"{question}.en.md") or rel.startswith(f"figures/{question}/")


def merged_files(site_dir: Path, question: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """The site as the last build wrote it, with the question's own files taken from ``files``."""
    listed = json.loads((site_dir / MANIFEST).read_text())
    kept = {rel: (site_dir / rel).read_bytes() for rel in listed
            if not _owned(rel, question) and (site_dir / rel).is_file()}
    kept.update({rel: data for rel, data in files.items() if _owned(rel, question)})
    return kept
