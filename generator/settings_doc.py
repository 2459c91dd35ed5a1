"""Every setting with its type, default and meaning, read from the schema in config.py: the Markdown of
docs/settings.md (``python -m generator settings --markdown``) and a commented TOML listing (``settings``).

Nothing here is written by hand per setting: a new field of the schema appears with its ``doc`` metadata, and the
section's text is its dataclass's docstring.
"""
from __future__ import annotations

import dataclasses
from dataclasses import MISSING, fields, is_dataclass
from typing import get_args, get_origin, get_type_hints

from generator.config import Settings

COMMAND = "python -m generator settings --markdown > docs/settings.md"


@dataclasses.dataclass(frozen=True)
class Entry:
    table: str      # "tool.generator.model", or "tool.generator" for the keys outside any table
    key: str
    dotted: str     # "model.input_size": what --set takes
    type: str       # "integer >= 1", "one of logits, probabilities", ...
    default: object
    doc: str


def toml_value(value) -> str:
    """A default as it is written in pyproject.toml."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _type_name(hint) -> str:
    if get_origin(hint) is list:
        item = get_args(hint)[0]
        return f"list of {_type_name(item)}s"
    return {str: "string", int: "integer", float: "number", bool: "boolean", dict: "table"}.get(hint, str(hint))


def type_text(hint, metadata) -> str:
    """The type with the checks schema.py applies, in words."""
    if "size" in metadata:
        low, high = metadata["size"]
        return f"integer {low} to {high}, or [height, width]"
    if "choices" in metadata:
        return "one of " + ", ".join(map(str, metadata["choices"]))
    text = _type_name(hint)
    low, high = metadata.get("min"), metadata.get("max")
    if metadata.get("open"):
        return f"{text}, {low} < x < {high}"
    if low is not None and high is not None:
        return f"{text}, {low} to {high}"
    if low is not None and 0 < low < 1e-6:  # a divisor: any positive number
        return f"{text} > 0"
    if low is not None:
        return f"{text} >= {low}"
    if metadata.get("nonempty"):
        return f"non-empty {text}"
    return text


def _default(spec):
    return spec.default_factory() if spec.default is MISSING else spec.default


def entries(cls=Settings, prefix: tuple[str, ...] = ()) -> list[Entry]:
    """Every setting under ``cls``, in the schema's order; the keys outside any table first."""
    hints = get_type_hints(cls)
    own, tables = [], []
    for spec in fields(cls):
        if spec.metadata.get("internal"):
            continue
        hint = hints[spec.name]
        if is_dataclass(hint):
            tables.extend(entries(hint, (*prefix, spec.name)))
            continue
        own.append(Entry(".".join(("tool.generator", *prefix)), spec.name, ".".join((*prefix, spec.name)),
                         type_text(hint, spec.metadata), _default(spec), spec.metadata.get("doc", "")))
    return own + tables


def section_doc(table: str) -> str:
    """A table's meaning: the docstring of its dataclass (a dataclass without one gets its signature instead)."""
    cls = Settings
    for name in table.split(".")[2:]:
        cls = get_type_hints(cls)[name]
    doc = (cls.__doc__ or "").strip()
    return "" if doc.startswith(cls.__name__ + "(") else doc


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    lines = [
        "# Settings",
        "",
        f"<!-- Generated from generator/config.py by `{COMMAND}`. Do not edit: change the",
        "     schema (each field's doc, each table's docstring) and run the command again. -->",
        "",
        "Settings live in `pyproject.toml` under `[tool.generator]`. Every key has a default, so an empty table "
        "builds the demo report. The build checks every key before it starts any work: an unknown key or a wrong "
        "type stops it with one line that names the key, the value and what was expected "
        "([errors.md](errors.md)).",
        "",
        "Command-line flags override the file: `--model PATH` (`model.path`), `--data CSV` (`data.csv`), "
        "`--seed N`, `--out DIR` (`site_dir`), and `--set KEY=VALUE` for any key below, the value in TOML, for "
        "example `--set trust.lime_seeds=3` or `--set model.output='\"probabilities\"'`.",
    ]
    table = None
    for entry in entries():
        if entry.table != table:
            table = entry.table
            lines += ["", f"## `[{table}]`", ""]
            if section_doc(table):
                lines += [section_doc(table), ""]
            lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        lines.append(f"| `{entry.key}` | {_cell(entry.type)} | `{_cell(toml_value(entry.default))}` | "
                     f"{_cell(entry.doc)} |")
    return "\n".join(lines) + "\n"


def toml() -> str:
    """Every table and key with its default, and its meaning as a comment: a block to copy into pyproject.toml."""
    lines, table = [], None
    for entry in entries():
        if entry.table != table:
            table = entry.table
            lines += ["", f"[{table}]"] if lines else [f"[{table}]"]
        lines.append(f"{entry.key} = {toml_value(entry.default)}  # {entry.doc}")
    return "\n".join(lines) + "\n"
