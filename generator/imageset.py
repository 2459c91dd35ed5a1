"""The fixed image set: one face per class, explained by every question."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generator.data.fer2013 import NUM_CLASSES, as_model_input
from generator.errors import InputError


@dataclass(frozen=True)
class ImageSet:
    """One face per class present in the data, in class order: usually 7. A class with no face at all in the data
    is left out of every array and listed in ``absent``; each stage then explains the faces there are, and the
    pages mark the absent classes."""
    positions: np.ndarray     # (n,) positions in the dataset
    rows: np.ndarray          # (n,) row numbers as the user counts them
    targets: np.ndarray       # (n,) the class explained for each image
    probabilities: np.ndarray  # (n,) P(target) under the model
    notes: list               # (class, kind) for images picked by a fallback rule
    absent: tuple = ()        # the classes with no face in the data


def predict(model: torch.nn.Module, images: np.ndarray, batch: int = 32) -> np.ndarray:
    """Class probabilities (N, 7) for uint8 faces (N, 48, 48), ``batch`` faces per forward pass, so a full-size
    CSV never becomes one large float tensor."""
    out = []
    with torch.inference_mode():
        for k in range(0, len(images), batch):
            x = as_model_input(images[k:k + batch])
            out.append(torch.softmax(model(x).double(), dim=1))
    return torch.cat(out).numpy() if out else np.zeros((0, NUM_CLASSES))


def check_fixed_rows(fixed_rows: list[int], rows: np.ndarray, where: str = "images.indices",
                     file: str = "the data") -> None:
    """``fixed_rows`` is empty (pick by rule) or 7 row numbers that the loaded data holds."""
    if not fixed_rows:
        return
    if len(fixed_rows) != NUM_CLASSES:
        raise InputError(f"{where} = {fixed_rows}: expected 7 row numbers, one per class in class order, "
                         f"found {len(fixed_rows)}")
    known = set(rows.tolist())
    for k, row in enumerate(fixed_rows):
        if row not in known:
            span = f"{int(rows.min())}-{int(rows.max())}" if len(rows) else "none"
            every = "" if not len(rows) or len(rows) == int(rows.max()) + 1 else f", {len(rows)} of them"
            raise InputError(f"{where}: row {row} (class {k}) is not a row of {file}, expected a data row "
                             f"number (0-based) among those loaded: {span}{every}")


def pick_images(probabilities: np.ndarray, labels: np.ndarray, validation: np.ndarray, rows: np.ndarray,
                min_confidence: float, fixed_rows: list[int]) -> ImageSet:
    """Per class, the first validation image classified correctly with P >= ``min_confidence``.

    Fallbacks, each noted: the most confident correct image; else the validation image with the highest
    probability of the class; else a training image. A class with no image in the data is absent: no index could
    pick one, so the report is built on the other classes. ``fixed_rows`` (7 row numbers, class order) replaces the
    rule.
    """
    if fixed_rows:
        check_fixed_rows(fixed_rows, rows)
        where = {int(r): k for k, r in enumerate(rows)}
        positions = [where[row] for row in fixed_rows]
        positions = np.array(positions)
        targets, absent = np.arange(NUM_CLASSES), []
        notes = [(c, "label_differs") for c in range(NUM_CLASSES) if labels[positions[c]] != c]
    else:
        predicted = probabilities.argmax(1)
        positions, notes, absent = [], [], []
        for c in range(NUM_CLASSES):
            members = validation[labels[validation] == c]
            if not len(members):
                members = np.flatnonzero(labels == c)
                if not len(members):
                    absent.append(c)
                    continue
                notes.append((c, "not_in_validation"))
            correct = members[predicted[members] == c]
            confident = correct[probabilities[correct, c] >= min_confidence]
            if len(confident):
                positions.append(confident[0])
            elif len(correct):
                positions.append(correct[np.argmax(probabilities[correct, c])])
                notes.append((c, "below_confidence"))
            else:
                positions.append(members[np.argmax(probabilities[members, c])])
                notes.append((c, "none_correct"))
        targets = np.array([c for c in range(NUM_CLASSES) if c not in absent])
        positions = np.array(positions, dtype=np.int64)
        if not len(positions):
            raise InputError("the data has no face of any class, expected rows labelled 0-6")
    chosen = probabilities[positions, targets]
    return ImageSet(positions, rows[positions], targets, chosen, notes, tuple(absent))
