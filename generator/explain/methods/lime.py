"""LIME (Ribeiro et al., 2016) with the ``lime`` package, seeded, its samples built in one array operation
(generator/explain/lime_explain.py). The map is each superpixel's surrogate weight."""
from __future__ import annotations

import numpy as np

from generator.explain.lime_explain import explain
from generator.explain.methods.base import SURROGATE, Method, Passes


class Lime(Method):
    key, name, kind, section = "lime", "LIME", SURROGATE, "lime"
    seeded = True
    report_faces_only = True

    def passes(self, settings) -> Passes:
        return Passes(forward=settings.lime.num_samples + 1)  # its perturbed faces and the face itself

    def run(self, model, face: np.ndarray, target: int, settings, seed: int):
        """The whole result of one face (48, 48) in [0, 1]: superpixels, weights, the surrogate's fit."""
        s = settings.lime
        return explain(model, face, target, seed=seed, num_samples=s.num_samples, segments=s.segments,
                       compactness=s.compactness, batch_size=s.batch_size)

    def attribute(self, model, faces, targets, settings, seed):
        """Face k is explained with seed ``seed + k`` (question 3's seeds), or its own seed from a list."""
        seeds = [seed + k for k in range(len(faces))] if isinstance(seed, (int, np.integer)) else list(seed)
        return np.stack([self.run(model, f, int(t), settings, int(s)).weight_map()
                         for f, t, s in zip(faces[:, 0].numpy().astype(np.float64), targets.tolist(), seeds)]) \
            if len(faces) else np.zeros((0, 48, 48))
