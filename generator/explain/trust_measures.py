"""The per-face measurements behind the trust page, on any set of faces: the maps of the methods, the pixel orders
of deletion and insertion, and the scores against the synthetic faces' ground truth. One value per face and
method, so generator/explain/scoring.py can give each mean its interval and compare methods face by face.
"""
from __future__ import annotations

import numpy as np
import torch

from generator.config import OcclusionSettings
from generator.data import synth
from generator.explain import faithfulness as faith
from generator.explain import groundtruth as gt
from generator.explain.occlusion import occlusion
from generator.explain.saliency import normalise

CHUNK = 16  # faces per gradient batch: SmoothGrad's 25 noisy copies of 16 faces keep memory flat for any set
PIXELS = 48 * 48
# A box that changes P(class) by less than this changes nothing measurable: its drop counts as 0. Without the floor,
# a box that leaves the image as it was (white on white) would give a drop of float noise, positive or not, and
# the ties among a map's zeros (which Spearman's rho ranks) would follow the CPU's kernels. A map whose every
# drop is below it is flat (all 0): with every layer random, a model can hardly care where the box is.
NO_MEASURABLE_DROP = 1e-6


def occlusion_importance(heatmap: np.ndarray, baseline: float, size: int = 48) -> np.ndarray:
    """How much the box at each position lowers P(class), on the 48x48 grid (nearest for a coarse stride)."""
    drop = np.asarray(baseline - heatmap, np.float64)
    drop = np.where(drop < NO_MEASURABLE_DROP, 0.0, drop)
    count = heatmap.shape[0]
    stride = -(-size // count)  # the box centres are 0, stride, 2 * stride, ...
    index = np.minimum((np.arange(size) + stride // 2) // stride, count - 1)  # each pixel's nearest centre
    return drop[np.ix_(index, index)]


def occlusion_method(settings: OcclusionSettings, stride: int):
    """Occlusion as f(model, images, targets) -> maps, on a coarser grid than question 4's (its cost grows with the
    faces and, in the randomisation check, with the layers)."""
    def method(model, images, targets):
        maps = []
        for face, target in zip(images[:, 0].numpy(), targets.tolist()):
            r = occlusion(model, face, target, box=settings.box, stride=stride, fill=settings.fill)
            maps.append(occlusion_importance(r.heatmap, r.baseline))
        return normalise(np.stack(maps)) if maps else np.zeros((0, 48, 48))
    return method


def chunked(method, size: int = CHUNK):
    """``method`` run on ``size`` faces at a time: the same maps (every face is its own problem), bounded memory."""
    def run(model, images, targets):
        parts = [method(model, images[k:k + size], targets[k:k + size]) for k in range(0, len(images), size)]
        return np.concatenate(parts) if parts else np.zeros((0, *images.shape[2:]))
    return run


def method_orders(maps: dict, methods, seed: int) -> np.ndarray:
    """(faces, methods, pixels): each face's pixel order under each method's map, ties in a seeded order."""
    faces = len(maps[methods[0]]) if methods else 0
    return np.array([[faith.pixel_order(maps[m][k], seed) for m in methods] for k in range(faces)],
                    dtype=np.int64).reshape(faces, len(methods), PIXELS)


def random_orders(faces: int, count: int, seed: int) -> np.ndarray:
    """(faces, count, pixels): ``count`` random pixel orders per face, each from its own seeded generator."""
    return np.array([[np.random.default_rng([seed, k, j]).permutation(PIXELS) for j in range(count)]
                     for k in range(faces)], dtype=np.int64).reshape(faces, count, PIXELS)


def aucs(curves: np.ndarray) -> np.ndarray:
    """The trapezoid area under each curve of the last axis (faithfulness.auc, for many curves at once)."""
    return np.trapezoid(curves, dx=1.0 / (curves.shape[-1] - 1), axis=-1)


def ground_truth(model: torch.nn.Module, synthetic_seed: int, rows, targets, masks: np.ndarray, maps: dict) -> dict:
    """method -> {"rma", "chance", "rma_lift", "hits", "pointing_lift", "agreement"}: one value per face, NaN on a
    face without decisive parts (neutral) and, for the part check, where the map or the drops are flat. Each face
    is scored against its own part masks; its part check re-renders it with each part neutral in turn."""
    faces = len(targets)
    expressive = [k for k in range(faces) if synth.DECISIVE_PARTS[int(targets[k])]]
    drops = {k: gt.part_drops(model, synthetic_seed, int(rows[k]), int(targets[k])) for k in expressive}
    decisive = {k: gt.decisive_mask(masks[k], int(targets[k])) for k in expressive}
    out = {}
    for m, method_maps in maps.items():
        scores = {key: np.full(faces, np.nan) for key in ("rma", "chance", "hits", "agreement")}
        for k in expressive:
            scores["rma"][k] = gt.relevance_mass_accuracy(method_maps[k], decisive[k])
            scores["chance"][k] = float(decisive[k].mean())
            scores["hits"][k] = float(gt.pointing_hit(method_maps[k], decisive[k]))
            agreement = gt.part_rank_agreement(method_maps[k], masks[k], drops[k])
            scores["agreement"][k] = np.nan if agreement is None else agreement
        with np.errstate(invalid="ignore", divide="ignore"):  # NaN stays NaN: a face left out
            scores["rma_lift"] = scores["rma"] / scores["chance"]
            scores["pointing_lift"] = scores["hits"] / scores["chance"]
        out[m] = scores
    return out
