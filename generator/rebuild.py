"""The quick path of a rebuild: when nothing the analysis depends on has changed, the pages are rendered from the
record of the last full build (generator/store.py), without importing torch or matplotlib and without loading
the model or the data.

The record holds the build's analysis key: a hash of the settings that can change the analysis, the generator's
source and the package versions. It also holds the SHA-256 of every input file the build read (the checkpoint,
the CSV, the file that defines the model's class). A rebuild with the same key and unchanged input files renders
the record's page context with the templates and the author's prose, which are read afresh. Anything else (or
``--force``) means a full build, whose stages may still come from the stage cache.

Author names and collaborators only reach the pages, so they are left out of the key and filled in at render time.
"""
from __future__ import annotations

import time
from pathlib import Path

from generator.config import Settings, as_table
from generator.site.render import page_files
from generator.site.writer import check_writable, write_site
from generator.store import Store, key_of, versions

PAGE_ONLY_SETTINGS = ("author", "collaborators", "site_dir")  # they change no figure or number


def analysis_key(settings: Settings) -> str:
    table = {k: v for k, v in as_table(settings).items() if k not in PAGE_ONLY_SETTINGS}
    return key_of("pages", {"settings": table, "versions": versions(settings.model.path)})


def rebuild_pages(settings: Settings, template_dir: Path) -> dict | None:
    """Render and write the pages from the last full build's record; None when a full build is needed."""
    start = time.perf_counter()
    site_dir = settings.resolve(settings.site_dir)
    store = Store(settings.root, site_dir)
    record = store.record()
    if record is None or record.key != analysis_key(settings) or not record.inputs_unchanged():
        return None
    check_writable(site_dir, settings.where("site_dir"))
    files = page_files(template_dir, settings, record.context, record.files)
    rendered = time.perf_counter()
    counts = write_site(site_dir, files)
    return {"stages": {"pages (analysis unchanged: from the last build's record)": rendered - start,
                       "write site_src": time.perf_counter() - rendered},
            "files": counts, "site_dir": str(site_dir), "cached": ["every stage"], "computed": [],
            "absent": record.context["imageset"]["absent"]}
