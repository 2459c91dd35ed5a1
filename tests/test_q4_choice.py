"""Question 4 answers with the author's choice of method (``q4.method``), and question 1 shows
``attribution.methods``: a bad choice is one line naming the key, a good one a full report in both languages."""
from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import ROOT
from generator.build import build
from generator.config import Settings, load_settings
from generator.errors import InputError
from generator.preflight import check_methods

CHOICE = "gradcam"


def _with(**sections) -> Settings:
    settings = Settings()
    return replace(settings, **{name: replace(getattr(settings, name), **values) for name, values in sections.items()})


@pytest.mark.parametrize("sections, expected", [
    ({"q4": {"method": "deep_dream"}}, "q4] method = 'deep_dream': no such method; expected one of saliency"),
    ({"attribution": {"methods": ["saliency", "lime"]}}, "methods: 'lime' is not a gradient method"),
    ({"attribution": {"methods": ["smoothgrad"]}}, "expected 'saliency' among the methods"),
])
def test_a_bad_choice_is_one_line_naming_the_key(sections, expected):
    with pytest.raises(InputError) as error:
        check_methods(_with(**sections))
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_every_registered_method_is_a_valid_choice_for_question_4():
    from generator.explain.methods import REGISTRY
    for key in REGISTRY:
        check_methods(_with(q4={"method": key}))


def test_question_4_answers_with_the_chosen_method_in_both_languages(tiny_project):
    settings = load_settings(tiny_project / "pyproject.toml", {"q4.method": CHOICE, "attribution.methods": [
        "saliency", "integrated_gradients", "gradcam"], "attribution.ig_baseline": "gray"})
    build(settings, ROOT / "templates")
    site = tiny_project / "site_src"
    zh, en = (site / "q4.md").read_text(), (site / "q4.en.md").read_text()
    assert en.startswith("# Q4. Grad-CAM\n") and zh.startswith("# Q4. Grad-CAM\n")
    assert "The author's choice for this question: **Grad-CAM** weights the channels" in en
    assert "作者為本題選擇的方法：" in zh and "Occlusion" not in en
    for c in range(7):
        assert (site / f"figures/q4/{CHOICE}_{c}.png").is_file()
        assert f"(figures/q4/{CHOICE}_{c}.png)" in zh and f"(figures/q4/{CHOICE}_{c}.png)" in en
        assert not (site / f"figures/q4/occlusion_{c}.png").exists()
    # question 1 shows only the methods asked for; the trust page scores every method the report shows, only those
    q1 = (site / "q1.en.md").read_text()
    assert "## Three gradient methods side by side" in q1 and "SmoothGrad" not in q1
    # the baseline sentence follows attribution.ig_baseline, in both languages
    assert "straight path from a mid-gray face" in q1 and "black face" not in q1
    assert "從中灰色人臉到原圖" in (site / "q1.md").read_text()
    trust = (site / "trust.en.md").read_text()
    assert "Grad-CAM" in trust and "LIME" in trust and "SmoothGrad" not in trust
    assert (site / "figures/trust/sanity_gradcam.png").is_file()
    assert not (site / "figures/trust/sanity_occlusion.png").exists()
