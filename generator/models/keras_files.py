"""Keras model files: which paths are Keras's, importing Keras on the PyTorch backend, and one line for each file
it cannot take (no keras installed, a weights-only .h5, a TensorFlow SavedModel folder, a damaged file).
"""
from __future__ import annotations

import os
import sys
import zipfile
from pathlib import Path

from generator.errors import InputError
from generator.file_kinds import KERAS_SUFFIXES

INSTALL_EXTRA = 'pip install -e ".[keras]"'


def is_keras_path(path: Path) -> bool:
    """A path the Keras loader takes (or refuses with its own message): a Keras file or a SavedModel."""
    return path.suffix.lower() in KERAS_SUFFIXES or _is_saved_model(path)


def _is_saved_model(path: Path) -> bool:
    return (path.is_dir() and (path / "saved_model.pb").is_file()) or path.name == "saved_model.pb"


def import_keras(path: Path | str):
    """Keras on the PyTorch backend, or one line that says why not. The backend is read once, at keras's first
    import, so it is chosen here, before that import, without overriding a choice the user made."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    chosen = os.environ["KERAS_BACKEND"]
    if chosen != "torch" and "keras" not in sys.modules:
        raise InputError(f"{path}: KERAS_BACKEND is set to {chosen!r}, expected 'torch' (the generator runs Keras "
                         "models through PyTorch); unset it or set KERAS_BACKEND=torch")
    try:
        import keras
    except ImportError as error:
        if error.name not in ("keras", "h5py"):
            raise
        raise InputError(f"{path}: a Keras model needs the keras extra, which is not installed; install it with "
                         f"{INSTALL_EXTRA}") from None
    if keras.backend.backend() != "torch":
        raise InputError(f"{path}: keras was already imported with the {keras.backend.backend()!r} backend, "
                         "expected 'torch'; unset KERAS_BACKEND or set KERAS_BACKEND=torch")
    return keras


def check_file(path: Path) -> None:
    """Refuse, before Keras reads it, what Keras would refuse with a long or misleading error."""
    if _is_saved_model(path):
        folder = path if path.is_dir() else path.parent
        raise InputError(f"{folder}: a TensorFlow SavedModel folder, which is not supported (reading it needs "
                         "TensorFlow), expected a .keras or .h5 file; where you trained, run "
                         f"tf.keras.models.load_model('{folder.name}').save('model.keras')")
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    if path.suffix.lower() == ".keras":
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                if "config.json" in archive.namelist():
                    return
        raise InputError(f"{path}: not a .keras archive (a zip holding config.json), expected a model saved with "
                         "model.save('model.keras')")
    import h5py  # a dependency of keras itself, so present once import_keras has passed
    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: not an HDF5 file, expected a Keras model saved with model.save('model.h5')")
    with h5py.File(path, "r") as archive:
        if "model_config" not in archive.attrs:
            raise InputError(f"{path}: holds only weights, no architecture (as model.save_weights writes), "
                             "expected a whole model saved with model.save('model.keras') or model.save('model.h5')")
