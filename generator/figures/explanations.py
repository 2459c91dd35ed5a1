"""Questions 3 and 4 figures: LIME regions, the confusion matrix, occlusion. Numbers only, no words."""
from __future__ import annotations

import numpy as np
from skimage.segmentation import find_boundaries

from generator.figures.common import HEAT_CMAP, new_figure, png_bytes, round_scale, show_map

GREEN = np.array([0.1, 0.75, 0.2])
RED = np.array([0.85, 0.1, 0.1])


def lime_overlay(gray: np.ndarray, positive: np.ndarray, negative: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """RGB: positive superpixels tinted green, negative red, superpixel borders faint."""
    rgb = np.repeat(gray[..., None], 3, axis=2)
    for mask, colour in ((positive, GREEN), (negative, RED)):
        rgb[mask] = 0.45 * rgb[mask] + 0.55 * colour
    edges = find_boundaries(segments, mode="inner")
    rgb[edges] = 0.75 * rgb[edges] + 0.25
    return rgb


def lime_figure(gray: np.ndarray, weight_map: np.ndarray, overlay: np.ndarray) -> bytes:
    """The face | the surrogate weight of each superpixel (diverging, 0 at the centre) | green/red regions."""
    fig = new_figure(7.2, 2.6)
    axes = fig.subplots(1, 3, gridspec_kw={"wspace": 0.05})
    axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    limit = round_scale(float(np.abs(weight_map).max()))
    shown = show_map(axes[1], weight_map, "PiYG", -limit, limit)
    axes[2].imshow(np.clip(overlay, 0, 1), interpolation="nearest")
    for ax in axes:
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes, fraction=0.025, pad=0.02)
    return png_bytes(fig)


def confusion_figure(rates: np.ndarray, counts: np.ndarray) -> bytes:
    """Row-normalised rates as colour, each cell with its rate and count; axes are class numbers 0-6."""
    n = len(rates)
    fig = new_figure(5.6, 5.0)
    ax = fig.subplots()
    shown = show_map(ax, rates, "Blues")
    for t in range(n):
        for p in range(n):
            colour = "white" if rates[t, p] > 0.55 else "black"
            ax.text(p, t, f"{rates[t, p]:.2f}\n{counts[t, p]}", ha="center", va="center", fontsize=7.5,
                    color=colour)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xlabel("ŷ")
    ax.set_ylabel("y")
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    return png_bytes(fig)


def occlusion_figure(gray: np.ndarray, heatmap: np.ndarray, lowest_image: np.ndarray, lowest: tuple) -> bytes:
    """The face | P(class) with the box centred on each pixel | the face with the lowest-probability box."""
    fig = new_figure(7.2, 2.6)
    axes = fig.subplots(1, 3, gridspec_kw={"wspace": 0.05})
    axes[0].imshow(gray, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    shown = show_map(axes[1], heatmap, HEAT_CMAP, extent=(-0.5, gray.shape[1] - 0.5, gray.shape[0] - 0.5, -0.5))
    axes[1].plot([lowest[1]], [lowest[0]], marker="+", color="cyan", markersize=9, markeredgewidth=1.5)
    axes[2].imshow(lowest_image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    for ax in axes:
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes, fraction=0.025, pad=0.02)
    return png_bytes(fig)
