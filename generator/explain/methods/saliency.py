"""Vanilla gradient saliency (Simonyan et al., 2014): |d score / d x| (generator/explain/saliency.py)."""
from __future__ import annotations

from generator.explain.methods.base import GRADIENT, Method, Passes
from generator.explain.saliency import saliency


class Saliency(Method):
    key, name, kind, section = "saliency", "Saliency", GRADIENT, "attribution"

    def passes(self, settings) -> Passes:
        return Passes(gradient=1)

    def attribute(self, model, faces, targets, settings, seed):
        return saliency(model, faces, targets)
