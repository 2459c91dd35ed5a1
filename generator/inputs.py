"""Inputs of a build: the dataset (a user's CSV, a user's image folder or the bundled synthetic faces) and its
validation split."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from generator.config import Settings
from generator.data import synth
from generator.data.fer2013 import Dataset, load_csv, validation_indices


@dataclass(frozen=True)
class SplitRule:
    """How the validation split was chosen; the templates put it into words."""
    # public_test (Kaggle's rows), validation_folders (an image folder's), stratified (seeded hold-out), every_tenth
    kind: str
    fraction: float | None = None  # of a stratified hold-out
    seed: int | None = None        # of a stratified hold-out
    folders: tuple = ()            # an image folder's validation split folders, e.g. ("test",)


@dataclass(frozen=True)
class DataInputs:
    dataset: Dataset          # the rows the build needs (all rows of a CSV; the validation rows of synthetic data)
    rows: np.ndarray          # each dataset row's number in the full data set (a CSV's 0-based data row)
    validation: np.ndarray    # positions in ``dataset`` of the validation split
    total_rows: int
    synthetic: bool
    split: SplitRule
    file: str                 # a CSV's or an image folder's name, or synthetic:<seed>:<count>
    sha256: str
    synthetic_seed: int | None = None
    names: np.ndarray | None = None  # an image folder's relative paths, one per row (row = position in sorted order)
    resized: int = 0          # an image folder's images that were not 48x48 gray
    left_out: dict = field(default_factory=dict)  # an image folder's left-out class folders -> images

    @property
    def kind(self) -> str:
        return "synthetic" if self.synthetic else "folder" if self.names is not None else "csv"

    def name_of(self, row: int) -> str | None:
        """An image folder's face's relative path, or None for a CSV's or the synthetic faces' rows."""
        return str(self.names[row]) if self.names is not None else None

    def row_of(self, value: int | str) -> int | None:
        """The row a setting names: a row number, or for an image folder also a relative path (None if unknown)."""
        if isinstance(value, int):
            return value
        if self.names is None:
            return None
        wanted = value.replace("\\", "/").removeprefix("./")
        hits = np.flatnonzero(self.names == wanted)
        return int(hits[0]) if len(hits) else None

    def messages(self) -> list[str]:
        """What the loading did that the user should know: printed once by the command line."""
        if self.names is None:
            return []
        out = [f"{self.file}: {self.resized:,} of {self.total_rows:,} images resized to 48x48 (converted to gray, "
               "then resized by area)"]
        for folder, count in self.left_out.items():
            out.append(f"{self.file}: left out {count:,} images of {folder}/, not one of the 7 FER2013 classes")
        return out

    def face_at_row(self, row: int | str) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The face of data row ``row`` (uint8, 48x48) and its part map if known, or None without such a row."""
        row = self.row_of(row)
        if row is None:
            return None
        hits = np.flatnonzero(self.rows == row)
        if len(hits):
            parts = self.dataset.parts[hits[0]] if self.dataset.parts is not None else None
            return self.dataset.images[hits[0]], parts
        if self.synthetic and 0 <= row < self.total_rows:
            return synth.render(synth.make_spec(self.synthetic_seed, row))
        return None


def load_data(settings: Settings) -> DataInputs:
    if settings.data.folder:
        return _load_folder(settings)
    if settings.data.csv:
        path = settings.resolve(settings.data.csv)
        dataset = load_csv(path)
        fraction = settings.data.validation_fraction
        validation = validation_indices(dataset, fraction, settings.seed)
        has_public = bool((dataset.usage == "PublicTest").any())
        split = SplitRule("public_test") if has_public else SplitRule("stratified", fraction, settings.seed)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return DataInputs(dataset, np.arange(len(dataset)), validation, len(dataset), False, split, path.name, digest)
    seed, count = settings.data.synthetic_seed, settings.data.synthetic_count
    # Only the validation rows are rendered: every image has its own seed, so any subset renders alone.
    rows = np.array([i for i in range(count) if synth.usage_of(i) == "PublicTest"])
    images, labels, parts = synth.render_dataset(seed, rows)
    dataset = Dataset(images, labels, np.full(len(rows), "PublicTest"), parts)
    digest = hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()
    return DataInputs(dataset, rows, np.arange(len(rows)), count, True, SplitRule("every_tenth"),
                      f"synthetic:{seed}:{count}", digest, seed)


def _load_folder(settings: Settings) -> DataInputs:
    from generator.data.folders import load_folder  # Pillow: only an image folder needs it
    root = settings.resolve(settings.data.folder)
    loaded = load_folder(root, settings.data.class_folders)
    dataset = loaded.dataset
    validation = np.flatnonzero(dataset.usage == "PublicTest")
    folders = tuple(sorted({str(name).split("/", 1)[0] for name in loaded.names[validation]}))
    return DataInputs(dataset, np.arange(len(dataset)), validation, len(dataset), False,
                      SplitRule("validation_folders", folders=folders), root.name, loaded.sha256,
                      names=loaded.names, resized=loaded.resized, left_out=loaded.left_out)
