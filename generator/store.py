"""Everything a build keeps between runs, in one folder (``.generator-cache/`` under the project root):

- the stage cache: each stage's result and figures, under a SHA-256 of everything that can change them (the stage's
  key, the code version, the model and data hashes, the image rows, the settings the stage reads, the seed);
- the record of the last full build of a site folder: its analysis key, the SHA-256 of every input file it read,
  its page context and its figures. The quick rebuild renders from it, and ``--only`` updates one question of it.

Every entry is written to a temporary file and renamed into place, so an interrupted build never leaves a
half-written entry, and an entry that cannot be read is treated as absent. The folder is kept under
``LIMIT_BYTES``: after each build the least recently used entries go first (a read refreshes an entry's mtime),
never one the build just used.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

from generator.file_kinds import KERAS_SUFFIXES

PACKAGE = Path(__file__).resolve().parent
CACHE_FOLDER = ".generator-cache"  # under the project root
LIMIT_BYTES = 256 * 2**20  # the demo's entries take about 5 MB per configuration: dozens of them fit
# The packages that compute or render the report: a new version may change a number or a page.
PACKAGES = ("torch", "numpy", "scipy", "scikit-learn", "scikit-image", "lime", "numba", "matplotlib", "pillow",
            "jinja2", "mkdocs", "mkdocs-material", "mkdocs-static-i18n", "mkdocs-glightbox", "mkdocs-print-site-plugin")
# Listed only for a Keras model: a PyTorch report does not depend on them, and listing them as "not installed"
# would make its reproducibility page differ between a machine with the keras extra and one without.
KERAS_PACKAGES = ("keras", "h5py")
ONNX_PACKAGES = ("onnx",)  # likewise, only for an ONNX model


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of every source file of the package: any code change invalidates every entry."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def versions(model_path: str = "") -> list:
    """The versions of PACKAGES (and of KERAS_PACKAGES or ONNX_PACKAGES for such a model file), read without importing
    them."""
    suffix = Path(model_path).suffix.lower()
    extra = KERAS_PACKAGES if suffix in KERAS_SUFFIXES else ONNX_PACKAGES if suffix == ".onnx" else ()
    out = []
    for name in PACKAGES + extra:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _input_sha256(path: Path) -> str | None:
    """A file's SHA-256, an image folder's content hash (every listed path and its bytes), or None if absent."""
    if path.is_file():
        return file_sha256(path)
    if path.is_dir():
        from generator.data.folders import folder_sha256
        from generator.errors import InputError
        try:
            return folder_sha256(path)
        except (InputError, OSError):
            return None  # the full build names the problem
    return None


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


def _write(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")  # renamed into place: never half-written
    with temporary.open("wb") as handle:
        pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(temporary, path)


_ABSENT = object()


def _read(path: Path) -> Any:
    """The entry's value, or _ABSENT when there is none or it cannot be read (it is then recomputed)."""
    try:
        with path.open("rb") as handle:
            value = pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError):
        return _ABSENT
    os.utime(path)  # recently used: the last to be evicted
    return value


@dataclass(frozen=True)
class Record:
    """The last full build of a site folder."""
    key: str                # the analysis key (see generator/rebuild.py): equal keys, equal numbers
    code: str               # the code version that made the context: --only needs the same
    inputs: dict            # each input file's absolute path -> SHA-256
    context: dict           # the page context, plain data
    files: dict             # the figures: path in the site folder -> bytes

    def inputs_unchanged(self) -> bool:
        """A checkpoint or a CSV replaced in place keeps its path and the settings: its bytes tell."""
        return all(_input_sha256(Path(name)) == digest for name, digest in self.inputs.items())


class Store:
    def __init__(self, root: Path, site_dir: Path, force: bool = False):
        self.folder = root / CACHE_FOLDER
        self.force = force
        self.hits: list[str] = []
        self.misses: list[str] = []
        self.used: set[Path] = set()
        # One record per site folder, so two sites built from one project do not mix. Named by the path relative
        # to the project, so a moved or copied project keeps its record.
        name = os.path.relpath(site_dir, root)
        self.record_path = self.folder / f"record-{hashlib.sha256(name.encode()).hexdigest()[:16]}.pickle"

    def _path(self, stage: str, parts: dict) -> Path:
        return self.folder / f"{stage}-{key_of(stage, parts)}.pickle"

    def has(self, stage: str, parts: dict) -> bool:
        """Whether ``run`` will find (stage, parts) without computing it (as far as the entry's presence tells)."""
        return not self.force and self._path(stage, parts).is_file()

    def run(self, stage: str, parts: dict, compute: Callable[[], Any]) -> Any:
        """The cached result for (stage, parts), or ``compute()``'s, stored for next time."""
        path = self._path(stage, parts)
        value = _ABSENT if self.force else _read(path)
        if value is _ABSENT:
            value = compute()
            _write(path, value)
            self.misses.append(stage)
        else:
            self.hits.append(stage)
        self.used.add(path)
        return value

    def record(self) -> Record | None:
        value = _read(self.record_path)
        return value if isinstance(value, Record) else None

    def save_record(self, record: Record) -> None:
        _write(self.record_path, record)
        self.used.add(self.record_path)

    def evict(self) -> list[Path]:
        return evict(self.folder, keep=self.used | {self.record_path})


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
