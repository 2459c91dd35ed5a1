"""Inputs of a build: the dataset (a user's CSV or the bundled synthetic faces) and its validation split."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from generator.config import Settings
from generator.data import synth
from generator.data.fer2013 import Dataset, load_csv, validation_indices


@dataclass(frozen=True)
class SplitRule:
    """How the validation split was chosen; the templates put it into words."""
    kind: str                      # public_test (Kaggle's rows), stratified (seeded hold-out), every_tenth (demo)
    fraction: float | None = None  # of a stratified hold-out
    seed: int | None = None        # of a stratified hold-out


@dataclass(frozen=True)
class DataInputs:
    dataset: Dataset          # the rows the build needs (all rows of a CSV; the validation rows of synthetic data)
    rows: np.ndarray          # each dataset row's number in the full data set (a CSV's 0-based data row)
    validation: np.ndarray    # positions in ``dataset`` of the validation split
    total_rows: int
    synthetic: bool
    split: SplitRule
    file: str                 # a CSV's file name, or synthetic:<seed>:<count>
    sha256: str
    synthetic_seed: int | None = None

    def face_at_row(self, row: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The face of data row ``row`` (uint8, 48x48) and its part map if known, or None without such a row."""
        hits = np.flatnonzero(self.rows == row)
        if len(hits):
            parts = self.dataset.parts[hits[0]] if self.dataset.parts is not None else None
            return self.dataset.images[hits[0]], parts
        if self.synthetic and 0 <= row < self.total_rows:
            return synth.render(synth.make_spec(self.synthetic_seed, row))
        return None


def load_data(settings: Settings) -> DataInputs:
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
