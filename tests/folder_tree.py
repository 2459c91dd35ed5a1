"""An image-folder FER2013 tree written from the synthetic faces, in the forms students' copies take: PNG and JPEG,
48x48, 64x64 and 96x96, gray and RGB, class folders spelled ``Surprised`` and ``ANGRY``, and a ``contempt`` folder.

``reference_faces`` decodes each written file on its own (Pillow, gray, area resize), so a test compares the loader
with a CSV of the images as written, not of the synthetic originals (JPEG is lossy)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from generator.data import synth

FOLDER_NAMES = ("ANGRY", "disgust", "fear", "happy", "sad", "Surprised", "neutral")  # FER2013's label order
SPLIT_FOLDERS = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}


def _form(face: np.ndarray, k: int) -> tuple[Image.Image, str]:
    """The k-th face in one of five forms, cycling."""
    kind = k % 5
    if kind == 0:
        return Image.fromarray(face, "L"), "png"
    if kind == 1:
        return Image.fromarray(face, "L"), "jpg"
    if kind == 2:  # RGB with the gray in every channel: gray again exactly
        return Image.fromarray(np.stack([face] * 3, -1), "RGB"), "png"
    if kind == 3:  # twice the size by pixel repetition: an area resize gives the face back exactly
        return Image.fromarray(face.repeat(2, 0).repeat(2, 1), "L"), "png"
    return Image.fromarray(face, "L").resize((64, 64), Image.Resampling.BICUBIC).convert("RGB"), "jpg"


def write_tree(root: Path, count: int = 70, seed: int = 5, contempt: int = 3) -> Path:
    """``count`` synthetic faces under root/train and root/test, named like Kaggle's files, plus ``contempt``
    images in a contempt folder that the loader must leave out."""
    images, labels, _ = synth.render_dataset(seed, range(count))
    for k in range(count):
        usage = synth.usage_of(k)
        image, suffix = _form(images[k], k)
        path = root / SPLIT_FOLDERS[usage] / FOLDER_NAMES[labels[k]] / f"{usage}_{k:05d}.{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path)
    for k in range(contempt):
        path = root / "train" / "contempt" / f"Training_c{k}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[k], "L").save(path)
    return root


def reference_faces(root: Path) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Each image file outside contempt/, in sorted path order, decoded on its own: its path, face, label and
    Usage (from the file name, as Kaggle names them)."""
    paths = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.*") if "contempt" not in p.parts)
    faces, labels, usage = [], [], []
    for relative in paths:
        with Image.open(root / relative) as image:
            gray = image.convert("L")
            if gray.size != (48, 48):
                gray = gray.resize((48, 48), Image.Resampling.BOX)
            faces.append(np.asarray(gray))
        labels.append([n.lower() for n in FOLDER_NAMES].index(relative.split("/")[1].lower()))
        usage.append("PublicTest" if relative.startswith("test/") else "Training")
    return paths, np.stack(faces), np.array(labels), usage
