"""Question 1 figures: original | saliency heatmap | overlay, for one face; the face and one map per method, for
one face or for a class average. No words: captions carry them."""
from __future__ import annotations

import numpy as np

from generator.scaling import normalise
from generator.figures.common import HEAT_CMAP, new_figure, overlay, png_bytes, show_map


def methods_figure(gray: np.ndarray, heatmaps: list[np.ndarray]) -> bytes:
    """The face, then one heatmap per method (in the order the page's caption names them), all on 0-1."""
    fig = new_figure(1.75 * (len(heatmaps) + 1) + 0.4, 2.0)
    axes = fig.subplots(1, len(heatmaps) + 1, gridspec_kw={"wspace": 0.05})
    axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for ax, heatmap in zip(axes[1:], heatmaps):
        shown = show_map(ax, heatmap, HEAT_CMAP)
    for ax in axes:
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes, fraction=0.02, pad=0.01)
    return png_bytes(fig)


def class_average_figure(mean_face: np.ndarray, mean_maps: list[np.ndarray]) -> bytes:
    """A class's mean face, then each method's mean map scaled by its own maximum: a mean of [0, 1] maps peaks
    below 1 where the faces disagree, and its shape, not its height, is what the figure shows."""
    return methods_figure(mean_face, list(normalise(np.stack(mean_maps))))


def saliency_figure(gray: np.ndarray, heatmap: np.ndarray) -> bytes:
    """``gray`` and ``heatmap`` are (48, 48) in [0, 1]."""
    fig = new_figure(7.2, 2.6)
    axes = fig.subplots(1, 3, gridspec_kw={"wspace": 0.05})
    axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    shown = show_map(axes[1], heatmap, HEAT_CMAP)
    axes[2].imshow(overlay(gray, heatmap), interpolation="nearest")
    for ax in axes:
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes, fraction=0.025, pad=0.02)
    return png_bytes(fig)


def map_figure(gray: np.ndarray, heatmap: np.ndarray, cut: np.ndarray | None = None) -> bytes:
    """The face, a method's map, the map over the face; and, for a perturbation method, the face with its
    strongest cut. All (48, 48) in [0, 1]."""
    if cut is None:
        return saliency_figure(gray, heatmap)
    fig = new_figure(9.4, 2.6)
    axes = fig.subplots(1, 4, gridspec_kw={"wspace": 0.05})
    axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    shown = show_map(axes[1], heatmap, HEAT_CMAP)
    axes[2].imshow(overlay(gray, heatmap), interpolation="nearest")
    axes[3].imshow(cut, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for ax in axes:
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes, fraction=0.025, pad=0.02)
    return png_bytes(fig)

