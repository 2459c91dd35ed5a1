"""The shape every stage has, and the loop that runs the stage table (generator/questions/__init__.py).

A stage is a module of generator/questions that declares:

    TITLE = "saliency and gradient methods"    # the progress line and the timing summary: "q1 saliency and ..."
    READS = ("attribution",)                   # the settings sections it reads: part of its cache key
    def analyse(inputs: StageInputs) -> Result            # numbers only: no drawing, no disk
    def figures(inputs: StageInputs, result) -> dict      # path in site_src -> PNG bytes
    def context(inputs: StageInputs, result) -> dict      # plain data for the page templates
    def cost(settings, faces: int, model) -> Cost         # the passes analyse and figures will run, counted from
                                                          # the settings: generator/estimate.py times them

Its key in the table (``q1``) names its cache entries, its ``--only`` choice, its page (``q1.md``) and its figure
folder (``figures/q1/``). A stage reads the results of the stages before it from ``inputs.results``. A long loop
reports ``inputs.progress.count(name, done, total)`` (generator/progress.py).
"""
from __future__ import annotations

import importlib
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import torch

from generator.config import Settings, as_table
from generator.evaluation import EvaluationSet
from generator.imageset import ImageSet
from generator.inputs import DataInputs
from generator.progress import Progress
from generator.questions import STAGES
from generator.store import Store


@dataclass(frozen=True)
class StageInputs:
    """What every stage may read. The seven faces are one per class, in class order."""
    settings: Settings
    model: torch.nn.Module     # the eager model: gradients, hooks, randomised copies, incremental occlusion
    fast: torch.nn.Module      # the fast inference path, on the chosen device: every forward-only step
    data: DataInputs
    images: ImageSet
    faces: np.ndarray          # (7, 48, 48) uint8
    masks: np.ndarray | None   # (7, 48, 48) part masks of synthetic faces; None for real faces
    parts: np.ndarray          # the masks, or the template of face parts for each real face
    probabilities: np.ndarray  # (N, 7) class probabilities of every loaded face
    progress: Progress = field(default_factory=Progress)
    results: dict = field(default_factory=dict)  # stage key -> result of the stages run before
    # The trust page's evaluation set: many correctly classified validation faces per class (generator/evaluation.py)
    evaluation: EvaluationSet | None = None

    @property
    def targets(self) -> np.ndarray:
        return self.images.targets

    @property
    def rows(self) -> np.ndarray:
        return self.images.rows


def stage_module(key: str) -> ModuleType:
    """Imported when the build runs it: the stages pull in lime, scikit-learn and matplotlib."""
    return importlib.import_module(f"generator.questions.{key}")


class Timer:
    def __init__(self, progress):
        self.stages: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str, announce: bool = True):
        if announce:
            self.progress(f"{name}...")
        start = time.perf_counter()
        yield
        self.stages[name] = time.perf_counter() - start


def stage_names(only: str | None = None) -> list[str]:
    """The stages a build runs, in order: the table's, or ``only`` alone (it reads no other stage's result)."""
    return [only] if only else list(STAGES)


def stage_title(name: str) -> str:
    """The stage's progress line and its name in the timing summary: ``q1 saliency and gradient methods``."""
    return f"{name} {stage_module(name).TITLE}".rstrip()


def stage_parts(name: str, settings: Settings, key: dict) -> dict:
    """What the stage's cache entry depends on: ``key`` and the settings sections the stage reads."""
    return dict(key, **{section: as_table(getattr(settings, section)) for section in stage_module(name).READS})


def pending_stages(settings: Settings, store: Store, key: dict, only: str | None = None) -> list[str]:
    """The stages the store cannot give: those the build will compute."""
    return [name for name in stage_names(only) if not store.has(name, stage_parts(name, settings, key))]


def run_stages(inputs: StageInputs, store: Store, key: dict, timer: Timer, only: str | None = None) -> dict:
    """Run the table's stages in order, each from the store when its key matches. Fills ``inputs.results`` and
    returns the figures of every stage run. ``only``: that stage alone (it reads no other stage's result)."""
    files: dict[str, bytes] = {}
    for name in stage_names(only):
        stage = stage_module(name)
        parts = stage_parts(name, inputs.settings, key)

        def compute(stage=stage):
            result = stage.analyse(inputs)
            return result, stage.figures(inputs, result)

        with timer.stage(stage_title(name)):
            inputs.results[name], figures = store.run(name, parts, compute)
        files.update(figures)
    return files


def stage_contexts(inputs: StageInputs) -> dict:
    """Each stage's page context, under its key."""
    return {name: stage_module(name).context(inputs, result) for name, result in inputs.results.items()}
