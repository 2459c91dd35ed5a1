"""Guided Grad-CAM (Selvaraju et al., 2017): Guided Backprop's input gradient times the Grad-CAM map upsampled to
the face, so the fine detail of the one is kept where the other finds the class. Equal to Captum's
``GuidedGradCam`` with bilinear upsampling (tested)."""
from __future__ import annotations

import numpy as np

from generator.explain.attributions import gradcam_raw, module_named
from generator.explain.methods.base import GRADIENT, Method, Passes
from generator.explain.methods.gradcam import layer_name
from generator.explain.methods.guided_backprop import guided_gradients
from generator.explain.saliency import normalise
from generator.models.load import geometry_of


class GuidedGradCAM(Method):
    key, name, kind, section = "guided_gradcam", "Guided Grad-CAM", GRADIENT, "attribution"

    def passes(self, settings) -> Passes:
        return Passes(gradient=2)  # Grad-CAM's and Guided Backprop's

    def attribute(self, model, faces, targets, settings, seed):
        layer = module_named(model, layer_name(model, settings.attribution))
        cam = geometry_of(model).map_to_face(gradcam_raw(model, layer, faces, targets))
        product = guided_gradients(model, faces, targets) * cam
        return normalise(product.abs().amax(dim=1).numpy().astype(np.float64))
