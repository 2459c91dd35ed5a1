"""Grad-CAM (Selvaraju et al., 2017) at ``attribution.gradcam_layer`` (generator/explain/attributions.py)."""
from __future__ import annotations

from torch import nn

from generator.explain.attributions import default_gradcam_layer, gradcam, module_named
from generator.explain.filters import find_conv
from generator.explain.methods.base import GRADIENT, Method, Passes


def layer_name(model: nn.Module, attribution) -> str:
    """The layer the CAM methods read: ``attribution.gradcam_layer``, checked, or the rectified maps of the last
    conv. By name, so a randomised copy of the model gives its own layer of the same name."""
    if attribution.gradcam_layer:
        return find_conv(model, attribution.gradcam_layer, "[tool.generator.attribution] gradcam_layer",
                         gradcam=True)[0]
    return default_gradcam_layer(model)[0]


class GradCAM(Method):
    key, name, kind, section = "gradcam", "Grad-CAM", GRADIENT, "attribution"

    def passes(self, settings) -> Passes:
        return Passes(gradient=1)  # its backward stops at the layer: counted whole

    def attribute(self, model, faces, targets, settings, seed):
        return gradcam(model, faces, targets, module_named(model, layer_name(model, settings.attribution)))
