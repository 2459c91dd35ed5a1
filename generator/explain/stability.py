"""LIME stability: the same face explained with several seeds. Its superpixels are the same every time (SLIC is
deterministic), so the explanations can be compared superpixel by superpixel.

- Jaccard: the overlap |A ∩ B| / |A ∪ B| of the top-k positive superpixels of two seeds, averaged over all pairs.
- Spearman: the rank correlation of two seeds' weight vectors, averaged over all pairs.
- Per-pixel standard deviation of the weight map across seeds, shown as a figure.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.stats import spearmanr


@dataclass(frozen=True)
class Stability:
    jaccard: float
    spearman: float
    pixel_std: np.ndarray  # (48, 48)


def top_k(weights: np.ndarray, k: int) -> set:
    """The ``k`` superpixels with the largest positive weights."""
    order = np.argsort(-weights, kind="stable")[:k]
    return {int(s) for s in order if weights[s] > 0}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def stability(weight_vectors: list[np.ndarray], segments: np.ndarray, k: int) -> Stability:
    """Scores of several seeds' weight vectors (one weight per superpixel of ``segments``)."""
    pairs = list(combinations(range(len(weight_vectors)), 2))
    jac = np.mean([jaccard(top_k(weight_vectors[i], k), top_k(weight_vectors[j], k)) for i, j in pairs])
    rho = np.mean([spearmanr(weight_vectors[i], weight_vectors[j]).statistic for i, j in pairs])
    maps = np.stack([w[segments] for w in weight_vectors])
    return Stability(float(jac), float(rho), maps.std(axis=0))
