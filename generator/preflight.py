"""Checks that need the loaded model and data but no analysis: run right after loading, so a bad layer name, a
row that is not in the data or an output folder that cannot be written stops the build with one line before any
analysis runs, not after it.
"""
from __future__ import annotations

from generator.config import Settings
from generator.errors import InputError
from generator.explain.filters import find_conv
from generator.imageset import check_fixed_rows
from generator.inputs import DataInputs
from generator.site.writer import check_writable


def check_methods(settings: Settings) -> None:
    """``attribution.methods``: gradient methods of the registry, saliency among them (question 1 measures its
    regions); ``q4.method``: any registered method."""
    from generator.explain import methods
    gradient = methods.of_kind(methods.GRADIENT)
    for key in settings.attribution.methods:
        if key not in gradient:
            raise InputError(f"{settings.where('attribution.methods')}: {key!r} is not a gradient method; expected "
                             f"some of {', '.join(gradient)}")
    if "saliency" not in settings.attribution.methods:
        raise InputError(f"{settings.where('attribution.methods')}: expected 'saliency' among the methods "
                         "(question 1 measures where its mass falls)")
    if settings.q4.method not in methods.REGISTRY:
        raise InputError(f"{settings.where('q4.method')} = {settings.q4.method!r}: no such method; expected one of "
                         f"{', '.join(methods.REGISTRY)}")


def check_before_analysis(settings: Settings, model, data: DataInputs) -> None:
    check_methods(settings)
    check_writable(settings.resolve(settings.site_dir), settings.where("site_dir"))
    find_conv(model, settings.filters.layer, settings.where("filters.layer"))
    if settings.attribution.gradcam_layer:
        find_conv(model, settings.attribution.gradcam_layer, settings.where("attribution.gradcam_layer"),
                  gradcam=True)
    file = "the synthetic faces (only their validation rows, every tenth, are loaded)" if data.synthetic else data.file
    where = settings.where("images.indices")
    check_fixed_rows(fixed_rows(settings, data, where), data.rows, where, file)


def fixed_rows(settings: Settings, data: DataInputs, where: str = "images.indices") -> list[int]:
    """``images.indices`` as row numbers: an image folder's relative paths become their rows."""
    rows = []
    for k, value in enumerate(settings.images.indices):
        row = data.row_of(value)
        if row is None and data.kind == "folder":
            raise InputError(f"{where}: {value!r} (class {k}) is not an image of {data.file}, expected a path "
                             f"relative to the folder such as {data.name_of(0)!r}, or a row number")
        if row is None:
            raise InputError(f"{where}: {value!r} (class {k}) is a file name, but {data.file} has numbered rows: "
                             "expected a data row number (0-based)")
        rows.append(row)
    return rows
