"""The parts of the page context that no stage computes: the model, the data, the image set and the inputs'
hashes. Each stage's own numbers come from its ``context`` function (generator/questions/).

The context holds kinds and numbers, never sentences: the templates (templates/<language>/) turn each kind into
words, so every sentence of a language is in one place."""
from __future__ import annotations

from dataclasses import asdict

from generator.config import Settings
from generator.imageset import ImageSet
from generator.inputs import DataInputs
from generator.models.keras_model import DENSE_LOGITS, LOG_PROBABILITIES, LOGITS
from generator.models.load import LoadedModel, geometry_of

# What a Keras model's explained scores are, as the templates' kinds (None: a PyTorch model, nothing to say).
KERAS_OUTPUT_KINDS = {LOGITS: "logits", DENSE_LOGITS: "dense_logits", LOG_PROBABILITIES: "log_probabilities"}


def image_set_context(settings: Settings, data: DataInputs, images: ImageSet, files: dict) -> dict:
    """The seven faces with the kinds of fallback each needed (generator/imageset.py), and the rule that picked
    them: the rows fixed in the settings, else the confidence threshold."""
    from generator.figures.common import face_png  # matplotlib: imported only once the inputs are known good
    faces = []
    for k, (c, position) in enumerate(zip(images.targets.tolist(), images.positions)):
        path = f"figures/images/class_{c}.png"
        files[path] = face_png(data.dataset.images[position])
        faces.append({"cls": c, "thumbnail": path, "row": int(images.rows[k]), "file": data.name_of(images.rows[k]),
                      "probability": float(images.probabilities[k]),
                      "notes": [kind for cls, kind in images.notes if cls == c]})  # a class can fall back twice
    # absent: the classes with no face in the data; every page marks them (templates/_layout.md.j2 absent_note)
    return {"faces": faces, "fixed_rows": list(settings.images.indices),
            "min_confidence": settings.images.min_confidence, "absent": list(images.absent)}


def geometry_context(loaded: LoadedModel) -> dict | None:
    """How the face becomes the model's input, or None for 48x48 gray faces taken as they are."""
    geometry = geometry_of(loaded.model)
    if geometry.is_identity:
        return None
    return {"height": geometry.height, "width": geometry.width, "channels": geometry.channels,
            "resize": geometry.resize if geometry.resizes else "none"}


def outputs_context(loaded: LoadedModel) -> dict:
    """How the model's outputs became the report's 7 classes (``model.classes``): their order's kind
    (fer2013, alphabetical, custom), the names and the outputs that were dropped (index, name)."""
    classes = loaded.model.classes
    return {"kind": classes.kind, "names": list(classes.names), "count": classes.outputs,
            "dropped": [{"index": k, "name": name} for k, name in classes.dropped]}


def report_context(settings: Settings, loaded: LoadedModel, data: DataInputs, images: ImageSet, val_accuracy: float,
                   files: dict) -> dict:
    """The model, data, image-set and reproducibility parts of the context; adds the faces' thumbnails to ``files``."""
    bundled = not settings.model.path
    model_file = "demo_cnn.pt" if bundled else loaded.path.name
    return {
        "model": {"description": loaded.description, "file": model_file, "bundled": bundled,
                  "output": settings.model.output, "parameters": sum(p.numel() for p in loaded.model.parameters()),
                  "val_accuracy": val_accuracy, "geometry": geometry_context(loaded),
                  "keras_output": KERAS_OUTPUT_KINDS.get(loaded.keras_output)},
        "data": {"kind": data.kind, "file": data.file, "seed": data.synthetic_seed, "rows": data.total_rows,
                 "validation": len(data.validation), "split": asdict(data.split), "resized": data.resized,
                 "left_out": dict(data.left_out)},
        "imageset": image_set_context(settings, data, images, files),
        "repro": {"inputs": [{"kind": "model", "file": model_file, "bundled": bundled, "sha256": loaded.sha256},
                             {"kind": "data", "file": data.file, "bundled": False, "sha256": data.sha256}]},
    }
