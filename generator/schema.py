"""The checks behind generator/config.py: a TOML table against a tree of frozen dataclasses, each field's type
hint and metadata (``choices``, ``min``, ``max``, ``open``, ``nonempty``, ``size``, ``check``) saying what is
expected. Every error is one line naming where the value came from, the key, the value and what was expected.
"""
from __future__ import annotations

import difflib
import math
import types
from dataclasses import fields, is_dataclass
from typing import get_args, get_origin, get_type_hints

from generator.errors import InputError


def _expected(hint) -> str:
    origin = get_origin(hint)
    if origin is list:
        items = get_args(get_args(hint)[0]) or get_args(hint)  # list[int | str] or list[int]
        return f"a list of {' or '.join(getattr(t, '__name__', str(t)) for t in items)}"
    if origin is types.UnionType:
        return " or ".join(_expected(t) for t in get_args(hint))
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false", dict: "a table"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _check_value(where: str, key: str, value, hint, spec):
    def fail(expected):
        raise InputError(f"{where}: {key} = {value!r}: expected {expected}")
    if "size" in spec.metadata:
        return _check_size(value, *spec.metadata["size"], fail)
    if "check" in spec.metadata:  # a value of its own shape (model.classes): its check says what is expected
        return spec.metadata["check"](value, fail)
    if get_origin(hint) is list:
        item = get_args(hint)[0]
        if not isinstance(value, list) or not all(isinstance(v, item) and not isinstance(v, bool) for v in value):
            fail(_expected(hint))
        return list(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, hint) or (bool not in get_args(hint) + (hint,) and isinstance(value, bool)):
        fail(_expected(hint))
    choices = spec.metadata.get("choices")
    if choices and value not in choices:
        fail("one of " + ", ".join(map(str, choices)))
    if hint is float and not math.isfinite(value):
        fail("a finite number")
    low, high = spec.metadata.get("min"), spec.metadata.get("max")
    if spec.metadata.get("open") and not low < value < high:
        fail(f"{_expected(hint)} between {low} and {high}, both excluded")
    if low is not None and value < low:
        fail(f"{_expected(hint)} >= {low}")
    if high is not None and value > high:
        fail(f"{_expected(hint)} <= {high}")
    if hint is str and spec.metadata.get("nonempty") and not value.strip():
        fail("a non-empty string")
    return value


def _check_size(value, low: int, high: int, fail):
    """An image size: one int for a square, or [height, width]; each side from ``low`` to ``high``."""
    sides = value if isinstance(value, list) and len(value) == 2 else [value]
    if not all(isinstance(side, int) and not isinstance(side, bool) and low <= side <= high for side in sides):
        fail(f"an integer from {low} to {high}, or [height, width] of such integers")
    return list(value) if isinstance(value, list) else value


def _unknown(where: str, key: str, specs, prefix: str = "") -> None:
    """``prefix`` is the dotted path of the table, so a --set error suggests a whole key."""
    close = difflib.get_close_matches(key, specs, n=1)
    hint = (f" (did you mean '{prefix}{close[0]}'?)" if close
            else f" (known keys: {', '.join(prefix + k for k in specs)})")
    raise InputError(f"{where}: unknown key '{prefix}{key}'{hint}")


def check_override(root_cls, dotted: str, value, label: str) -> None:
    """One command-line override of ``root_cls``'s tables, checked on its own so that its error names the flag, not
    the file."""
    cls, walked = root_cls, []
    *sections, key = dotted.split(".")
    for section in sections:
        specs = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
        if section not in specs:
            _unknown(label, section, specs, "".join(w + "." for w in walked))
        cls = get_type_hints(cls)[section]
        walked.append(section)
        if not is_dataclass(cls):
            raise InputError(f"{label}: {'.'.join(walked)} is a single value, not a table; expected "
                             f"--set {'.'.join(walked)}=VALUE")
    specs = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    if key not in specs:
        _unknown(label, key, specs, "".join(s + "." for s in sections))
    hint = get_type_hints(cls)[key]
    if is_dataclass(hint):
        build_checked(hint, value, label)
    else:  # "--set: lime.num_samples = 'many': expected ..." or "--seed: seed = ...", like the file's messages
        _check_value(label.split()[0], dotted, value, hint, specs[key])


def build_checked(cls, table: dict, where: str):
    """An instance of the dataclass ``cls`` from a TOML table, every key and value checked."""
    if not isinstance(table, dict):
        raise InputError(f"{where}: expected a table, found {table!r}")
    hints = get_type_hints(cls)
    specs = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    values = {}
    for key, value in table.items():
        if key not in specs:
            _unknown(where, key, specs)
        hint = hints[key]
        if is_dataclass(hint):
            values[key] = build_checked(hint, value, f"{where}.{key}")
        else:
            values[key] = _check_value(where, key, value, hint, specs[key])
    return cls(**values)
