"""Figures whose bytes do not follow the CPU.

Float32 convolutions give other last bits on another CPU or with another thread count. A figure draws its arrays
through a quantiser (generator/figures/common.py): colour steps for maps, a grid for curves. These tests check
that the bytes depend on the quantised values alone, that 1e-6 relative noise changes a PNG exactly where it moves
a value across a step (and how rarely that is), and that builds under three choices of torch's CPU kernels give
byte-identical site trees (the model runs in float64 there: generator/models/load.py).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from conftest import QUICK, ROOT, quick_tables, run_cli, snapshot, write_project
from generator.figures import explanations, filters, saliency, trust
from generator.figures.common import CURVE_STEP, LEVELS, colour_indices, round_scale, snap

NOISE = 1e-6


def smooth_map(rng, shape=(48, 48), signed=False) -> np.ndarray:
    """A saliency-like map: blurred noise, scaled to [0, 1] by its maximum (or to [-1, 1] when ``signed``)."""
    field = gaussian_filter(rng.standard_normal(shape), 2.0)
    field = field if signed else np.abs(field)
    return field / np.abs(field).max()


def within_steps(values: np.ndarray, low: float, high: float, rng) -> np.ndarray:
    """Each value moved to a random point of its own colour step of [low, high] (5-95% across it): a change some
    thousand times the float noise. The extremes stay, so a figure that scales by them scales alike."""
    step = colour_indices(values, low, high)
    moved = low + (step + rng.uniform(0.05, 0.95, values.shape)) / LEVELS * (high - low)
    keep = (values == values.min()) | (values == values.max())
    return np.where(keep, values, moved)


def within_grid(values: np.ndarray, rng) -> np.ndarray:
    """Each curve value moved within its own cell of the CURVE_STEP grid."""
    return (np.round(values / CURVE_STEP) + rng.uniform(-0.45, 0.45, values.shape)) * CURVE_STEP


def stretched(image: np.ndarray) -> np.ndarray:
    return (image - image.min()) / (image.max() - image.min())


def figure_cases(rng, faces: int = 1):
    """name -> (draw(arrays) -> PNG bytes, the arrays, moved(arrays) within their steps, quantised(arrays)): every
    figure function of the report, on arrays shaped as the stages give them. (The confusion matrix is left out: it
    draws counts and their ratios, the same on every CPU, and prints them.) ``faces``: curves averaged per figure
    (1 lets ``moved`` keep every mean in its grid cell)."""
    gray = rng.integers(0, 256, (48, 48)) / 255.0
    segments = np.repeat(np.repeat(np.arange(36).reshape(6, 6), 8, 0), 8, 1)
    lime_rgb = explanations.lime_overlay(gray, segments < 3, segments > 32, segments)
    layers = ["fc2", "fc1", "conv3", "conv2", "conv1"]

    def heat(draw, n=1):
        arrays = [smooth_map(rng) for _ in range(n)]
        return (draw, arrays, lambda a: [within_steps(x, 0.0, 1.0, rng) for x in a],
                lambda a: [colour_indices(x, 0.0, 1.0) for x in a])

    def by_extremes(draw, arrays, low_high):
        return (draw, arrays, lambda a: [within_steps(x, *low_high(x), rng) for x in a],
                lambda a: [colour_indices(x, *low_high(x)) for x in a])

    def sanity_values(a):  # as sanity_figure reads them: (steps, faces), the mean line and the min-max band
        return [snap(f(x.T, axis=1)) for x in a for f in (np.nanmean, np.nanmin, np.nanmax)]

    def curve_means(a):  # as curves_figure reads them: the mean over faces of each curve
        return [snap(np.mean(x, axis=0)) for x in a]

    limit = lambda x: (-round_scale(np.abs(x).max()), round_scale(np.abs(x).max()))  # noqa: E731  LIME's scale
    extremes = lambda x: (x.min(), x.max())  # noqa: E731  question 2's per-image stretch
    steps = 49
    decay = np.linspace(1, 0, steps)
    return {
        "saliency": heat(lambda a: saliency.saliency_figure(gray, a[0])),
        "methods": heat(lambda a: saliency.methods_figure(gray, a), n=4),
        "occlusion": heat(lambda a: explanations.occlusion_figure(gray, a[0], gray, (20, 30))),
        "lime": by_extremes(lambda a: explanations.lime_figure(gray, a[0], lime_rgb), [0.0137 * smooth_map(rng, signed=True)],
                            limit),
        "lime_std": (lambda a: trust.std_figure(a), [0.2837 * smooth_map(rng) for _ in range(7)],
                     lambda a: [within_steps(x, 0.0, round_scale(max(y.max() for y in a)), rng) for x in a],
                     lambda a: [colour_indices(x, 0.0, round_scale(max(y.max() for y in a))) for x in a]),
        "filters": by_extremes(lambda a: filters.grid_figure(np.stack(a), [str(k) for k in range(16)], "viridis"),
                               [smooth_map(rng, (24, 24), signed=True) for _ in range(16)], extremes),
        "pairs": by_extremes(lambda a: filters.pairs_figure(np.stack(a[:4]), np.stack(a[4:]), list("abcd")),
                             [smooth_map(rng, (24, 24), signed=True) for _ in range(8)], extremes),
        "sanity": (lambda a: trust.sanity_figure(layers, a[0].T, a[1].T, 0.5),
                   [smooth_map(rng, (faces, 6)) for _ in range(2)],
                   lambda a: [within_grid(x, rng) for x in a], sanity_values),
        "deletion_insertion": (
            lambda a: trust.curves_figure({m: {"deletion": np.mean(a[2 * k], axis=0),
                                               "insertion": np.mean(a[2 * k + 1], axis=0)}
                                           for k, m in enumerate("ABC")},
                                          {"deletion": np.mean(a[6], axis=0), "insertion": np.mean(a[7], axis=0)}),
            [np.clip(decay[None] ** rng.uniform(0.5, 3, (faces, 1)) + 0.02 * rng.standard_normal((faces, steps)),
                     0, 1) for _ in range(8)],
            lambda a: [within_grid(x, rng) for x in a], curve_means),
    }


def test_the_bytes_depend_on_the_quantised_values_alone():
    """Every value moved anywhere inside its own colour step or grid cell (far beyond float noise): the same PNG."""
    rng = np.random.default_rng(0)
    for name, (draw, arrays, moved, quantised) in figure_cases(rng).items():
        shifted = moved(arrays)
        assert all(np.array_equal(q, r) for q, r in zip(quantised(arrays), quantised(shifted))), name
        assert not all(np.array_equal(a, s) for a, s in zip(arrays, shifted)), name  # something really moved
        assert draw(shifted) == draw(arrays), name


def test_a_changed_step_changes_the_bytes():
    """The other way round: the quantiser hides nothing a reader should see. One pixel one step up: another PNG."""
    rng = np.random.default_rng(1)
    gray = rng.integers(0, 256, (48, 48)) / 255.0
    heatmap = smooth_map(rng)
    other = heatmap.copy()
    pixel = np.unravel_index(np.argmin(np.abs(heatmap - 0.5)), heatmap.shape)  # a mid-scale pixel: a step above it
    other[pixel] = (colour_indices(heatmap[pixel], 0, 1) + 1.5) / LEVELS
    assert colour_indices(other, 0, 1)[pixel] == colour_indices(heatmap, 0, 1)[pixel] + 1
    assert saliency.saliency_figure(gray, other) != saliency.saliency_figure(gray, heatmap)


def test_relative_noise_of_1e_6_changes_a_png_only_where_it_crosses_a_step():
    """maps * (1 + 1e-6 * noise) for every figure of the report (7 faces per curve figure). Whether a PNG keeps its
    bytes is decided by the quantised values alone: identical steps, identical bytes. A step boundary lies within
    1e-6 of a value for a fraction of about 2e-6 * v * LEVELS of the values, so a few of the ~60,000 values here may
    cross one; the test counts them and requires the bytes to change exactly for the figures where one did."""
    rng = np.random.default_rng(2)
    crossed, total = 0, 0
    for name, (draw, arrays, _, quantised) in figure_cases(rng, faces=7).items():
        noisy = [a * (1 + NOISE * rng.standard_normal(a.shape)) for a in arrays]
        changed = sum(int((q != r).sum()) for q, r in zip(quantised(arrays), quantised(noisy)))
        crossed, total = crossed + changed, total + sum(q.size for q in quantised(arrays))
        assert (draw(noisy) == draw(arrays)) == (changed == 0), (name, changed)
    # The chance per value is at most 2 * 1e-6 * LEVELS for maps, 2 * 1e-6 / CURVE_STEP for curves: here about 1e-4.
    assert crossed <= 4 * 2 * NOISE * max(LEVELS, 1 / CURVE_STEP) * total, (crossed, total)


# torch picks its CPU kernels at start-up; these choose others. Each sums in its own order, on every x86 CPU.
KERNELS = {"own": {}, "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
           "default": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "DEFAULT"}}
RAW_MAPS = """
import hashlib, sys, torch
sys.path.insert(0, sys.argv[1])
from conftest import tiny_model
from generator.data import synth
from generator.data.fer2013 import as_model_input
from generator.explain.saliency import saliency
images, _, _ = synth.render_dataset(5, range(7))
maps = saliency(tiny_model(), as_model_input(images), torch.arange(7))
print(torch.backends.cpu.get_cpu_capability(), hashlib.sha256(maps.tobytes()).hexdigest())
"""


def _raw_maps(kernels: dict) -> str:
    """The float32 saliency maps of the tiny CNN (not through load_model, so not in float64), hashed, in a fresh
    process with ``kernels`` in its environment."""
    run = subprocess.run([sys.executable, "-c", RAW_MAPS, str(Path(__file__).parent)], capture_output=True,
                         text=True, env=dict(os.environ, PYTHONPATH=str(ROOT), **kernels), timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_builds_under_three_kernel_choices_write_the_same_files(tmp_path):
    """The machine's own kernels, AVX2's and the plain ones: in float32 the raw maps differ in their last bits
    (checked first, in fresh processes), the site trees of three builds do not differ at all."""
    raw = {name: _raw_maps(kernels) for name, kernels in KERNELS.items()}
    if len({digest.split()[1] for digest in raw.values()}) == 1:
        pytest.skip(f"on this CPU every kernel choice gives the same float32 maps ({raw}): the builds test nothing")
    trees = {}
    for name, kernels in KERNELS.items():
        folder = tmp_path / name  # each its own project, so no build reads another's cache
        folder.mkdir()
        write_project(folder, **quick_tables(QUICK))
        result = run_cli(folder, "build", timeout=1800, **kernels)
        assert result.returncode == 0, result.stderr
        trees[name] = {path: data for path, (data, _) in snapshot(folder / "site_src").items()}
    own = trees.pop("own")
    assert sum(name.endswith(".png") for name in own) > 30 and any(name.startswith("handin") for name in own)
    for name, tree in trees.items():
        assert sorted(tree) == sorted(own), name
        assert [path for path in own if own[path] != tree[path]] == [], name
