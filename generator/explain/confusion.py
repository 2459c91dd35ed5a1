"""The confusion matrix on the validation split: counts, row-normalised rates, per-class accuracy."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Confusion:
    counts: np.ndarray  # (7, 7): row = true class, column = predicted class

    @property
    def rates(self) -> np.ndarray:
        """Each row divided by its total (a class with no images keeps a row of zeros)."""
        totals = self.counts.sum(axis=1, keepdims=True)
        return np.divide(self.counts, totals, out=np.zeros(self.counts.shape), where=totals > 0)

    @property
    def per_class_accuracy(self) -> np.ndarray:
        return np.diag(self.rates)

    @property
    def accuracy(self) -> float:
        total = self.counts.sum()
        return float(np.trace(self.counts) / total) if total else 0.0

    def largest_confusions(self, k: int = 3) -> list[tuple[int, int, int, float]]:
        """The ``k`` largest off-diagonal rates: (true, predicted, count, rate), largest first."""
        rates = self.rates.copy()
        np.fill_diagonal(rates, -1.0)
        order = np.argsort(-rates, axis=None, kind="stable")[:k]
        out = []
        for flat in order:
            t, p = np.unravel_index(flat, rates.shape)
            if self.counts[t, p] > 0:
                out.append((int(t), int(p), int(self.counts[t, p]), float(rates[t, p])))
        return out


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 7) -> Confusion:
    counts = np.zeros((classes, classes), np.int64)
    np.add.at(counts, (np.asarray(labels), np.asarray(predicted)), 1)
    return Confusion(counts)
