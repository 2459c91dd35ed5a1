"""Defaults and counts in README.md and the guide come from the code: every `section.key` (default VALUE) equals
the schema's default, every "N gradient methods" and "N pages" is the code's count, and the stage table of
docs/contributing.md is the stage table of generator/questions/__init__.py. docs/settings.md is generated and
checked by tests/test_settings_doc.py."""
import importlib
import re

import pytest

from conftest import ROOT
from generator import settings_doc
from generator.config import Settings
from generator.questions import STAGES
from generator.site.render import PAGES

DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "settings.md")]
DEFAULT = re.compile(r"`([a-z_0-9]+(?:\.[a-z_0-9]+)+)` \(default ([^),]+)")
NUMBERS = {word: n for n, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve".split())}


def _text():
    return {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8") for path in DOCS}


def _said(pattern):
    """(file, the number said) for every "<number word> <pattern>" in the docs."""
    found = []
    for name, text in _text().items():
        for word in re.findall(r"\b(\w+) " + pattern, text, re.IGNORECASE):
            if word.lower() in NUMBERS or word.isdigit():
                found.append((name, NUMBERS.get(word.lower(), int(word) if word.isdigit() else None)))
    return found


def test_every_default_the_docs_state_is_the_schemas():
    defaults = {entry.dotted: entry.default for entry in settings_doc.entries()}
    stated = [(name, key, value.strip()) for name, text in _text().items() for key, value in DEFAULT.findall(text)]
    assert len(stated) >= 10 and {"trust.faces_per_class", "data.validation_fraction"} <= {k for _, k, _ in stated}
    wrong = [(name, key, value, defaults.get(key, "no such setting")) for name, key, value in stated
             if key not in defaults or value not in (settings_doc.toml_value(defaults[key]), str(defaults[key]))]
    assert wrong == []


def test_the_class_averages_are_said_to_use_faces_per_class():
    report = (ROOT / "docs" / "report.md").read_text(encoding="utf-8")
    section = report.split("### Question 1's class averages")[1].split("\n## ")[0]
    assert "`trust.faces_per_class` (default" in section


def test_the_number_of_gradient_methods_is_the_codes():
    """Question 1 shows the gradient methods of attribution.methods: the docs count its default."""
    said = _said("gradient methods")
    shown = len(Settings().attribution.methods)
    assert said and all(n == shown for _, n in said), said


def test_the_number_of_pages_is_the_codes():
    said = _said("pages")
    assert said and all(n == len(PAGES) for _, n in said), said


def test_the_stage_table_is_the_codes():
    text = (ROOT / "docs" / "contributing.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| `questions/(\w+)\.py` \|([^|]*)\|([^|]*)\|", text, re.MULTILINE)
    assert [row[0] for row in rows] == list(STAGES) and all(key == module for key, module, _, _ in rows)
    for key, _, settings, results in rows:
        assert re.findall(r"`(\w+)`", settings) == list(importlib.import_module(f"generator.questions.{key}").READS)
        assert tuple(re.findall(r"`(\w+)`", results)) == STAGES[key]


@pytest.mark.parametrize("text,key,value", [("`trust.faces_per_class` (default 7)", "trust.faces_per_class", "7"),
                                            ('`trust.imputation` (default "road")', "trust.imputation", '"road"')])
def test_the_default_pattern_reads_what_the_docs_write(text, key, value):
    assert DEFAULT.findall(text) == [(key, value)]
