"""FER2013-format CSV files: Kaggle's ``fer2013.csv``, the competition's ``icml_face_data.csv`` and the course's
``train.csv``.

Kaggle: ``emotion,pixels,Usage`` with Usage one of Training, PublicTest, PrivateTest; ``icml_face_data.csv`` has
``emotion, Usage, pixels``: the columns may come in any order, their names with spaces around them and in any case.
Course: ``label,feature``. Both hold 2,304 space-separated integers 0-255 per row, and a label 0-6.
Every row is validated; an error names the file, the line (1-based, the header is line 1) and what is wrong.
"""
from __future__ import annotations

import csv
import mmap
import warnings
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np

from generator.errors import InputError

if TYPE_CHECKING:
    import torch

PIXELS = 48 * 48
NUM_CLASSES = 7
USAGES = ("Training", "PublicTest", "PrivateTest")
BOM = b"\xef\xbb\xbf"
# The column sets accepted (names without case), each name -> its field: label, pixels or usage
HEADERS = ({"emotion": "label", "pixels": "pixels", "usage": "usage"}, {"emotion": "label", "pixels": "pixels"},
           {"label": "label", "feature": "pixels"})
HEADER_HELP = "'emotion,pixels,Usage' or 'label,feature' (the columns in any order)"


def header_fields(names) -> tuple[str, ...] | None:
    """Each column's field (label, pixels, usage) in the file's order, or None for a header that is not one of
    HEADERS."""
    names = [name.strip().lower() for name in names]
    for columns in HEADERS:
        if sorted(names) == sorted(columns):
            return tuple(columns[name] for name in names)
    return None


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray          # (N, 48, 48) uint8
    labels: np.ndarray          # (N,) int64
    usage: np.ndarray           # (N,) str: Training / PublicTest / PrivateTest ("" where the file has none)
    parts: np.ndarray | None = None  # (N, 48, 48) uint8 part label maps, synthetic data only

    def __len__(self) -> int:
        return len(self.labels)


def as_model_input(faces: np.ndarray) -> torch.Tensor:
    """uint8 faces (N, 48, 48) as the models take them: float32 (N, 1, 48, 48) in [0, 1]."""
    import torch  # here, not at the top: the CLI checks a CSV before it pays for importing torch
    return torch.from_numpy(np.asarray(faces)).float().div_(255.0).unsqueeze(1)


def _parse_pixels(text: str, path: Path, line: int) -> np.ndarray:
    """Fast path: numpy's C parser, which builds no list of 2,304 strings as split() does. A row it cannot take
    goes to the slow path, which finds the exact problem. Call inside ``warnings.catch_warnings`` with
    DeprecationWarning as an error: that warning is how numpy says it stopped before the end of the text (a token
    that is not a number)."""
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")
    except (DeprecationWarning, ValueError):
        values = None
    if values is not None and len(values) == PIXELS and values.min() >= 0 and values.max() <= 255:
        return values.astype(np.uint8)
    return _parse_pixels_exactly(text, path, line)


def _parse_pixels_exactly(text: str, path: Path, line: int) -> np.ndarray:
    fields = text.split()
    if len(fields) != PIXELS:
        raise InputError(f"{path}:{line}: expected {PIXELS} space-separated pixels, found {len(fields)}")
    try:
        values = np.array(fields, dtype=np.int64)
    except ValueError:
        k = next((k for k, f in enumerate(fields) if not _is_integer(f)), 0)
        raise InputError(f"{path}:{line}: pixel {k + 1} is {fields[k]!r}, expected an integer 0-255") from None
    out_of_range = (values < 0) | (values > 255)
    if out_of_range.any():
        k = int(np.argmax(out_of_range))
        raise InputError(f"{path}:{line}: pixel {k + 1} is {values[k]}, expected an integer 0-255")
    return values.astype(np.uint8)


def _is_integer(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _parse_label(text: str, path: Path, line: int) -> int:
    try:
        label = int(text)
    except ValueError:
        raise InputError(f"{path}:{line}: label {text!r} is not an integer 0-6") from None
    if not 0 <= label < NUM_CLASSES:
        raise InputError(f"{path}:{line}: label {label} is out of range, expected 0-6")
    return label


def load_csv(path: str | Path) -> Dataset:
    """Load and validate a FER2013-format CSV. Windows line endings and a UTF-8 BOM are accepted.

    The compiled fast path (generator/data/csv_fast.py) reads a plain file; anything else, including every
    malformed file, goes through the exact parser below, whose errors name the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: data file not found")
    return _load_fast(path) or _load_exactly(path)


def _load_fast(path: Path) -> Dataset | None:
    from generator.data import csv_fast  # numba is a slow import: only a CSV needs it, not the synthetic faces
    if path.stat().st_size == 0:
        return None
    # Mapped, not read: the parser reads the page cache in place, without copying the file (282 MiB for FER2013).
    with path.open("rb") as handle, _map(handle) as data:
        start = len(BOM) if data[:len(BOM)] == BOM else 0
        end = data.find(b"\n", start)
        header = data[start:end].removesuffix(b"\r")
        if end < 0 or b'"' in header or b"\r" in header or not header.isascii():
            return None  # the slow parser reads it, or says what is wrong
        fields = header_fields(header.decode("ascii").split(","))
        if fields is None:
            return None
        codes = {"label": csv_fast.LABEL, "pixels": csv_fast.PIXEL_FIELD, "usage": csv_fast.USAGE}
        has_usage = "usage" in fields
        parsed = csv_fast.parse_rows(data, end + 1, USAGES if has_usage else None, tuple(codes[f] for f in fields))
    if parsed is None:
        return None
    images, labels, codes = parsed
    if has_usage:
        width = max(len(USAGES[code]) for code in np.unique(codes))  # the dtype np.array(list) gives, <U8-<U11
        usage = np.array(USAGES)[codes].astype(f"<U{width}")
    else:
        usage = np.full(len(labels), "")
    return Dataset(images.reshape(-1, 48, 48), labels, usage)


def _map(handle) -> mmap.mmap:
    """The file mapped read-only; on Linux with its pages mapped up front (one call instead of 72,000 faults)."""
    if hasattr(mmap, "MAP_POPULATE"):
        return mmap.mmap(handle.fileno(), 0, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE, prot=mmap.PROT_READ)
    return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


def _load_exactly(path: Path) -> Dataset:
    """The exact parser: Python's csv module, every field checked, the first problem raised with its line."""
    with path.open(newline="", encoding="utf-8-sig") as handle, warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy's "could not be read to its end"
        rows = csv.reader(handle)
        next_line = 1  # where the next row starts: a csv error is reported there, not where csv gave up
        try:
            header = next(rows, None)
            if header is None:
                raise InputError(f"{path}: the file is empty, expected a header {HEADER_HELP}")
            fields = header_fields(header)
            if fields is None:
                raise InputError(f"{path}:1: header {','.join(header)!r} is not {HEADER_HELP}")
            width = len(header)
            label_at, pixels_at = fields.index("label"), fields.index("pixels")
            usage_at = fields.index("usage") if "usage" in fields else None
            images, labels, usage = [], [], []
            next_line = rows.line_num + 1
            for row in rows:
                line = rows.line_num  # the physical line, right even after a quoted field that spans lines
                next_line = line + 1
                if not row:
                    continue  # a trailing blank line
                if len(row) != width:
                    raise InputError(f"{path}:{line}: expected {width} fields ({','.join(header)}), found {len(row)}")
                labels.append(_parse_label(row[label_at].strip(), path, line))
                images.append(_parse_pixels(row[pixels_at], path, line))
                if usage_at is not None:
                    if row[usage_at].strip() not in USAGES:
                        raise InputError(f"{path}:{line}: Usage {row[usage_at]!r} is not one of {', '.join(USAGES)}")
                    usage.append(row[usage_at].strip())
                else:
                    usage.append("")
        except csv.Error as error:  # in practice a stray double quote: the field runs on to csv's size limit
            hint = "a double quote is probably not closed" if "field limit" in str(error) else "expected a plain CSV"
            raise InputError(f"{path}:{next_line}: {error}: {hint}") from None
        except UnicodeDecodeError:
            raise InputError(f"{path}:{_line_of_bad_utf8(path)}: not UTF-8 text, expected a CSV saved as UTF-8") from None
    if not labels:
        raise InputError(f"{path}: no data rows after the header")
    return Dataset(np.stack(images).reshape(-1, 48, 48), np.array(labels, np.int64), np.array(usage))


def _line_of_bad_utf8(path: Path) -> int:
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return data.count(b"\n", 0, error.start) + 1
    return 1


def validation_indices(dataset: Dataset, fraction: float, seed: int) -> np.ndarray:
    """The validation split: Kaggle's PublicTest rows where present, else a seeded stratified hold-out."""
    public = np.flatnonzero(dataset.usage == "PublicTest")
    if len(public):
        return public
    rng = np.random.default_rng(seed)
    picked = []
    for label in range(NUM_CLASSES):
        members = np.flatnonzero(dataset.labels == label)
        count = int(round(len(members) * fraction))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)  # keep each class in both splits when it can be
        picked.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(picked))


def training_indices(dataset: Dataset, fraction: float, seed: int) -> np.ndarray:
    """The rows not in the validation split (Kaggle's PrivateTest is kept out of training too)."""
    held = np.zeros(len(dataset), bool)
    held[validation_indices(dataset, fraction, seed)] = True
    held |= dataset.usage == "PrivateTest"
    return np.flatnonzero(~held)


def write_csv(path: str | Path, images: np.ndarray, labels: np.ndarray, usage=None) -> None:
    """Write Kaggle's format (with Usage) or, when ``usage`` is None, the course format."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write("emotion,pixels,Usage\n" if usage is not None else "label,feature\n")
        flat = images.reshape(len(images), -1)
        for k in range(len(flat)):
            pixels = " ".join(map(str, flat[k].tolist()))
            handle.write(f"{labels[k]},{pixels},{usage[k]}\n" if usage is not None else f"{labels[k]},{pixels}\n")
