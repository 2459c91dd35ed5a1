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


def _visible(entry) -> bool:
    """A Path or an os.DirEntry that is not hidden."""
    return not entry.name.startswith(".") and entry.name.lower() not in IGNORED


def _accepted_classes() -> str:
    return ", ".join(SPELLINGS) + " (any case), or contempt (left out)"


def _files(folder: Path, relative: str) -> list[str]:
    """The relative paths (``relative`` + name) of the visible files under ``folder``, at any depth, hidden
    folders (``.ipynb_checkpoints``) skipped. os.scandir, not pathlib: its entries know their type without a stat
    call, which counts at 35,887 files."""
    out = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not _visible(entry):
                continue
            if entry.is_dir():
                out.extend(_files(Path(entry.path), f"{relative}{entry.name}/"))
            elif entry.is_file():
                out.append(relative + entry.name)
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
            files = _files(folder, f"{split.name}/{folder.name}/")
            if label is None:
                left_out[folder.name] = left_out.get(folder.name, 0) + len(files)
            items.extend((path, -1 if label is None else label, usage) for path in files)
    if not any(usage == "PublicTest" and label >= 0 for _, label, usage in items):
        held = ", ".join(s.name + "/" for s in splits if SPLITS[s.name.lower()] == "PublicTest")
        raise InputError(f"{root}: the validation split ({held}) "
                         "holds no image of the 7 classes, expected one folder per class holding the images")
    items.sort(key=lambda item: item[0])
    return items, left_out


def _to_face(data: bytes, where: str) -> tuple[np.ndarray, bool]:
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


def _chunks(count: int) -> list[range]:
    """Contiguous blocks of items, one per thread: a task per image would cost more than many images' decoding."""
    bounds = np.linspace(0, count, THREADS + 1).astype(int)
    return [range(start, stop) for start, stop in zip(bounds[:-1], bounds[1:]) if stop > start]


def _read_all(root: Path, items: list, decode: bool):
    """(per-item SHA-256 digests, faces (N, 48, 48) with a zero face where not decoded, resized flags). The
    threads read and decode their blocks side by side (Pillow releases the GIL while it decodes and resizes);
    the first unreadable file in path order is the one reported."""
    digests = [b""] * len(items)
    images = np.zeros((len(items), SIDE, SIDE), np.uint8)
    resized = np.zeros(len(items), bool)

    def block(indices: range) -> InputError | None:
        for k in indices:
            relative, label, _ = items[k]
            path = os.path.join(root, relative)  # a string: pathlib costs more than small images' decoding
            with open(path, "rb") as handle:
                data = handle.read()
            digests[k] = hashlib.sha256(data).digest()
            if decode and label >= 0:
                try:
                    images[k], resized[k] = _to_face(data, path)
                except InputError as error:
                    return error
        return None

    with ThreadPoolExecutor(THREADS) as pool:
        errors = [error for error in pool.map(block, _chunks(len(items))) if error is not None]
    if errors:
        raise errors[0]
    return digests, images, resized


def _combined(items: list, digests: list) -> str:
    total = hashlib.sha256()
    for (relative, _, _), digest in zip(items, digests):
        total.update(relative.encode() + b"\0" + digest)
    return total.hexdigest()


def folder_sha256(root: Path) -> str:
    """The content hash of a folder that loads, without decoding it: every image's path and bytes (those of the
    left-out classes too), as ``load_folder`` computes it."""
    splits = [split for split in _split_folders(root) if split.name.lower() in SPLITS]
    items = sorted((path, 0, "") for split in splits for path in _files(split, f"{split.name}/"))
    return _combined(items, _read_all(root, items, decode=False)[0])


def load_folder(root: str | Path, mapping: dict | None = None) -> FolderData:
    """Load every image of ``root``, the class folders matched by name (``mapping``: data.class_folders)."""
    root = Path(root)
    items, left_out = list_images(root, mapping or {})
    digests, images, resized = _read_all(root, items, decode=True)
    kept = np.array([label >= 0 for _, label, _ in items], bool)
    dataset = Dataset(images[kept], np.array([label for _, label, _ in items], np.int64)[kept],
                      np.array([usage for _, _, usage in items])[kept])
    return FolderData(dataset, np.array([name for name, _, _ in items])[kept], _combined(items, digests),
                      int(resized[kept].sum()), left_out)
