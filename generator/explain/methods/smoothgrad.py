"""SmoothGrad (Smilkov et al., 2017): the mean gradient over noisy copies (generator/explain/attributions.py)."""
from __future__ import annotations

from generator.explain.attributions import smoothgrad
from generator.explain.methods.base import GRADIENT, Method, Passes


class SmoothGrad(Method):
    key, name, kind, section = "smoothgrad", "SmoothGrad", GRADIENT, "attribution"
    seeded = True

    def passes(self, settings) -> Passes:
        return Passes(gradient=settings.attribution.smoothgrad_samples)

    def attribute(self, model, faces, targets, settings, seed):
        a = settings.attribution
        return smoothgrad(model, faces, targets, a.smoothgrad_samples, a.smoothgrad_noise, seed)
