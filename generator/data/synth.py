"""Procedural FER-format faces with known ground truth.

Each face is drawn from signed-distance shapes in face-local coordinates (the face spans roughly [-1, 1]),
then posed, lit and noised. An expression is a small vector of facial-action parameters (brows raised or
drawn together, eyes wide or narrowed, lip corners up or down, mouth open, nose wrinkled); each class is a
prototype of that vector, scaled by a per-image intensity and blurred by per-image jitter, so that neighbouring
classes (fear/surprise, sad/angry) overlap as they do in FER2013.

Every image is generated from its own seed ``(seed, index)``, so any subset renders on its own and the same seed
always gives the same bytes. Every image also comes with a label map of its parts, and can be re-rendered with one
part made neutral: the ground truth the trust page scores explanations against.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

SIZE = 48
PARTS = ("background", "face", "brows", "eyes", "nose", "mouth")
PART_ID = {name: i for i, name in enumerate(PARTS)}

# Expression parameters, and which part of the face each one moves.
PARAM_PART = {
    "brow_raise": "brows", "brow_inner": "brows", "brow_together": "brows",
    "eye_open": "eyes",
    "nose_wrinkle": "nose",
    "mouth_curve": "mouth", "mouth_open": "mouth", "mouth_width": "mouth", "upper_lip": "mouth", "teeth": "mouth",
}
PARAMS = tuple(PARAM_PART)

# Class prototypes, in FER2013 order: 0 angry, 1 disgust, 2 fear, 3 happy, 4 sad, 5 surprise, 6 neutral.
PROTOTYPES = (
    {"brow_raise": -0.07, "brow_inner": -0.13, "brow_together": 0.06, "eye_open": -0.3, "mouth_curve": -0.04,
     "mouth_width": -0.06},
    {"brow_raise": -0.05, "brow_inner": -0.05, "eye_open": -0.35, "nose_wrinkle": 1.0, "upper_lip": 0.09,
     "mouth_curve": -0.07, "mouth_open": 0.05},
    {"brow_raise": 0.09, "brow_inner": 0.08, "brow_together": 0.05, "eye_open": 0.5, "mouth_width": 0.1,
     "mouth_open": 0.12, "mouth_curve": -0.04},
    {"eye_open": -0.2, "mouth_curve": 0.13, "mouth_width": 0.08, "mouth_open": 0.08, "teeth": 1.0},
    {"brow_inner": 0.12, "eye_open": -0.25, "mouth_curve": -0.1, "mouth_width": -0.03},
    {"brow_raise": 0.14, "eye_open": 0.6, "mouth_open": 0.28, "mouth_width": -0.1},
    {},
)
# The parts that carry each class's prototype: what an explanation should point at.
DECISIVE_PARTS = tuple(
    tuple(sorted({PARAM_PART[p] for p in proto}, key=PARTS.index)) for proto in PROTOTYPES
)


@dataclass(frozen=True)
class FaceSpec:
    """Everything that decides one image. Rendering is a pure function of it."""
    label: int
    expression: dict          # parameter -> value, already scaled by intensity and jittered
    identity: dict            # face shape, skin, features, hair
    pose: tuple               # (dx, dy, scale_px, angle_rad)
    light: tuple              # (background, gradient, gain)
    noise_seed: int
    noise_sigma: float


def make_spec(seed: int, index: int, label: int | None = None) -> FaceSpec:
    """The spec of image ``index`` of the dataset with ``seed``; its class is ``index % 7`` unless given."""
    rng = np.random.default_rng([seed, index])
    label = index % 7 if label is None else label
    intensity = rng.uniform(0.3, 1.0)
    proto = PROTOTYPES[label]
    jitter = {"brow_raise": 0.035, "brow_inner": 0.04, "brow_together": 0.02, "eye_open": 0.12,
              "nose_wrinkle": 0.12, "mouth_curve": 0.035, "mouth_open": 0.04, "mouth_width": 0.04,
              "upper_lip": 0.02, "teeth": 0.1}
    expression = {p: intensity * proto.get(p, 0.0) + rng.normal(0, jitter[p]) for p in PARAMS}
    for p in ("nose_wrinkle", "mouth_open", "teeth", "upper_lip"):
        expression[p] = max(0.0, expression[p])
    identity = {
        "face_a": rng.uniform(0.78, 0.95), "face_b": rng.uniform(1.05, 1.22), "skin": rng.uniform(0.45, 0.8),
        "eye_x": rng.uniform(0.3, 0.4), "eye_y": rng.uniform(-0.28, -0.16), "eye_w": rng.uniform(0.13, 0.18),
        "eye_h": rng.uniform(0.06, 0.085), "brow_gap": rng.uniform(0.16, 0.24), "brow_t": rng.uniform(0.035, 0.06),
        "brow_dark": rng.uniform(0.2, 0.5), "mouth_y": rng.uniform(0.5, 0.62), "mouth_w": rng.uniform(0.28, 0.36),
        "hair": rng.uniform(0.05, 0.35), "hair_line": rng.uniform(-0.95, -0.7), "has_hair": rng.uniform() < 0.8,
    }
    pose = (rng.normal(0, 1.2), rng.normal(0, 1.2), rng.uniform(17.0, 20.5), rng.normal(0, 0.07))
    light = (rng.uniform(0.05, 0.9), rng.uniform(-0.35, 0.35), rng.uniform(0.8, 1.15))
    return FaceSpec(label, expression, identity, pose, light, int(rng.integers(2**31)), rng.uniform(0.01, 0.05))


def neutralised(spec: FaceSpec, parts) -> FaceSpec:
    """The same face with the expression of the given parts set to neutral (identity, pose, light, noise kept)."""
    expression = {p: (0.0 if PARAM_PART[p] in parts else v) for p, v in spec.expression.items()}
    return replace(spec, expression=expression)


def _local_coords(pose):
    dx, dy, scale, angle = pose
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    x, y = (xs - SIZE / 2 - dx) / scale, (ys - SIZE / 2 - 1.5 - dy) / scale
    c, s = np.cos(angle), np.sin(angle)
    return c * x + s * y, -s * x + c * y


def _cover(d, scale):
    """Anti-aliased coverage of the shape whose signed distance (local units) is ``d``: one pixel of ramp."""
    return np.clip(0.5 - d * scale, 0.0, 1.0)


def _ellipse(u, v, cu, cv, a, b):
    # Scaled-radius approximation of an ellipse's signed distance: exact enough at one-pixel ramps.
    r = np.sqrt(((u - cu) / a) ** 2 + ((v - cv) / b) ** 2)
    return (r - 1.0) * min(a, b)


def _segment(u, v, p, q, radius):
    pu, pv, qu, qv = *p, *q
    du, dv = qu - pu, qv - pv
    t = np.clip(((u - pu) * du + (v - pv) * dv) / (du * du + dv * dv), 0.0, 1.0)
    return np.hypot(u - pu - t * du, v - pv - t * dv) - radius


def _shapes(spec: FaceSpec, u, v):
    """Signed distances of every drawn shape, plus the colours they are painted with."""
    e, i = spec.expression, spec.identity
    skin = i["skin"]
    shapes = {"face": _ellipse(u, v, 0.0, 0.0, i["face_a"], i["face_b"])}
    # Brows: inner end at the nose side. brow_inner > 0 lifts the inner ends (sad, fear), < 0 lowers them (angry).
    brow_y = i["eye_y"] - 0.2 - e["brow_raise"]
    brows = []
    for side in (-1.0, 1.0):
        inner = (side * (i["brow_gap"] - e["brow_together"]), brow_y - e["brow_inner"])
        outer = (side * (i["eye_x"] + i["eye_w"] + 0.05), brow_y + 0.03 + 0.3 * e["brow_inner"])
        brows.append(_segment(u, v, inner, outer, i["brow_t"]))
    shapes["brows"] = np.minimum(*brows)
    eye_h = i["eye_h"] * max(0.25, 1.0 + e["eye_open"])
    eyes = [_ellipse(u, v, s * i["eye_x"], i["eye_y"], i["eye_w"], eye_h) for s in (-1.0, 1.0)]
    shapes["eyes"] = np.minimum(*eyes)
    shapes["pupils"] = np.minimum(*[_ellipse(u, v, s * i["eye_x"], i["eye_y"], 0.055, 0.055) for s in (-1, 1)])
    shapes["nose_bridge"] = _segment(u, v, (0.0, -0.05), (0.02, 0.27), 0.035)
    shapes["nostrils"] = np.minimum(*[_ellipse(u, v, s * 0.08, 0.3 - 0.1 * e["nose_wrinkle"] * 0.3, 0.045, 0.03)
                                      for s in (-1, 1)])
    wrinkles = [_segment(u, v, (-0.09, y), (0.09, y), 0.018) for y in (-0.02, 0.06, 0.14)]
    shapes["wrinkles"] = np.min(wrinkles, axis=0)
    # Mouth: a lip line v = y0 - curve * (u/w)^2, opened into a region between an upper and a lower lip.
    w = i["mouth_w"] + e["mouth_width"]
    y0 = i["mouth_y"]
    t = np.clip(u / w, -1.0, 1.0)
    centre = y0 - e["mouth_curve"] * t * t
    bulge = 1.0 - t * t
    upper = centre - (0.35 * e["mouth_open"] + e["upper_lip"]) * bulge
    lower = centre + 0.65 * e["mouth_open"] * bulge
    line = np.maximum(np.abs(v - centre) - 0.03, np.abs(u) - w)
    opening = np.maximum(np.maximum(upper - v, v - lower), np.abs(u) - w)
    shapes["mouth"] = np.minimum(line, opening)
    shapes["teeth"] = np.maximum(np.maximum(upper - v, v - (upper + 0.06)), np.abs(u) - 0.7 * w)
    colours = {"face": skin, "brows": skin * i["brow_dark"], "eyes": min(1.0, skin + 0.25), "pupils": 0.08,
               "nose_bridge": skin * 0.8, "nostrils": skin * 0.35, "wrinkles": skin * (1 - 0.45 * min(1.0, e["nose_wrinkle"])),
               "mouth": skin * 0.25, "teeth": min(1.0, skin + 0.3) if e["teeth"] > 0.3 else skin * 0.25}
    return shapes, colours


def render(spec: FaceSpec) -> tuple[np.ndarray, np.ndarray]:
    """The face as uint8 pixels (48, 48), and its part label map (48, 48) with ids from ``PARTS``."""
    u, v = _local_coords(spec.pose)
    scale = spec.pose[2]
    shapes, colours = _shapes(spec, u, v)
    background, gradient, gain = spec.light
    img = np.full((SIZE, SIZE), background)
    i = spec.identity
    face = _cover(shapes["face"], scale)
    if i["has_hair"]:
        hair = _cover(_ellipse(u, v, 0.0, -0.1, i["face_a"] + 0.12, i["face_b"] + 0.1), scale)
        hair *= _cover(v - i["hair_line"], scale)  # only above the hair line
        img = img * (1 - hair) + i["hair"] * hair
    img = img * (1 - face) + colours["face"] * face
    if i["has_hair"]:
        fringe = _cover(v - i["hair_line"], scale) * face
        img = img * (1 - fringe) + i["hair"] * fringe
    order = ["nose_bridge", "nostrils", "brows", "eyes", "pupils", "mouth", "teeth"]
    if spec.expression["nose_wrinkle"] > 0.25:
        order.insert(2, "wrinkles")
    for name in order:
        a = _cover(shapes[name], scale)
        if name == "pupils":
            a *= _cover(shapes["eyes"], scale)  # the eyelids hide the iris when the eye narrows
        if name == "teeth":
            a *= _cover(shapes["mouth"], scale)
        img = img * (1 - a) + colours[name] * a
    img = img * gain * (1 + gradient * (u / 1.2))
    img += np.random.default_rng(spec.noise_seed).normal(0, spec.noise_sigma, img.shape)
    pixels = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)
    return pixels, _label_map(shapes, scale)


def _label_map(shapes, scale):
    """Part ids: each part is its drawn shape grown by about 1.5 pixels, so a mask holds the part's edges.

    Where grown parts meet (a lowered brow above a narrowed eye), each pixel goes to the nearest part.
    """
    margin = 1.5 / scale
    labels = np.where(shapes["face"] <= 0, PART_ID["face"], PART_ID["background"]).astype(np.uint8)
    nose = np.minimum(np.minimum(shapes["nose_bridge"], shapes["nostrils"]), shapes["wrinkles"])
    names = ("brows", "eyes", "nose", "mouth")
    distances = np.stack([shapes["brows"], shapes["eyes"], nose, shapes["mouth"]])
    nearest = np.argmin(distances, axis=0)
    near = distances.min(axis=0) <= margin
    ids = np.array([PART_ID[n] for n in names], np.uint8)
    labels[near] = ids[nearest[near]]
    return labels


def render_dataset(seed: int, indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels (N, 48, 48) uint8, labels (N,) int64, and part maps (N, 48, 48) uint8 for the given indices."""
    indices = np.asarray(indices, dtype=np.int64)
    images = np.empty((len(indices), SIZE, SIZE), np.uint8)
    parts = np.empty_like(images)
    labels = np.empty(len(indices), np.int64)
    for k, index in enumerate(indices):
        spec = make_spec(seed, int(index))
        images[k], parts[k] = render(spec)
        labels[k] = spec.label
    return images, labels, parts


def usage_of(index: int) -> str:
    """Kaggle-style split of the synthetic set: every tenth image is the validation (PublicTest) split."""
    return "PublicTest" if index % 10 == 9 else "Training"
