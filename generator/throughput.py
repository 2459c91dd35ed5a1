"""This machine's speed with this model, measured right after the model check: the seconds per unit of each kind
of work a stage counts (``Cost`` in generator/estimate.py).

Every kind is timed the way the stages run it, after a warm-up run (the first call of a traced model, or of a new
batch shape, pays once for optimisation and memory). Its cost is about a dozen batches of 32 faces through the
model, forward or back, and a figure, plus imports the stages would pay anyway (question 2's optimiser, matplotlib).
"""
from __future__ import annotations

import statistics
import time
from typing import Callable

import numpy as np
import torch

from generator.config import Settings
from generator.costs import Rates
from generator.explain.filters import CHUNK, ascend, find_conv
from generator.models import layers
from generator.explain.occlusion import occlusion
from generator.explain.saliency import gradients

BATCH = 32     # faces per timed batch: the batch size of the predictions, LIME and deletion/insertion
REPEATS = 3    # timed batches after the warm-up; the median is kept, so one batch slowed by another job is not
SIZE = 48      # every method works on the 48x48 face


def _seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _median_seconds(run: Callable[[], object], warm_up: int = 1) -> float:
    for _ in range(warm_up):
        run()
    return statistics.median(_seconds(run) for _ in range(REPEATS))


def _slope(short: float, long: float, extra: int) -> float:
    """Seconds per unit from runs that differ by ``extra`` units; when noise makes the longer run no slower, the
    longer run's mean, which over-counts the setup rather than pretending the units are free."""
    return (long - short) / extra if long > short else long / extra


def measure(settings: Settings, model: torch.nn.Module, fast: torch.nn.Module) -> Rates:
    """Seconds per unit of each field of ``Cost``. The global random generator is left as it was."""
    with torch.random.fork_rng():
        faces = torch.rand(BATCH, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
        targets = torch.zeros(BATCH, dtype=torch.long)
        with torch.inference_mode():
            forward = _median_seconds(lambda: fast(faces), warm_up=2) / BATCH  # a trace optimises on its 2nd call
        gradient = _median_seconds(lambda: gradients(model, faces, targets)) / BATCH
        run_seconds, position_seconds = _occlusion(settings, model, fast)
        return Rates(forward, gradient, _ascent_step(settings, model), run_seconds, position_seconds, _panel())


def _ascent_step(settings: Settings, model: torch.nn.Module) -> float:
    """Seconds per filter-step of question 2's ascent: one chunk of filters ascends 1 and 5 steps (the median of
    3 runs each, as a single run of a few steps was seen twice as slow as the rest); the difference leaves out what
    a run sets up once."""
    _, layer = find_conv(model, settings.filters.layer, settings.where("filters.layer"))
    filters = range(min(CHUNK, layers.filter_count(model, layer)))

    def run(steps: int) -> None:
        ascend(model, layer, filters, steps=steps, seed=settings.seed)

    run(1)  # warm-up
    return _slope(_median_seconds(lambda: run(1), warm_up=0), _median_seconds(lambda: run(5), warm_up=0), 4) \
        / len(filters)


def _occlusion(settings: Settings, model: torch.nn.Module, fast: torch.nn.Module) -> tuple[float, float]:
    """(seconds per occlusion run, seconds per box position), on the path question 4 takes for this model
    (incremental or batched): a run on 16 positions (stride 12) after a warm-up run, and one on 144 (stride 4).
    Each run sets up its path and its unoccluded face first, which on a small model costs more than 16 positions:
    hence two runs far apart, rather than one run divided by its positions."""
    face = np.random.default_rng(0).random((SIZE, SIZE))
    box, fill = settings.occlusion.box, settings.occlusion.fill

    def run(stride: int) -> float:
        return _seconds(lambda: occlusion(model, face, 0, box=box, stride=stride, fill=fill, batched_model=fast))

    few, many = len(range(0, SIZE, 12)) ** 2, len(range(0, SIZE, 4)) ** 2
    run(12)  # warm-up
    short, long = run(12), run(4)
    per_position = _slope(short, long, many - few)
    return max(short - few * per_position, 0.0), per_position


def _panel() -> float:
    """Seconds per figure panel: question 1's saliency figure (face, map, overlay, and a colour bar), drawn once
    to load fonts and colour maps, then the median of 3 draws."""
    from generator.figures.saliency import saliency_figure
    rng = np.random.default_rng(0)
    gray, heatmap = rng.random((SIZE, SIZE)), rng.random((SIZE, SIZE))
    return _median_seconds(lambda: saliency_figure(gray, heatmap)) / 3
