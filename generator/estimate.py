"""Know the cost before waiting for it: each stage's time on this machine, said before the stage runs.

Each stage counts the work it will do from the settings (its ``cost``, see generator/stages.py) in a few kinds of
pass (``Cost``); generator/throughput.py times each kind on this machine with this model (``Rates``); a stage's
estimate is the counts times the seconds per pass. With the estimate comes the one coarser setting of ``CUTS`` that
would save the most time, as a ``--set`` to paste. benchmarks/builds.py compares the estimate with the measured
stage times of a cold demo build.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable

from generator.config import Settings
from generator.costs import Cost, Rates
from generator.throughput import measure
from generator.stages import stage_module, stage_title

PREDICTIONS = "validation predictions and image set"  # the step before the stages, as the timing summary names it

# Coarser settings a student may accept for a faster build, each with what it gives up. The estimate offers the one
# that saves the most, and only a value below the current one (a larger stride): never a finer report.
CUTS = (
    ("trust", "lime_seeds", 3),                 # LIME's stability score from 3 runs per face, not 10
    ("occlusion", "stride", 2),                 # the occlusion heatmap on every other pixel
    ("lime", "num_samples", 500),               # LIME's surrogate fitted on half as many perturbed faces
    ("attribution", "ig_steps", 25),            # Integrated Gradients' integral on a coarser grid
    ("attribution", "smoothgrad_samples", 10),  # SmoothGrad's mean over fewer noisy copies
    ("trust", "sanity_occlusion_stride", 12),   # occlusion on a coarser grid in the randomisation check
    ("filters", "steps", 50),                   # question 2's ascent stops halfway
)
MIN_SAVING = 0.25  # a cut that saves less than a quarter of the build is not worth a coarser report


def stage_seconds(settings: Settings, model, rates: Rates, stages: Iterable[str], faces: int,
                  data_faces: int = 0) -> dict[str, float]:
    """Estimated seconds of each step, under its name in the timing summary: the predictions on ``data_faces``
    faces (when they are not cached, else 0), then each stage of ``stages`` on ``faces`` faces."""
    out = {PREDICTIONS: rates.seconds(Cost(forward=data_faces))} if data_faces else {}
    for name in stages:
        out[stage_title(name)] = rates.seconds(stage_module(name).cost(settings, faces, model))
    return out


def with_setting(settings: Settings, section: str, key: str, value) -> Settings:
    return replace(settings, **{section: replace(getattr(settings, section), **{key: value})})


def best_cut(settings: Settings, model, rates: Rates, pending: list[str], run: list[str], faces: int,
             data_faces: int = 0) -> tuple[str, float] | None:
    """The cut of ``CUTS`` that saves the most: (``section.key=value``, the estimated total with it), or None when
    none saves ``MIN_SAVING`` of the total. ``pending``: the stages this build computes; ``run``: all it runs. A
    changed setting also recomputes every stage of ``run`` that reads its section, cached or not."""
    total = sum(stage_seconds(settings, model, rates, pending, faces, data_faces).values())
    best = None
    for section, key, value in CUTS:
        stages = [name for name in run if name in pending or section in stage_module(name).READS]
        cheaper = with_setting(settings, section, key, value)
        seconds = sum(stage_seconds(cheaper, model, rates, stages, faces, data_faces).values())
        if seconds <= total * (1 - MIN_SAVING) and (best is None or seconds < best[1]):
            best = (f"{section}.{key}={value}", seconds)
    return best


def duration(seconds: float) -> str:
    """``about 40 s``, ``about 19 min``, ``about 2.5 h``."""
    if seconds < 90:
        return f"about {max(1, round(seconds))} s"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def estimate_lines(seconds: dict[str, float], rates: Rates, cut: tuple[str, float] | None) -> list[str]:
    """What the build says: one line per step (laid out like the timing summary at the end, so the two compare
    line by line), then the total with the cut."""
    lines = [f"estimated time on this machine (one face: {rates.forward * 1e3:.2g} ms forward, "
             f"{rates.gradient * 1e3:.2g} ms with its input gradient):"]
    lines += [f"~{value:7.1f} s  {name}" for name, value in seconds.items()]
    total = f"{duration(sum(seconds.values()))} on this machine"
    lines.append(f"{total}; --set {cut[0]} brings it to {duration(cut[1])}" if cut else total)
    return lines


def announce(settings: Settings, model, fast, pending: list[str], run: list[str], faces: int, data_faces: int,
             progress: Callable[[str], None]) -> dict[str, float]:
    """Measure this machine's speed with the model, then say the estimate of ``pending`` (and of the predictions
    on ``data_faces`` faces) through ``progress``. Returns the estimated seconds of each step."""
    rates = measure(settings, model, fast)
    seconds = stage_seconds(settings, model, rates, pending, faces, data_faces)
    for line in estimate_lines(seconds, rates, best_cut(settings, model, rates, pending, run, faces, data_faces)):
        progress(line)
    return seconds
