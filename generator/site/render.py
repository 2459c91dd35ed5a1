"""Jinja rendering of the pages, one template per page and language, plus the author's own prose files."""
from __future__ import annotations

import re
from pathlib import Path

import jinja2

from generator.config import Settings, as_table
from generator.questions import STAGES
from generator.site.strings import CLASS_NAMES, LANGUAGES, QUESTION_POINTS, REGION_NAMES, page_path
from generator.site.tomlwrite import dumps as toml_dumps
from generator.store import versions

PAGES = ("index", *STAGES, "reproducibility")  # a page per stage of the table, between the cover and the record
# The hand-in page: the four answers and a short appendix, for paper (python -m generator pdf). Not in the site's
# navigation: the index links to it.
HANDIN = "handin"
QUESTIONS = ("q1", "q2", "q3", "q4")
_COMMENT = re.compile(r"<!--.*?-->", re.S)


class CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates kept in memory for the life of the process. Jinja names each entry by the template's
    file and checks the SHA-1 of its source, so an edited template is compiled afresh and an unchanged one is not;
    entries are kept apart per set of Jinja extensions, which change the compiled code. Compiling, not rendering,
    was most of a page render's time: the live preview (generator/site/preview.py) renders many times."""

    def __init__(self):
        self.compiled: dict = {}

    @staticmethod
    def _key(bucket) -> tuple:
        return tuple(sorted(bucket.environment.extensions)), bucket.key

    def load_bytecode(self, bucket) -> None:
        if self._key(bucket) in self.compiled:
            bucket.bytecode_from_string(self.compiled[self._key(bucket)])  # left empty if the checksum differs

    def dump_bytecode(self, bucket) -> None:
        self.compiled[self._key(bucket)] = bucket.bytecode_to_string()


COMPILED = CompiledTemplates()


def environment(template_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=False, lstrip_blocks=False, autoescape=False,
        bytecode_cache=COMPILED,
    )


def read_prose(template_dir: Path, page: str, language: str) -> dict:
    """The author's prose for a page: this language's file, else the other language's, marked as such."""
    for lang in (language, *[x for x in LANGUAGES if x != language]):
        path = template_dir / "prose" / f"{page}.{lang}.md"
        text = _COMMENT.sub("", path.read_text(encoding="utf-8")).strip() if path.is_file() else ""
        if text:
            return {"text": text, "language": lang, "from_other_language": lang != language}
    return {"text": "", "language": language, "from_other_language": False}


def _tidy(markdown: str) -> str:
    """Collapse the blank lines that template logic leaves behind; end with exactly one newline."""
    return re.sub(r"\n{3,}", "\n\n", markdown).strip() + "\n"


def render_pages(template_dir: Path, context: dict) -> dict[str, bytes]:
    """Every page in every language: relative path in site_src -> UTF-8 bytes."""
    env = environment(template_dir)
    out = {}
    for language in LANGUAGES:
        names = CLASS_NAMES[language]
        env.filters["class_name"] = lambda cls, names=names: names[cls]
        env.filters["region_name"] = lambda region, regions=REGION_NAMES[language]: regions.get(region, "—")
        for page in (*PAGES, HANDIN):
            page_context = dict(context, page=page, language=language, class_names=names,
                                region_names=REGION_NAMES[language], prose=read_prose(template_dir, page, language),
                                prose_by_page={q: read_prose(template_dir, q, language) for q in QUESTIONS})
            text = env.get_template(f"{language}/{page}.md.j2").render(page_context)
            out[page_path(page, language)] = _tidy(text).encode("utf-8")
    return out


def settings_context(settings: Settings) -> dict:
    """The parts of the page context that come from the settings alone, filled in at render time: a quick rebuild
    takes new author names without recomputing anything."""
    return {
        "author": as_table(settings.author),
        "questions": {q: {"points": p, "collaborators": getattr(settings.collaborators, q)}
                      for q, p in QUESTION_POINTS.items()},
        "settings_toml": toml_dumps(as_table(settings)).strip(),
        "versions": versions(settings.model.path),
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
