"""Question 2 figures: the filters' ascent images, their outputs for one image, and the top filters side by side.

Each small image is contrast-stretched on its own, so faint patterns stay visible; labels are numbers only.
"""
from __future__ import annotations

import math

import numpy as np

from generator.figures.common import is_flat, new_figure, png_bytes, show_map


def _stretch(image: np.ndarray) -> np.ndarray:
    """``image`` stretched to [0, 1]; flat (0) when its range is below the noise floor (common.is_flat)."""
    image = np.asarray(image, np.float64)
    if is_flat(image):
        return np.zeros_like(image)
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low)


def grid_figure(images: np.ndarray, labels: list[str], cmap: str = "gray") -> bytes:
    """All filters in a square-ish grid, each titled with its label (index and a number)."""
    count = len(images)
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    fig = new_figure(columns * 1.05, rows * 1.2)
    axes = fig.subplots(rows, columns, squeeze=False, gridspec_kw={"wspace": 0.08, "hspace": 0.35})
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < count:
            show_map(ax, _stretch(images[k]), cmap)
            ax.set_title(labels[k], fontsize=6.5, pad=2)
    return png_bytes(fig)


def pairs_figure(patterns: np.ndarray, outputs: np.ndarray, labels: list[str]) -> bytes:
    """Two rows: the top filters' ascent images above their outputs for the chosen face."""
    count = len(patterns)
    fig = new_figure(count * 1.1, 2.5)
    axes = fig.subplots(2, count, squeeze=False, gridspec_kw={"wspace": 0.08, "hspace": 0.25})
    for k in range(count):
        show_map(axes[0, k], _stretch(patterns[k]), "gray")
        axes[0, k].set_title(labels[k], fontsize=7, pad=2)
        show_map(axes[1, k], _stretch(outputs[k]), "viridis")
        for ax in axes[:, k]:
            ax.set_axis_off()
    return png_bytes(fig)
