"""The per-face measurements behind the trust page, on any set of faces: the maps of the methods, the pixel orders
of deletion and insertion, and the scores against the synthetic faces' ground truth. One value per face and
method, so generator/explain/scoring.py can give each mean its interval and compare methods face by face.
"""
from __future__ import annotations

import numpy as np
import torch

from generator.data import synth
from generator.explain import faithfulness as faith
from generator.explain import groundtruth as gt

CHUNK = 16  # faces per gradient batch: SmoothGrad's 25 noisy copies of 16 faces keep memory flat for any set
PIXELS = 48 * 48


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
