"""The registry of explanation methods, in the order the report shows them: the one place the trust table, the
figures' colours, the estimate, the templates' method loops and the tests find them.

Adding a method: write one module of this folder with one subclass of ``base.Method`` (key, name, kind, section,
``passes``, ``attribute``), add its class to ``REGISTRY``, and its one-paragraph description to both languages'
``templates/<language>/_methods.md.j2``.
"""
from __future__ import annotations

from generator.explain.methods.base import GRADIENT, PERTURBATION, SURROGATE, Method, Passes
from generator.explain.methods.gradcam import GradCAM
from generator.explain.methods.gradcam_plus_plus import GradCAMPlusPlus
from generator.explain.methods.guided_backprop import GuidedBackprop
from generator.explain.methods.guided_gradcam import GuidedGradCAM
from generator.explain.methods.integrated_gradients import IntegratedGradients
from generator.explain.methods.lime import Lime
from generator.explain.methods.occlusion import Occlusion
from generator.explain.methods.rise import Rise
from generator.explain.methods.saliency import Saliency
from generator.explain.methods.smoothgrad import SmoothGrad

REGISTRY: dict[str, Method] = {m.key: m for m in (
    Saliency(),
    SmoothGrad(),
    IntegratedGradients(),
    GradCAM(),
    GuidedBackprop(),
    GuidedGradCAM(),
    GradCAMPlusPlus(),
    Lime(),
    Occlusion(),
    Rise(),
)}
NAMES = {key: m.name for key, m in REGISTRY.items()}
SECTIONS = tuple(dict.fromkeys(m.section for m in REGISTRY.values()))  # the settings sections the methods read


def method(key: str) -> Method:
    return REGISTRY[key]


def ordered(keys) -> list[str]:
    """``keys`` in the registry's order, each once."""
    wanted = set(keys)
    return [key for key in REGISTRY if key in wanted]


def of_kind(kind: str) -> tuple[str, ...]:
    return tuple(key for key, m in REGISTRY.items() if m.kind == kind)


def total_passes(keys, settings) -> Passes:
    out = Passes()
    for key in keys:
        out = out + REGISTRY[key].passes(settings)
    return out


__all__ = ["GRADIENT", "PERTURBATION", "SURROGATE", "Method", "Passes", "REGISTRY", "NAMES", "SECTIONS", "method", "ordered",
           "of_kind", "total_passes"]
