"""Where saliency mass falls: face parts from the synthetic masks, or a fixed template for aligned real faces.

FER2013 faces are roughly aligned and centred, so a fixed template of rectangles (rows and columns of a 48x48
image) places the parts well enough to say which region holds the mass. The template is a coarse prior, and the
report says so when it is used.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.data.synth import PART_ID

PARTS_OF_FACE = ("brows", "eyes", "nose", "mouth")
REGIONS = (*PARTS_OF_FACE, "face", "background")
# (row start, row end, column start, column end) on an aligned 48x48 FER2013 face.
TEMPLATE = {"brows": (9, 16, 6, 42), "eyes": (16, 24, 6, 42), "nose": (24, 33, 16, 32), "mouth": (33, 43, 12, 36)}


def template_parts() -> np.ndarray:
    """A part label map (48, 48) with the ids of ``generator.data.synth.PARTS``."""
    labels = np.full((48, 48), PART_ID["background"], np.uint8)
    labels[4:46, 4:44] = PART_ID["face"]
    for part, (r0, r1, c0, c1) in TEMPLATE.items():
        labels[r0:r1, c0:c1] = PART_ID[part]
    return labels


@dataclass(frozen=True)
class RegionMass:
    share: dict   # region -> fraction of the map's total mass inside it
    area: dict    # region -> fraction of the image's pixels it covers
    top: str      # the face part (brows, eyes, nose, mouth) with the highest lift: mass per pixel, not raw mass,
                  # since the rest of the face and the background are large and would win by area alone

    def lift(self, region: str) -> float:
        """How many times more mass the region holds than its area would give a uniform map."""
        return self.share[region] / self.area[region] if self.area[region] else 0.0


def region_mass(heatmap: np.ndarray, parts: np.ndarray) -> RegionMass:
    total = float(heatmap.sum())
    share, area = {}, {}
    for region in REGIONS:
        inside = parts == PART_ID[region]
        share[region] = float(heatmap[inside].sum()) / total if total > 0 else 0.0
        area[region] = float(inside.mean())
    top = max(PARTS_OF_FACE, key=lambda r: (share[r] / area[r] if area[r] else 0.0))
    return RegionMass(share, area, top)
