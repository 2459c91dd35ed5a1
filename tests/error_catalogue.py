"""docs/errors.md as patterns: each table row's first cell is a message in backticks, where ``<name>`` stands for
a part that varies (a path, a key, a value). conftest.py records every error message the tests provoke, in this
process (each InputError made) and from the command line run in a subprocess (each `error:` line of exit code 2),
and fails the test whose message no pattern matches."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

CATALOGUE = Path(__file__).resolve().parent.parent / "docs" / "errors.md"
PLACEHOLDER = re.compile(r"<[a-z][a-z0-9 _.-]*>")
ROW = re.compile(r"^\|\s*(`+)(.+?)\1\s*\|", re.MULTILINE)  # a message with a backtick in it: ``...``


def pattern_of(text: str) -> re.Pattern:
    parts = PLACEHOLDER.split(text.replace("\\|", "|"))
    return re.compile(".+".join(re.escape(part) for part in parts), re.DOTALL)


@lru_cache(maxsize=1)
def patterns() -> tuple[tuple[str, re.Pattern], ...]:
    return tuple((text, pattern_of(text)) for _, text in ROW.findall(CATALOGUE.read_text(encoding="utf-8")))


def unlisted(messages) -> list[str]:
    """The messages that no row of docs/errors.md matches, whole."""
    return [message for message in messages if not any(regex.fullmatch(message) for _, regex in patterns())]
