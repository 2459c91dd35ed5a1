"""Image folders: FER2013 as a tree of image files, ``<split>/<class>/<image>``, as in Kaggle's image copy
(``train/happy/Training_10118481.jpg``, ``test/sad/PrivateTest_...jpg``).

Split folders and class folders are matched without case against the common spellings (SPLITS, SPELLINGS), never
by position: the folders' alphabetical order is not FER2013's class order. Every image that Pillow reads becomes a
48x48 uint8 gray face the way FER2013 itself was made: converted to gray, then resized by area.

The faces come in one fixed order, the sorted relative paths (``test/angry/...`` before ``train/...``), and each
face is named by its path. The content hash covers every listed path and its bytes, so a changed, added or removed
image changes it.
"""
from __future__ import annotations

import difflib
import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from generator.data.fer2013 import Dataset
from generator.data.spellings import CLASS_ORDER, SPELLINGS, SPLITS, class_of
from generator.errors import InputError

SIDE = 48
IGNORED = {"thumbs.db", "desktop.ini", "__macosx"}  # files an operating system leaves behind
THREADS = min(8, (os.cpu_count() or 1) * 2)


@dataclass(frozen=True)
class FolderData:
    dataset: Dataset
    names: np.ndarray        # (N,) each face's relative path, posix, in the dataset's (sorted) order
    sha256: str              # of every listed path and its bytes, the left-out classes' images included
    resized: int             # images that were not 48x48
    left_out: dict           # left-out class folder name (as spelled) -> images not loaded


def _visible(entry: Path) -> bool:
    return not entry.name.startswith(".") and entry.name.lower() not in IGNORED


def _accepted_classes() -> str:
    return ", ".join(SPELLINGS) + " (any case), or contempt (left out)"


def _files(folder: Path) -> list[Path]:
    """The visible files under ``folder``, at any depth, hidden folders (``.ipynb_checkpoints``) skipped."""
    out = []
    for entry in folder.iterdir():
        if _visible(entry):
            out.extend(_files(entry) if entry.is_dir() else [entry] if entry.is_file() else [])
    return out


def _split_folders(root: Path) -> list[Path]:
    return sorted((entry for entry in root.iterdir() if entry.is_dir() and _visible(entry)), key=lambda p: p.name)


def list_images(root: Path, mapping: dict) -> tuple[list[tuple[str, int, str]], dict]:
    """(relative path, label or -1 for a left-out class, Usage) of every image in sorted path order, and the
    left-out folders' image counts. Raises InputError for a layout it cannot read."""
    if not root.is_dir():
        raise InputError(f"{root}: data folder not found, expected a folder holding train/ and test/")
    splits = _split_folders(root)
    for split in splits:
        if split.name.lower() not in SPLITS:
            if split.name.lower() in SPELLINGS:
                raise InputError(f"{root}: holds the class folder {split.name}/ directly, expected split folders "
                                 "(train/ and test/, or Training/, PublicTest/ and PrivateTest/), each holding one "
                                 "folder per class")
            raise InputError(f"{split}: folder {split.name!r} is not a split, expected one of train, test, val, "
                             "validation, Training, PublicTest, PrivateTest (any case)")
    if not any(SPLITS[s.name.lower()] == "PublicTest" for s in splits):
        found = ", ".join(s.name + "/" for s in splits) or "no split folder"
        raise InputError(f"{root}: no validation split (found {found}), expected a test/, val/, validation/ or "
                         "PublicTest/ folder beside train/, holding one folder per class")
    items, left_out = [], {}
    for split in splits:
        usage = SPLITS[split.name.lower()]
        for folder in sorted(split.iterdir(), key=lambda p: p.name):
            if not _visible(folder):
                continue
            if not folder.is_dir():
                raise InputError(f"{folder}: a file directly in {split.name}/, expected one folder per class "
                                 f"holding the images")
            try:
                label = class_of(folder.name, mapping)
            except KeyError:
                close = difflib.get_close_matches(folder.name.lower(), SPELLINGS, n=1)
                target = CLASS_ORDER[SPELLINGS[close[0]]] if close else "neutral"
                raise InputError(f"{folder}: class folder {folder.name!r} matches no class, expected one of "
                                 f"{_accepted_classes()}; map other names with data.class_folders, e.g. "
                                 f"class_folders = {{ \"{folder.name}\" = \"{target}\" }}") from None
            files = _files(folder)
            if label is None:
                left_out[folder.name] = left_out.get(folder.name, 0) + len(files)
            for path in files:
                items.append((path.relative_to(root).as_posix(), -1 if label is None else label, usage))
    if not any(usage == "PublicTest" and label >= 0 for _, label, usage in items):
        raise InputError(f"{root}: the validation split ({', '.join(s.name + '/' for s in splits if SPLITS[s.name.lower()] == 'PublicTest')}) "
                         "holds no image of the 7 classes, expected one folder per class holding the images")
    items.sort(key=lambda item: item[0])
    return items, left_out


def _to_face(data: bytes, where: Path) -> tuple[np.ndarray, bool]:
    """The image as a 48x48 uint8 gray face, and whether it had to be resized."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.mode.startswith("I;16"):  # 16-bit gray: scaled to 8 bits, not clipped as convert("L") does
                gray = Image.fromarray((np.asarray(image, np.float64) / 257.0).round().astype(np.uint8))
            else:
                gray = image.convert("L")  # ITU-R 601 luma from RGB; a palette or an alpha channel is resolved
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        reason = ("not an image Pillow can read" if isinstance(error, UnidentifiedImageError)
                  else f"the image cannot be read ({error})")
        raise InputError(f"{where}: {reason}, expected an image file (PNG, JPEG, BMP, ...)") from None
    if gray.size == (SIDE, SIDE):
        return np.asarray(gray, np.uint8), False
    # Area averaging when shrinking, as FER2013's faces were made; a smaller face is enlarged bilinearly
    shrink = gray.width >= SIDE and gray.height >= SIDE
    resample = Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
    return np.asarray(gray.resize((SIDE, SIDE), resample), np.uint8), True


def _read(root: Path, relative: str, decode: bool):
    data = (root / relative).read_bytes()
    digest = hashlib.sha256(data).digest()
    return (digest, *_to_face(data, root / relative)) if decode else (digest, None, False)


def _combined(items: list, digests: list) -> str:
    total = hashlib.sha256()
    for (relative, _, _), digest in zip(items, digests):
        total.update(relative.encode() + b"\0" + digest)
    return total.hexdigest()


def folder_sha256(root: Path) -> str:
    """The content hash of a folder that loads, without decoding it: every image's path and bytes (those of the
    left-out classes too), as ``load_folder`` computes it."""
    splits = [split for split in _split_folders(root) if split.name.lower() in SPLITS]
    items = sorted((path.relative_to(root).as_posix(), 0, "") for split in splits for path in _files(split))
    with ThreadPoolExecutor(THREADS) as pool:
        digests = [d for d, _, _ in pool.map(lambda item: _read(root, item[0], False), items)]
    return _combined(items, digests)


def load_folder(root: str | Path, mapping: dict | None = None) -> FolderData:
    """Load every image of ``root``: Pillow decodes in threads (it releases the GIL while decoding and resizing,
    and reading the files waits on the disk), each thread into its own faces."""
    root = Path(root)
    mapping = mapping or {}
    items, left_out = list_images(root, mapping)
    kept = [item for item in items if item[1] >= 0]
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda item: _read(root, item[0], item[1] >= 0), items))
    faces = [face for (_, face, _), item in zip(results, items) if item[1] >= 0]
    images = np.stack(faces) if faces else np.zeros((0, SIDE, SIDE), np.uint8)
    dataset = Dataset(images, np.array([label for _, label, _ in kept], np.int64),
                      np.array([usage for _, _, usage in kept]))
    resized = sum(was_resized for _, _, was_resized in results)
    return FolderData(dataset, np.array([name for name, _, _ in kept]), _combined(items, [r[0] for r in results]),
                      resized, left_out)
