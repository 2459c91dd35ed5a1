"""Class averages: what each gradient method shows over many faces of a class, not over one.

FER2013 faces are roughly aligned, so the mean of one method's maps over a class's faces shows what the model uses
for that class, where one face is an anecdote. Only correctly classified validation faces enter: a map of a face
the model gets wrong explains a mistake, not the class. Each face's map is scaled to [0, 1] by its own maximum (as
every map of question 1 is) before the mean, so every face weighs the same however steep its gradients are.

Where a part of the face is densest is measured face by face, each face with its own part map (the synthetic
faces' masks, or the template of generator/explain/regions.py for real faces), then averaged over the faces with a
95% bootstrap interval (generator/explain/evidence.py). Whether the two densest parts can be told apart is a
paired difference over the same faces.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch

from generator.data.fer2013 import as_model_input
from generator.explain.evidence import Estimate, interval, paired_difference
from generator.explain.regions import PARTS_OF_FACE, region_mass, template_parts

# Images in one backward pass: SmoothGrad's noisy copies count each, so a batch of faces stays within the memory
# that question 1's seven faces took before (7 faces x 25 copies).
IMAGES_PER_PASS = 200


def face_seeds(seed: int, rows: Iterable[int]) -> list[int]:
    """SmoothGrad's noise seed of each face, from the build's seed and the face's data row: a face's map is the
    same in any batch and in any selection."""
    return [int(np.random.SeedSequence([seed, int(row)]).generate_state(1)[0]) for row in rows]


def _batches(total: int, size: int) -> Iterable[slice]:
    return (slice(k, min(k + size, total)) for k in range(0, total, size))


MethodsFor = Callable[[list[int]], dict]  # SmoothGrad's seeds of a batch -> the methods, f(model, x, targets)


def face_maps(model: torch.nn.Module, methods_for: MethodsFor, faces: np.ndarray, targets: np.ndarray,
              seeds: list[int], samples: int, tick: Callable[[int], None] = lambda _: None) -> dict[str, np.ndarray]:
    """Every method's map of every face, (N, 48, 48) in [0, 1], batched across faces. ``faces``: uint8 (N, 48, 48);
    ``samples``: SmoothGrad's copies per face, which set how many faces share a backward pass. ``tick(done)``
    reports the faces done."""
    size = max(1, IMAGES_PER_PASS // max(samples, 1))
    out: dict[str, list[np.ndarray]] = {}
    for part in _batches(len(faces), size):
        x, t = as_model_input(faces[part]), torch.from_numpy(np.asarray(targets[part], np.int64))
        for name, method in methods_for(seeds[part]).items():
            out.setdefault(name, []).append(method(model, x, t))
        tick(part.stop)
    return {name: np.concatenate(maps) for name, maps in out.items()}


def part_lifts(maps: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """(N, 4): each face's lift of each face part (PARTS_OF_FACE order), with that face's own part map. Lift is
    the part's share of the map's mass over its share of the pixels; NaN where a face lacks the part or its map is
    all zero, so that face is left out of that part's mean."""
    lifts = np.full((len(maps), len(PARTS_OF_FACE)), np.nan)
    for i, (heatmap, part_map) in enumerate(zip(maps, parts)):
        mass = region_mass(heatmap, part_map)
        if heatmap.sum() > 0:
            lifts[i] = [mass.lift(p) if mass.area[p] > 0 else np.nan for p in PARTS_OF_FACE]
    return lifts


@dataclass(frozen=True)
class Densest:
    """The face part with the highest mean lift over a class's faces, the runner-up, and whether they differ."""
    lifts: dict              # part -> Estimate of its mean lift
    top: str
    second: str
    difference: Estimate     # top minus second, face by face over the faces that have both

    @property
    def apart(self) -> bool:
        """True when the interval of the paired difference excludes 0: the two parts can be told apart. One face
        tells nothing (its "interval" is its own value), so that takes two faces at least."""
        return self.difference.n >= 2 and self.difference.excludes(0.0)

    def as_dict(self) -> dict:
        return {"top": self.top, "second": self.second, "lift": self.lifts[self.top].as_dict(),
                "second_lift": self.lifts[self.second].as_dict(), "difference": self.difference.as_dict(),
                "apart": self.apart}


def densest(lifts: np.ndarray, seed: int) -> Densest:
    """The densest part of ``lifts`` (N, 4) by mean lift, with intervals; ties go to the earlier part."""
    estimates = {p: interval(lifts[:, k], seed) for k, p in enumerate(PARTS_OF_FACE)}
    ranked = sorted(PARTS_OF_FACE, key=lambda p: (-np.nan_to_num(estimates[p].mean, nan=-np.inf),
                                                  PARTS_OF_FACE.index(p)))
    top, second = ranked[0], ranked[1]
    a, b = lifts[:, PARTS_OF_FACE.index(top)], lifts[:, PARTS_OF_FACE.index(second)]
    both = np.isfinite(a) & np.isfinite(b)
    return Densest(estimates, top, second, paired_difference(a[both], b[both], seed))


@dataclass(frozen=True)
class ClassAverage:
    cls: int
    rows: np.ndarray        # data rows of the faces averaged
    available: int          # correctly classified validation faces of the class (the faces chosen from)
    mean_face: np.ndarray   # (48, 48) in [0, 1]
    maps: dict              # method -> (48, 48): the mean of the faces' [0, 1] maps
    densest: dict           # method -> Densest

    @property
    def n(self) -> int:
        return len(self.rows)


def class_averages(model: torch.nn.Module, methods_for: MethodsFor, images: np.ndarray, rows: np.ndarray,
                   parts: np.ndarray | None, chosen: list[np.ndarray], available: list[int], seed: int,
                   samples: int, tick: Callable[[int, int], None] = lambda done, total: None
                   ) -> tuple[list[ClassAverage], dict[str, np.ndarray]]:
    """The class average of every class, and every method's map of each face averaged (method -> (N, 48, 48), in
    the order of ``chosen``, class by class: the trust stage scores the same maps). ``chosen[c]`` holds the dataset
    positions of class c's faces (the evaluation set's: generator/evaluation.py), ``parts`` the part maps of every dataset face, or None (real
    faces: ``template`` parts)."""
    everyone = np.concatenate(chosen).astype(np.int64)
    targets = np.concatenate([np.full(len(p), c) for c, p in enumerate(chosen)])
    maps = face_maps(model, methods_for, images[everyone], targets, face_seeds(seed, rows[everyone]), samples,
                     lambda done: tick(done, len(everyone)))
    face_parts = parts[everyone] if parts is not None else np.broadcast_to(template_parts(), (len(everyone), 48, 48))
    out, start = [], 0
    for c, positions in enumerate(chosen):
        mine = slice(start, start + len(positions))
        start = mine.stop
        faces = images[positions].astype(np.float64) / 255.0
        mean_face = faces.mean(axis=0) if len(positions) else np.zeros((48, 48))
        averages = {name: (m[mine].mean(axis=0) if len(positions) else np.zeros((48, 48))) for name, m in maps.items()}
        tops = {name: densest(part_lifts(m[mine], face_parts[mine]), seed) for name, m in maps.items()}
        out.append(ClassAverage(c, rows[positions], available[c], mean_face, averages, tops))
    return out, maps
