"""Checks that need the loaded model and data but no analysis: run right after loading, so a bad layer name, a
row that is not in the data or an output folder that cannot be written stops the build in seconds, with one line,
instead of after minutes of computing.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from torch import nn

from generator.config import Settings
from generator.errors import InputError
from generator.explain.filters import find_conv
from generator.imageset import check_fixed_rows
from generator.inputs import DataInputs


def check_writable(folder: Path, where: str) -> None:
    """The folder exists and takes a new file, or its nearest existing parent is a folder that does.

    Tried with a real temporary file rather than os.access: root passes every access check, not every write
    (a read-only mount, /proc)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{where}: cannot create {folder}: {existing} is a file, expected a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise InputError(f"{where}: cannot write in {existing} ({error.strerror or error}), expected a writable "
                         "folder") from None


def check_before_analysis(settings: Settings, model: nn.Module, data: DataInputs) -> None:
    check_writable(settings.resolve(settings.site_dir), settings.where("site_dir"))
    find_conv(model, settings.filters.layer, settings.where("filters.layer"))
    if settings.attribution.gradcam_layer:
        find_conv(model, settings.attribution.gradcam_layer, settings.where("attribution.gradcam_layer"),
                  kinds=(nn.Conv2d, nn.ReLU, nn.BatchNorm2d))
    file = "the synthetic faces (only their validation rows, every tenth, are loaded)" if data.synthetic else data.file
    check_fixed_rows(settings.images.indices, data.rows, settings.where("images.indices"), file)
