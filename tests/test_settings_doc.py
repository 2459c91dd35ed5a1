"""docs/settings.md is what `python -m generator settings --markdown` prints, and it prints every setting of the
schema with its type, default and meaning; `settings` alone prints the same keys as TOML that the schema accepts."""
import tomllib
from dataclasses import fields, is_dataclass
from typing import get_type_hints

import pytest

from conftest import ROOT
from generator import settings_doc
from generator.cli import main
from generator.config import Settings, as_table, settings_from_table


def _printed(capsys, *args):
    assert main(["settings", *args]) == 0
    return capsys.readouterr().out


def test_the_committed_settings_page_is_what_the_command_prints(capsys):
    committed = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert committed == _printed(capsys, "--markdown"), (
        f"docs/settings.md differs from the schema: run `{settings_doc.COMMAND}` and commit it")


def _leaves(cls=Settings, prefix=()):
    hints = get_type_hints(cls)
    for spec in fields(cls):
        if spec.metadata.get("internal"):
            continue
        if is_dataclass(hints[spec.name]):
            yield from _leaves(hints[spec.name], (*prefix, spec.name))
        else:
            yield ".".join((*prefix, spec.name)), spec


def test_every_setting_and_every_table_has_a_meaning():
    missing = [dotted for dotted, spec in _leaves() if not spec.metadata.get("doc", "").strip()]
    assert missing == [], "give these fields a doc= in generator/config.py"
    tables = {entry.table for entry in settings_doc.entries()}
    assert [table for table in tables if not settings_doc.section_doc(table)] == []


def test_the_page_lists_every_key_with_its_default_once():
    page = settings_doc.markdown()
    defaults = as_table(Settings())
    for entry in settings_doc.entries():
        *sections, key = entry.dotted.split(".")
        value = defaults
        for section in sections:
            value = value[section]
        assert entry.default == value[key]
        kind = entry.type.replace("|", "\\|")  # a union type, escaped as the Markdown table needs
        row = f"| `{key}` | {kind} | `{settings_doc.toml_value(value[key])}` |"
        assert page.count(row) == 1, row
    assert len(settings_doc.entries()) == len(list(_leaves()))


def test_the_toml_listing_is_accepted_by_the_schema_and_gives_the_defaults(capsys):
    document = tomllib.loads(_printed(capsys))
    table = document["tool"]["generator"]
    assert as_table(settings_from_table(table, ROOT)) == as_table(Settings())


@pytest.mark.parametrize("field_type,metadata,expected", [
    (int, {"min": 1}, "integer >= 1"),
    (float, {"min": 1e-12}, "number > 0"),
    (float, {"min": 0.0, "max": 1.0, "open": True}, "number, 0.0 < x < 1.0"),
    (str, {"choices": ("road", "mean")}, "one of road, mean"),
    (list[int], {}, "list of integers"),
    (int, {"size": (8, 512)}, "integer 8 to 512, or [height, width]"),
])
def test_types_say_what_the_checks_accept(field_type, metadata, expected):
    assert settings_doc.type_text(field_type, metadata) == expected
