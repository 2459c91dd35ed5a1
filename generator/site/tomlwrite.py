"""A small TOML writer for the effective settings: top-level tables become sections, deeper ones inline tables."""
from __future__ import annotations

import json


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def dumps(table: dict, name: str = "tool.generator") -> str:
    lines = [f"[{name}]"] + [f"{k} = {_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for key, section in table.items():
        if isinstance(section, dict):
            lines += ["", f"[{name}.{key}]"] + [f"{k} = {_value(v)}" for k, v in section.items()]
    return "\n".join(lines) + "\n"
