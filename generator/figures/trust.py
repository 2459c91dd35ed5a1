"""Trust page figures: sanity-check curves, deletion/insertion curves, LIME's per-pixel spread. Method names
are proper names (the same in both languages); axes carry symbols and numbers only."""
from __future__ import annotations

import warnings

import numpy as np

from generator.figures.common import HEAT_CMAP, method_colours, new_figure, png_bytes, round_scale, show_map, snap


def sanity_figure(layers: list[str], spearman: np.ndarray, ssim: np.ndarray, pass_below: float) -> bytes:
    """Mean (line) and range over faces (band) of Spearman rho and SSIM, as layers are randomised top down."""
    steps = np.arange(len(layers) + 1)
    fig = new_figure(6.0, 3.0)
    ax = fig.subplots()
    rho_colour, ssim_colour = method_colours(2)
    for values, colour, label, style in ((spearman, rho_colour, "ρ", "-"), (ssim, ssim_colour, "SSIM", "--")):
        with warnings.catch_warnings():  # faces with a constant map are NaN and left out (see sanity.similarity)
            warnings.simplefilter("ignore", RuntimeWarning)
            values = np.asarray(values, np.float64)
            ax.plot(steps, snap(np.nanmean(values, axis=1)), style, color=colour, marker="o", markersize=3,
                    label=label)
            ax.fill_between(steps, snap(np.nanmin(values, axis=1)), snap(np.nanmax(values, axis=1)), color=colour,
                            alpha=0.15, linewidth=0)
    ax.axhline(pass_below, color="gray", linewidth=0.8, linestyle=":")
    ax.set_xticks(steps)
    ax.set_xticklabels(["—"] + layers, rotation=35, ha="right", fontsize=7)
    ax.set_ylim(-0.3, 1.05)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    return png_bytes(fig)


def curves_figure(curves: dict, reference: dict) -> bytes:
    """Deletion (left) and insertion (right): each method's mean P(class) over its faces (name -> {"deletion":
    (steps + 1,), "insertion": ...}), the random map's dashed."""
    fig = new_figure(8.0, 3.2)
    axes = fig.subplots(1, 2, gridspec_kw={"wspace": 0.25})
    for ax, kind in zip(axes, ("deletion", "insertion")):
        for (name, mean), colour in zip(curves.items(), method_colours(len(curves)), strict=True):
            ax.plot(np.linspace(0, 1, len(mean[kind])), snap(np.asarray(mean[kind], np.float64)), color=colour,
                    label=name, linewidth=1.4)
        mean = snap(np.asarray(reference[kind], np.float64))
        ax.plot(np.linspace(0, 1, len(mean)), mean, color="black", linestyle="--", label="random", linewidth=1.2)
        ax.set_title("−" if kind == "deletion" else "+", fontsize=11)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    return png_bytes(fig)


def std_figure(maps: list[np.ndarray], classes: list[int] | None = None) -> bytes:
    """LIME's per-pixel standard deviation of the superpixel weight across seeds, one panel per face, titled with
    its class (``classes``; by default 0, 1, 2, ...)."""
    classes = list(range(len(maps))) if classes is None else classes
    fig = new_figure(1.6 * len(maps) + 0.5, 2.0)
    axes = fig.subplots(1, len(maps), squeeze=False, gridspec_kw={"wspace": 0.05})[0]
    top = round_scale(max(float(np.max(m)) for m in maps))
    for cls, ax, m in zip(classes, axes, maps):
        shown = show_map(ax, m, HEAT_CMAP, 0.0, top)
        ax.set_title(str(cls), fontsize=8)
        ax.set_axis_off()
    fig.colorbar(shown, ax=axes, fraction=0.02, pad=0.01)
    return png_bytes(fig)
