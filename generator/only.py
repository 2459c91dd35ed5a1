"""``build --only q3``: recompute one question and rewrite only its two pages and its figures.

The pages share numbers (the home page lists every question, each question shows its trust-page scores), so
``--only`` starts from the page context of the last full build of the site (its record in generator/store.py),
computes the question's stage under the current settings (from the cache when it can), puts the question's
numbers into that context, renders, and writes only ``<q>.md``, ``<q>.en.md`` and ``figures/<q>/``. Every other
file keeps its bytes and its mtime, including the trust and reproducibility pages, which still describe the last
full build: run a full build before publishing.
"""
from __future__ import annotations

import json
from pathlib import Path

from generator.errors import InputError
from generator.site.writer import MANIFEST
from generator.store import Store, code_version


def require_full_build(store: Store, site_dir: Path, question: str) -> None:
    """Checked before any work: --only updates a site, it cannot start one."""
    if not (site_dir / MANIFEST).is_file() or not store.record_path.is_file():
        raise InputError(f"--only {question}: {site_dir} holds no full build to update, expected one; run "
                         "`python -m generator build` once first")


def previous_context(store: Store, site_dir: Path, question: str, rows) -> dict:
    """The last full build's context, if that build explained the same seven faces with the same code."""
    require_full_build(store, site_dir, question)
    record = store.record()
    if record is None:
        raise InputError(f"--only {question}: the saved pages of the last full build ({store.record_path}) cannot "
                         "be read; run a full build")
    if record.code != code_version():
        raise InputError(f"--only {question}: the generator's code changed since the last full build, expected the "
                         "same version on every page; run a full build")
    before = [face["row"] for face in record.context["imageset"]["faces"]]
    if before != [int(r) for r in rows]:
        raise InputError(f"--only {question}: the image set changed since the last full build (rows {before}, now "
                         f"{[int(r) for r in rows]}), expected the same faces on every page; run a full build")
    return record.context


def _owned(rel: str, question: str) -> bool:
    return rel in (f"{question}.md", f"{question}.en.md") or rel.startswith(f"figures/{question}/")


def merged_files(site_dir: Path, question: str, files: dict[str, bytes]) -> dict[str, bytes]:
    """The site as the last build wrote it, with the question's own files taken from ``files``."""
    listed = json.loads((site_dir / MANIFEST).read_text())
    kept = {rel: (site_dir / rel).read_bytes() for rel in listed
            if not _owned(rel, question) and (site_dir / rel).is_file()}
    kept.update({rel: data for rel, data in files.items() if _owned(rel, question)})
    return kept
