"""Occlusion: a box slides over the face; the map is how much the box lowers P(class) at each position. The
incremental path (generator/explain/occlusion_incremental.py) is chosen inside ``occlusion`` for the CNNs it
covers."""
from __future__ import annotations

import numpy as np

from generator.explain.methods.base import PERTURBATION, Method, Passes
from generator.explain.occlusion import occlusion
from generator.explain.saliency import normalise

# A box that changes P(class) by less than this changes nothing measurable: its drop counts as 0. Without the floor,
# a box that leaves the image as it was (white on white) would give a drop of float noise, positive or not, and
# the ties among a map's zeros (which Spearman's rho ranks) would follow the CPU's kernels. A map whose every
# drop is below it is flat (all 0): with every layer random, a model can hardly care where the box is.
NO_MEASURABLE_DROP = 1e-6


def positions(stride: int, size: int = 48) -> int:
    """Box positions on one face: every ``stride``-th pixel from 0, in both directions."""
    return len(range(0, size, stride)) ** 2


def occlusion_importance(heatmap: np.ndarray, baseline: float, size: int = 48) -> np.ndarray:
    """How much the box at each position lowers P(class), on the 48x48 grid (nearest for a coarse stride)."""
    drop = np.asarray(baseline - heatmap, np.float64)
    drop = np.where(drop < NO_MEASURABLE_DROP, 0.0, drop)
    count = heatmap.shape[0]
    stride = -(-size // count)  # the box centres are 0, stride, 2 * stride, ...
    index = np.minimum((np.arange(size) + stride // 2) // stride, count - 1)  # each pixel's nearest centre
    return drop[np.ix_(index, index)]


class Occlusion(Method):
    key, name, kind, section = "occlusion", "Occlusion", PERTURBATION, "occlusion"

    def passes(self, settings) -> Passes:
        return Passes(occlusion_runs=1, occlusion_positions=positions(settings.occlusion.stride))

    def run(self, model, face: np.ndarray, target: int, settings, batched_model=None):
        """The whole result of one face (48, 48) in [0, 1]: heatmap, the probability without a box, the worst box."""
        o = settings.occlusion
        return occlusion(model, face, target, box=o.box, stride=o.stride, fill=o.fill, batched_model=batched_model)

    def attribute(self, model, faces, targets, settings, seed):
        maps = []
        for face, target in zip(faces[:, 0].numpy(), targets.tolist()):
            r = self.run(model, face, target, settings)
            maps.append(occlusion_importance(r.heatmap, r.baseline))
        return normalise(np.stack(maps)) if maps else np.zeros((0, 48, 48))

    def for_trust(self, settings):
        """A coarser grid than question 4's: its cost grows with the faces and, in the randomisation check, with
        the layers."""
        from dataclasses import replace
        return replace(settings, occlusion=replace(settings.occlusion, stride=settings.trust.sanity_occlusion_stride))
