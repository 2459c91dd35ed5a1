"""The evaluation set of the trust page: enough faces that a trust number is a mean with a confidence interval, not
an anecdote of the seven report faces. It is chosen separately from those seven (and may include them).
Question 1's class averages run on the same faces, and the trust stage scores their maps.

Per class, ``faces_per_class`` validation faces that the model classifies correctly, so that every map explains the
class the model gives and the face's label; chosen at random with the build's seed. A class with fewer such faces
gives all of them, and ``counts`` says how many each class gave.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.data.fer2013 import NUM_CLASSES
from generator.inputs import DataInputs


@dataclass(frozen=True)
class EvaluationSet:
    positions: np.ndarray      # (n,) positions in the dataset, class by class, ascending within a class
    rows: np.ndarray           # (n,) each face's data row number
    targets: np.ndarray        # (n,) each face's class: its label, which the model also predicts
    faces: np.ndarray          # (n, 48, 48) uint8
    masks: np.ndarray | None   # (n, 48, 48) part masks of synthetic faces; None for real faces
    asked: int                 # faces asked per class (trust.faces_per_class)
    counts: tuple              # faces per class in the set
    available: tuple           # correctly classified validation faces per class

    @property
    def n(self) -> int:
        return len(self.positions)

    @property
    def short(self) -> list[int]:
        """The classes that gave fewer faces than asked."""
        return [c for c, count in enumerate(self.counts) if count < self.asked]


def choose(probabilities: np.ndarray, labels: np.ndarray, validation: np.ndarray, per_class: int,
           seed: int) -> tuple[np.ndarray, tuple]:
    """Positions of up to ``per_class`` correctly classified validation faces per class, and how many each class
    had. Each class draws from its own generator (``[seed, class]``), so one class's count does not move another's
    choice."""
    predicted = probabilities.argmax(1)
    chosen, available = [], []
    for c in range(NUM_CLASSES):
        correct = validation[(labels[validation] == c) & (predicted[validation] == c)]
        available.append(len(correct))
        take = min(per_class, len(correct))
        picked = np.random.default_rng([seed, c]).choice(correct, size=take, replace=False) if take else correct
        chosen.append(np.sort(picked))
    return np.concatenate(chosen).astype(np.int64), tuple(available)


def evaluation_set(probabilities: np.ndarray, data: DataInputs, per_class: int, seed: int) -> EvaluationSet:
    dataset = data.dataset
    positions, available = choose(probabilities, dataset.labels, data.validation, per_class, seed)
    targets = dataset.labels[positions].astype(np.int64)
    counts = tuple(int((targets == c).sum()) for c in range(NUM_CLASSES))
    masks = dataset.parts[positions] if dataset.parts is not None else None
    return EvaluationSet(positions, data.rows[positions], targets, dataset.images[positions], masks, per_class,
                         counts, available)
