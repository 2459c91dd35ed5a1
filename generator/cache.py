"""A content-addressed cache of analysis results, so a rebuild after a prose edit recomputes nothing.

An entry's key is a SHA-256 of everything that can change it: the stage's name, the code version (a hash of the
generator's own source files), and the inputs the stage names (model and data hashes, the image rows, the
settings it reads, the seed). An entry is written to a temporary file and renamed into place, so an interrupted
build never leaves a half-written entry that a later build would read.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of every source file of the package: any code change invalidates every entry."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _canonical(value: Any) -> Any:
    """JSON-able form of key parts: numpy arrays and scalars become lists and numbers."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def key_of(stage: str, parts: dict) -> str:
    text = json.dumps({"stage": stage, "code": code_version(), "parts": _canonical(parts)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class Cache:
    def __init__(self, folder: Path, force: bool = False, enabled: bool = True):
        self.folder = folder
        self.force = force
        self.enabled = enabled
        self.hits: list[str] = []
        self.misses: list[str] = []

    def run(self, stage: str, parts: dict, compute: Callable[[], Any]) -> Any:
        """The cached result for (stage, parts), or ``compute()``'s, stored for next time."""
        if not self.enabled:
            return compute()
        path = self.folder / f"{stage}-{key_of(stage, parts)}.pickle"
        if path.is_file() and not self.force:
            try:
                with path.open("rb") as handle:
                    value = pickle.load(handle)
                self.hits.append(stage)
                return value
            except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
                pass  # an unreadable entry is recomputed and replaced
        value = compute()
        self.misses.append(stage)
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        with temporary.open("wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
        return value
