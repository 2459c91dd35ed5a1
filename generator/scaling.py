"""Map scaling shared by the methods and the figures: plain numpy, so a figure module needs no compute module."""
from __future__ import annotations

import numpy as np


def normalise(maps: np.ndarray) -> np.ndarray:
    """Scale each map to [0, 1] by its own maximum (an all-zero map stays zero)."""
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, *([1] * (maps.ndim - 1)))
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
