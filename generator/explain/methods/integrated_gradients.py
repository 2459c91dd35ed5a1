"""Integrated Gradients (Sundararajan et al., 2017) from ``attribution.ig_baseline`` (generator/explain/
attributions.py)."""
from __future__ import annotations

from generator.explain.attributions import integrated_gradients
from generator.explain.methods.base import GRADIENT, Method, Passes


class IntegratedGradients(Method):
    key, name, kind, section = "integrated_gradients", "Integrated Gradients", GRADIENT, "attribution"

    def passes(self, settings) -> Passes:
        return Passes(gradient=settings.attribution.ig_steps)

    def attribute(self, model, faces, targets, settings, seed):
        a = settings.attribution
        return integrated_gradients(model, faces, targets, a.ig_baseline, a.ig_steps)
