"""A content-addressed cache of analysis results, so a rebuild after a prose edit recomputes nothing.

An entry's key is a SHA-256 of everything that can change it: the stage's name, the code version (a hash of the
generator's own source files), and the inputs the stage names (model and data hashes, the image rows, the
settings it reads, the seed). An entry is written to a temporary file and renamed into place, so an interrupted
build never leaves a half-written entry that a later build would read.

The folder is kept under ``LIMIT_BYTES``: after each build the least recently used entries go first (a hit
refreshes an entry's mtime), never one the build just used.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

PACKAGE = Path(__file__).resolve().parent
CACHE_FOLDER = ".generator-cache"  # under the project root
LIMIT_BYTES = 256 * 2**20  # the demo's entries take about 5 MB per configuration: dozens of them fit


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
        self.used: set[Path] = set()

    def run(self, stage: str, parts: dict, compute: Callable[[], Any]) -> Any:
        """The cached result for (stage, parts), or ``compute()``'s, stored for next time."""
        if not self.enabled:
            return compute()
        path = self.folder / f"{stage}-{key_of(stage, parts)}.pickle"
        if path.is_file() and not self.force:
            try:
                with path.open("rb") as handle:
                    value = pickle.load(handle)
                os.utime(path)  # recently used: the last to be evicted
                self.hits.append(stage)
                self.used.add(path)
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
        self.used.add(path)
        return value


def evict(folder: Path, keep: set[Path], limit: int = LIMIT_BYTES, now: float | None = None) -> list[Path]:
    """Remove the least recently used entries until the folder holds at most ``limit`` bytes; ``keep`` stays.
    Temporary files over an hour old (left by an interrupted build) go too. Returns the removed paths."""
    if not folder.is_dir():
        return []
    now = time.time() if now is None else now
    entries, removed = [], []
    for path in folder.iterdir():
        try:
            stat = path.stat()
        except FileNotFoundError:  # another build removed it meanwhile
            continue
        if path.suffix == ".tmp":
            if now - stat.st_mtime > 3600:  # a younger one may be another build's entry being written
                path.unlink(missing_ok=True)
                removed.append(path)
        elif path.suffix == ".pickle":
            entries.append((stat.st_mtime_ns, path.name, path, stat.st_size))
    total = sum(e[-1] for e in entries)
    for _, _, path, size in sorted(entries):  # oldest first
        if total <= limit:
            break
        if path not in keep:
            path.unlink(missing_ok=True)
            total -= size
            removed.append(path)
    return removed
