"""Checks that need the loaded model and data but no analysis: run right after loading, so a bad layer name, a
row that is not in the data or an output folder that cannot be written stops the build with one line before any
analysis runs, not after it.
"""
from __future__ import annotations

from generator.config import Settings
from generator.explain.filters import find_conv
from generator.imageset import check_fixed_rows
from generator.inputs import DataInputs
from generator.site.writer import check_writable


def check_before_analysis(settings: Settings, model, data: DataInputs) -> None:
    check_writable(settings.resolve(settings.site_dir), settings.where("site_dir"))
    find_conv(model, settings.filters.layer, settings.where("filters.layer"))
    if settings.attribution.gradcam_layer:
        find_conv(model, settings.attribution.gradcam_layer, settings.where("attribution.gradcam_layer"),
                  gradcam=True)
    file = "the synthetic faces (only their validation rows, every tenth, are loaded)" if data.synthetic else data.file
    check_fixed_rows(settings.images.indices, data.rows, settings.where("images.indices"), file)
