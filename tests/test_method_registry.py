"""The method registry (generator/explain/methods/): every method has the declared shape, the same maps through
the registry as through its own functions, a description in both languages, and a colour of its own."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import ROOT, tiny_model
from generator.config import Settings
from generator.explain import methods
from generator.explain.methods import REGISTRY
from generator.figures.common import method_colours
from generator.figures.trust import curves_figure
from generator.site.render import environment
from generator.site.strings import LANGUAGES

KINDS = {methods.GRADIENT, methods.PERTURBATION, methods.SURROGATE}
QUICK = Settings()
SECTIONS = {"attribution", "occlusion", "lime"}


def _faces(n: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    faces = torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(3))
    return faces, torch.arange(n) % 7


def _small(settings: Settings) -> Settings:
    from dataclasses import replace
    return replace(settings, lime=replace(settings.lime, num_samples=40),
                   occlusion=replace(settings.occlusion, stride=8),
                   attribution=replace(settings.attribution, smoothgrad_samples=3, ig_steps=4))


@pytest.mark.parametrize("key", list(REGISTRY))
def test_declares_its_shape(key):
    m = REGISTRY[key]
    assert m.key == key and m.name and m.kind in KINDS
    assert m.section in {f for f in Settings.__dataclass_fields__}
    passes = m.passes(QUICK)
    assert passes.forward + passes.gradient + passes.occlusion_positions > 0


@pytest.mark.parametrize("key", list(REGISTRY))
def test_attribute_returns_maps_in_unit_range_and_leaves_faces_alone(key):
    faces, targets = _faces()
    before = faces.clone()
    maps = REGISTRY[key].attribute(tiny_model(), faces, targets, _small(QUICK), 0)
    assert maps.shape == (3, 48, 48)
    assert np.isfinite(maps).all()
    assert torch.equal(faces, before)
    if REGISTRY[key].kind != methods.SURROGATE:  # LIME's weights are signed
        assert maps.min() >= 0 and maps.max() <= 1


def _description(language: str, key: str) -> str:
    module = environment(ROOT / "templates").get_template(f"{language}/_methods.md.j2").module
    return str(module.description(key, {"gradcam_layer": "features.5", "ig_baseline": "black"})).strip()


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", list(REGISTRY))
def test_every_registered_method_is_described_in_both_languages(language, key):
    assert _description(language, key)


def test_descriptions_differ_between_methods():
    for language in LANGUAGES:
        texts = [_description(language, key) for key in REGISTRY]
        assert len(set(texts)) == len(texts)


@pytest.mark.parametrize("count", [2, 6, 10, 11, 25])
def test_colours_are_distinct_for_any_number_of_methods(count):
    colours = method_colours(count)
    assert len(colours) == count and len(set(colours)) == count


def test_the_curves_figure_draws_every_method():
    """Eleven methods: each gets a curve (a fixed list of colours would drop the ones past its end)."""
    from generator.figures import common
    curves = {f"m{k}": {"deletion": np.linspace(1, k / 20, 5), "insertion": np.linspace(0, 1 - k / 20, 5)}
              for k in range(11)}
    reference = {"deletion": np.linspace(1, 0.5, 5), "insertion": np.linspace(0, 0.5, 5)}
    drawn = []
    original = common.png_bytes

    def keep(fig):
        drawn.extend(len(ax.lines) for ax in fig.axes)
        return original(fig)

    import generator.figures.trust as trust_figures
    trust_figures.png_bytes, saved = keep, trust_figures.png_bytes
    try:
        curves_figure(curves, reference)
    finally:
        trust_figures.png_bytes = saved
    assert drawn == [12, 12]  # eleven methods and the random map, on both panels


def test_total_passes_adds_the_declared_passes():
    keys = ["saliency", "smoothgrad", "integrated_gradients", "gradcam"]
    a = QUICK.attribution
    assert methods.total_passes(keys, QUICK).gradient == 1 + a.smoothgrad_samples + a.ig_steps + 1
    assert methods.ordered(["occlusion", "saliency"]) == ["saliency", "occlusion"]


@pytest.mark.parametrize("baseline, en, zh", [("black", "from a black face", "從全黑人臉"),
                                              ("gray", "from a mid-gray face", "從中灰色人臉"),
                                              ("mean", "from a face of its own mean gray", "從以該臉平均灰度")])
def test_the_integrated_gradients_sentence_follows_the_baseline(baseline, en, zh):
    module = {lang: environment(ROOT / "templates").get_template(f"{lang}/_methods.md.j2").module
              for lang in LANGUAGES}
    q1 = {"gradcam_layer": "features.5", "ig_baseline": baseline}
    assert en in str(module["en"].description("integrated_gradients", q1)).replace("\n", " ")
    assert zh in str(module["zh-TW"].description("integrated_gradients", q1))
