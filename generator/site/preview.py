"""Live preview: while ``mkdocs serve`` runs, an edit under ``templates/`` (or to ``pyproject.toml``) re-renders
``site_src/`` through the quick path of generator/rebuild.py, before mkdocs reads the docs.

mkdocs watches ``templates/`` and ``pyproject.toml`` (mkdocs.yml ``watch:``) and calls the hooks module
(generator/site/mkdocs_hooks.py) on every rebuild; the hook imports this module only when serving. Nothing here
imports torch or matplotlib, nor runs any analysis: the pages are rendered from the last full build's record, with
the templates and the author's prose read afresh.

Every outcome is one line for the terminal, never a traceback: the site keeps serving the last report when the
record is stale (the analysis would need ``python -m generator build``) or a template does not render.
"""
from __future__ import annotations

import time
import traceback
from pathlib import Path

import jinja2

from generator.config import load_settings
from generator.errors import InputError
from generator.rebuild import rebuild_pages
from generator.site.render import CompiledTemplates
from generator.store import Store

STALE = ("the last full build is out of date (a setting, the model or the data changed); still serving the last "
         "report. Run: python -m generator build")
NO_RECORD = ("no full build on this machine yet, so edits under templates/ cannot be re-rendered; serving site_src "
             "as it is. Run: python -m generator build")


class LivePreview:
    """The re-rendering for one ``mkdocs serve``: ``project`` holds pyproject.toml and templates/, ``docs_dir`` is
    the folder mkdocs serves."""

    def __init__(self, project: Path, docs_dir: Path):
        self.project = project.resolve()
        self.docs_dir = docs_dir.resolve()
        self.templates = self.project / "templates"
        self.pyproject = self.project / "pyproject.toml"
        self._seen = None  # the sources' state at the last attempt

    def keep_theme_compiled(self, theme) -> None:
        """mkdocs makes a new Jinja environment of the theme for each rebuild, and mkdocs-print-site-plugin one
        more per language: Material's templates were compiled again each time, 60% of a rebuild's CPU time
        (2.45 s, 1.0 s without). Every environment of ``theme`` now shares the templates compiled by the server's
        earlier rebuilds."""
        if getattr(theme.get_env, "keeps_compiled", False):
            return
        make_environment = theme.get_env

        def get_env():
            env = make_environment()
            env.bytecode_cache = _THEME_COMPILED
            return env

        get_env.keeps_compiled = True
        theme.get_env = get_env

    def _sources_state(self) -> tuple:
        """(path, size, mtime) of every template and of the settings: what the pages are rendered from."""
        files = [self.pyproject, *sorted(p for p in self.templates.rglob("*") if p.is_file())]
        return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files if p.is_file())

    def refresh(self) -> tuple[str, str] | None:
        """Re-render when a template or the settings changed since the last call. Returns (level, line) for the
        terminal, level "info" or "warning", or None when there is nothing to say.

        Sources that did not change are not tried again: the rebuild that site_src's own change triggers, or one
        caused by ``python -m generator build`` writing site_src, leaves the folder alone."""
        if not self.templates.is_dir():
            return None
        state = self._sources_state()
        if state == self._seen:
            return None
        self._seen = state
        start = time.perf_counter()
        try:
            settings = load_settings(self.pyproject)
            writes = settings.resolve(settings.site_dir)
            if writes != self.docs_dir:
                return "info", f"preview: the generator writes {writes}, mkdocs serves {self.docs_dir}: not re-rendered"
            result = rebuild_pages(settings, self.templates)
        except InputError as error:
            return "warning", f"preview: {error}; still serving the last report"
        except jinja2.TemplateError as error:
            return "warning", f"preview: {_template_place(error)}: {error.message}; still serving the last report"
        except Exception as error:  # a preview must not stop the server; the CLI shows the traceback with --debug
            return "warning", (f"preview: could not re-render ({type(error).__name__}: {error}); still serving the "
                               "last report. Run: python -m generator --debug build")
        if result is None:
            if not Store(settings.root, writes).record_path.is_file():
                return "info", f"preview: {NO_RECORD}"
            return "warning", f"preview: {STALE}"
        written = result["files"]["written"]
        if not written:
            return None
        return "info", (f"preview: {written} file{'s' * (written != 1)} of {self.docs_dir.name} re-rendered from "
                        f"templates/ in {time.perf_counter() - start:.2f} s (no analysis)")


_THEME_COMPILED = CompiledTemplates()


def _template_place(error: jinja2.TemplateError) -> str:
    """``templates/en/q1.md.j2 line 12`` for a template error: a syntax error carries its place, an error while
    rendering (an undefined name) has it in the traceback's template frames."""
    name, line = getattr(error, "filename", None), getattr(error, "lineno", None)
    if name is None:
        frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename.endswith(".j2")]
        if frames:
            name, line = frames[-1].filename, frames[-1].lineno
    if name is None:
        return "a template"
    try:
        name = str(Path(name).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        pass
    return f"{name} line {line}" if line else name
