"""Deterministic figure output: a bare Figure (no pyplot state), Agg, fixed rcParams, no version metadata.

Bytes that do not follow the CPU. The maps and curves come from float32 convolutions whose last bits change with the
CPU and the thread count (a reduction in another order): about 1e-7 here. A PNG changes only where such noise moves a
value across one of the few boundaries the drawing has, so every array is quantised here, in float64, before
matplotlib sees it, and nothing after the quantiser reads the raw floats:
- a map becomes colour indices on LEVELS steps of its colour scale, then RGB bytes (``map_rgb``); matplotlib only
  places those pixels (nearest neighbour, no float resampling, no per-image rescaling by the data's min and max);
- a scale taken from the data (LIME's largest weight) is rounded up to 2 significant digits (``round_scale``);
- a curve's values are snapped to a grid of CURVE_STEP (``snap``), so Agg's 1/256-pixel vertex positions are a
  function of the grid point, not of the float.
A boundary still exists between two steps: a value within the noise of one flips. Fewer steps make that rarer (the
chance is about 2 x noise / step per value); LEVELS = 64 keeps each step below what the eye separates in these
colour maps, and CURVE_STEP is under half a pixel at the curves' height. tests/test_stable_figures.py measures both.
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display here, and the same bytes everywhere

import numpy as np  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from PIL import Image  # noqa: E402

HEAT_CMAP = "inferno"
RC = {"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "fer-report", "figure.dpi": 100}
LEVELS = 64            # colour steps of every map, from vmin to vmax
# A map stretched to its own range whose range is below this share of its size is drawn flat: such a range is float
# noise (the model runs in float64, whose kernels differ by about 1e-16; a float32 model's by about 1e-7), and
# stretching it would draw the noise as a full-contrast pattern that changes with the CPU. Pages say "no measurable
# change" for such maps.
FLAT_BELOW = 1e-6
CURVE_STEP = 1 / 256   # the grid of every plotted curve value (exact in binary)
METHOD_CMAP = "tab10"  # one colour per method, in the order they are drawn; past ten, evenly spaced on LONG_CMAP
LONG_CMAP = "turbo"


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


def colour_indices(values: np.ndarray, vmin: float, vmax: float, levels: int = LEVELS) -> np.ndarray:
    """Each value's step on [vmin, vmax] cut into ``levels`` equal steps (0 .. levels - 1; below and above clip),
    in float64. NaN takes step 0."""
    scaled = (np.asarray(values, np.float64) - vmin) / (vmax - vmin) * levels
    return np.clip(np.nan_to_num(np.floor(scaled), nan=0.0), 0, levels - 1).astype(np.intp)


def is_flat(values: np.ndarray) -> bool:
    """True when the range of ``values`` is below FLAT_BELOW of their largest magnitude (or all are 0)."""
    values = np.asarray(values, np.float64)
    low, high = float(values.min()), float(values.max())
    return not high - low > FLAT_BELOW * max(abs(low), abs(high))


def stepped_cmap(cmap: str, levels: int = LEVELS):
    """The colour map cut to ``levels`` colours: the colours the maps are drawn in, and their colour bar."""
    return matplotlib.colormaps[cmap].resampled(levels)


def map_rgb(values: np.ndarray, cmap: str, vmin: float = 0.0, vmax: float = 1.0) -> np.ndarray:
    """A map as uint8 RGB on ``levels`` colours of ``cmap``: what the figure shows of it, and all it shows."""
    lut = stepped_cmap(cmap)(np.arange(LEVELS), bytes=True)[:, :3]
    return lut[colour_indices(values, vmin, vmax)]


def show_map(ax, values: np.ndarray, cmap: str, vmin: float = 0.0, vmax: float = 1.0, **imshow) -> ScalarMappable:
    """Draw a map through ``map_rgb``; returns the mappable its colour bar is drawn from (the same steps)."""
    ax.imshow(map_rgb(values, cmap, vmin, vmax), interpolation="nearest", **imshow)
    return ScalarMappable(Normalize(vmin, vmax), stepped_cmap(cmap))


def round_scale(limit: float) -> float:
    """A map's own colour scale (LIME's largest weight, the largest spread) rounded up to 2 significant digits: the
    colour bar's ticks and every step then stay put under float noise, unless the noise crosses that rounding
    (about 1e-4 of the time for noise of 1e-6). 0 becomes 1."""
    if not limit > 0:
        return 1.0
    unit = 10.0 ** (np.floor(np.log10(limit)) - 1)
    return float(np.ceil(np.float64(limit) / unit) * unit)


def snap(values) -> np.ndarray:
    """Curve values rounded to the CURVE_STEP grid, in float64 (NaN stays NaN)."""
    return np.round(np.asarray(values, np.float64) / CURVE_STEP) * CURVE_STEP


def overlay(gray: np.ndarray, heatmap: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """uint8 RGB overlay of a [0, 1] heatmap, in its stepped colours, on a [0, 1] grayscale image (a pure function,
    no drawing)."""
    heat = map_rgb(heatmap, HEAT_CMAP) / 255.0
    base = np.repeat(np.clip(np.asarray(gray, np.float64), 0, 1)[..., None], 3, axis=2)
    return np.round(((1 - alpha) * base + alpha * heat) * 255).astype(np.uint8)


def method_colours(count: int) -> list[str]:
    """``count`` distinct colours (hex), for any number of methods: the qualitative map's own colours while it
    has enough, else evenly spaced samples of a continuous map."""
    if count <= matplotlib.colormaps[METHOD_CMAP].N:
        colours = matplotlib.colormaps[METHOD_CMAP].colors[:count]
    else:
        colours = [matplotlib.colormaps[LONG_CMAP](k / max(count - 1, 1)) for k in range(count)]
    return [matplotlib.colors.to_hex(c) for c in colours]

