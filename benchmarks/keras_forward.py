"""A Keras model against the same network written in PyTorch, with the same weights: the Keras twin of a FerCNN
(tests/keras_models.py) saved as .keras and loaded as the generator loads it, next to the PyTorch model itself.
Both run eager, forward only, on the CPU: a measurement of what Keras 3's PyTorch backend costs, not a gate."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch

from generator.config import ModelSettings
from generator.models.load import load_model

TESTS = Path(__file__).resolve().parent.parent / "tests"


def keras_twin(model: torch.nn.Module, native: bool = False) -> torch.nn.Module | None:
    """The wrapped FerCNN's Keras twin, loaded through load_model; None where keras is not installed. It runs
    through Keras (the path of a model that does not translate) unless ``native``: its native translation
    (generator/models/keras_translate.py; benchmarks/keras_native.py measures the two side by side)."""
    import importlib.util
    if importlib.util.find_spec("keras") is None:
        return None
    sys.path.insert(0, str(TESTS))
    import keras_models
    with tempfile.TemporaryDirectory() as folder:
        keras_models.keras_twin(model.inner).save(Path(folder) / "twin.keras")
        settings = ModelSettings(path="twin.keras", input_scale=255.0 / model.gain, input_mean=model.shift,
                                 input_std=1.0)
        wrapped = load_model(settings, Path(folder)).model
        if not native:
            from generator.models.keras_model import load_keras
            wrapped.inner = load_keras(Path(folder) / "twin.keras")
        return wrapped


def seconds_per_image(model: torch.nn.Module, batch: int, timed) -> float:
    x = torch.rand(batch, 1, 48, 48, generator=torch.Generator().manual_seed(batch))
    repeats = max(1, 1024 // batch)
    with torch.inference_mode():
        model(x)  # warm-up
        seconds, _ = timed(lambda: [model(x) for _ in range(repeats)])
    return seconds / (repeats * batch)
