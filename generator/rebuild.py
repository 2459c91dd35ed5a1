"""The quick path of a rebuild: when nothing the analysis depends on has changed, the pages are rendered from the
last build's saved context, without importing torch or matplotlib and without loading the model or the data.

A full build saves a bundle: the page context, the figure files, and the SHA-256 of every input file it read (the
checkpoint, the CSV, the file that defines the model's class). Its key is a hash of the settings that can change
the analysis, the generator's source and the package versions. A rebuild looks the bundle up by that key, checks
every input file's hash again, and renders the templates and the author's prose, which are read afresh. Anything
that does not match (or ``--force``) means a full build, whose stages may still come from the stage cache.

Author names and collaborators only reach the pages, so they are left out of the key and filled in here.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import time
from importlib import metadata
from pathlib import Path

from generator.cache import key_of
from generator.config import Settings, as_table
from generator.only import context_file, save_context
from generator.site.render import render_pages
from generator.site.tomlwrite import dumps as toml_dumps
from generator.site.strings import QUESTION_POINTS
from generator.site.writer import check_writable, write_site

PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "scikit-image", "lime", "numba", "matplotlib", "pillow",
            "jinja2", "mkdocs", "mkdocs-material", "mkdocs-static-i18n", "mkdocs-glightbox", "mkdocs-print-site-plugin")
PAGE_ONLY_SETTINGS = ("author", "collaborators", "site_dir")  # they change no figure or number


def versions() -> list:
    """The versions of the packages that compute or render the report, read without importing them."""
    out = []
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_path(settings: Settings, folder: Path) -> Path:
    table = {k: v for k, v in as_table(settings).items() if k not in PAGE_ONLY_SETTINGS}
    return folder / f"pages-{key_of('pages', {'settings': table, 'versions': versions()})}.pickle"


def settings_context(settings: Settings) -> dict:
    """The parts of the page context that come from the settings alone."""
    return {
        "author": as_table(settings.author),
        "questions": {q: {"points": p, "collaborators": getattr(settings.collaborators, q)}
                      for q, p in QUESTION_POINTS.items()},
        "settings_toml": toml_dumps(as_table(settings)).strip(),
        "versions": versions(),
    }


def page_files(template_dir: Path, settings: Settings, context: dict, files: dict[str, bytes]) -> dict[str, bytes]:
    """Every file of site_src: the figures in ``files``, the pages rendered from ``context``, and the style sheet."""
    extra = settings_context(settings)
    full = dict(context, author=extra["author"], questions=extra["questions"],
                repro=dict(context["repro"], settings_toml=extra["settings_toml"], versions=extra["versions"]))
    out = dict(files)
    out.update(render_pages(template_dir, full))
    out["assets/report.css"] = (template_dir / "static" / "report.css").read_bytes()
    return out


def save_bundle(path: Path, inputs: dict[str, str], context: dict, files: dict[str, bytes]) -> None:
    """``inputs``: each input file's absolute path -> SHA-256, checked again before the bundle is used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")  # renamed into place: never half-written
    with temporary.open("wb") as handle:
        pickle.dump({"inputs": inputs, "context": context, "files": files}, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, path)


def _load_bundle(path: Path) -> dict | None:
    try:
        with path.open("rb") as handle:
            bundle = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError):
        return None
    for name, digest in bundle["inputs"].items():  # a checkpoint or CSV replaced in place has the same settings
        source = Path(name)
        if not source.is_file() or file_sha256(source) != digest:
            return None
    return bundle


def rebuild_pages(settings: Settings, template_dir: Path, cache_folder: Path) -> dict | None:
    """Render and write the pages from the saved bundle; None when a full build is needed."""
    start = time.perf_counter()
    path = bundle_path(settings, cache_folder)
    bundle = _load_bundle(path) if path.is_file() else None
    if bundle is None:
        return None
    os.utime(path)  # a used entry is a recent one, for the cache's eviction by age
    site_dir = settings.resolve(settings.site_dir)
    check_writable(site_dir, settings.where("site_dir"))
    files = page_files(template_dir, settings, bundle["context"], bundle["files"])
    rendered = time.perf_counter()
    counts = write_site(site_dir, files)
    save_context(context_file(cache_folder, site_dir, settings.root), bundle["context"])  # what --only updates
    return {"stages": {"pages (analysis unchanged: from the saved bundle)": rendered - start,
                       "write site_src": time.perf_counter() - rendered},
            "files": counts, "site_dir": str(site_dir), "cached": ["every stage"],
            "computed": []}
