"""Deterministic figure output: a bare Figure (no pyplot state), Agg, fixed rcParams, no version metadata."""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display here, and the same bytes everywhere

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

HEAT_CMAP = "inferno"
RC = {"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "fer-report", "figure.dpi": 100}


def new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(RC):
        return Figure(figsize=(width, height), dpi=100)


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None}, bbox_inches="tight", pad_inches=0.05)
    return buffer.getvalue()


def face_png(pixels: np.ndarray, zoom: int = 3) -> bytes:
    """A 48x48 face upscaled with nearest neighbour, so the pixels stay honest."""
    image = Image.fromarray(np.asarray(pixels, np.uint8), mode="L").resize(
        (pixels.shape[1] * zoom, pixels.shape[0] * zoom), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def overlay(gray: np.ndarray, heatmap: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """RGB overlay of a [0, 1] heatmap on a [0, 1] grayscale image (a pure function, no drawing)."""
    cmap = matplotlib.colormaps[HEAT_CMAP]
    heat = cmap(np.clip(heatmap, 0, 1))[..., :3]
    base = np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=2)
    return (1 - alpha) * base + alpha * heat
