"""The trust page as evidence: the evaluation set, the paired comparison on the same faces, and the
verdicts the trust stage hands to the pages, in both languages."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from generator.config import Settings
from generator.data.fer2013 import Dataset
from generator.evaluation import choose, evaluation_set
from generator.explain import scoring
from generator.explain import trust_measures as measure
from generator.explain.evidence import BETTER, UNCLEAR, WORSE
from generator.inputs import DataInputs, SplitRule
from generator.questions import trust
from generator.site.render import environment

from conftest import ROOT


def toy_data(labels, predicted, validation, confidence=0.9):
    """A dataset whose model predicts ``predicted``: probabilities with ``confidence`` on the predicted class."""
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    probabilities = np.full((len(labels), 7), (1 - confidence) / 6)
    probabilities[np.arange(len(labels)), predicted] = confidence
    images = (np.arange(len(labels), dtype=np.uint8)[:, None, None] * np.ones((1, 48, 48), np.uint8))
    dataset = Dataset(images, labels.astype(np.int64), np.full(len(labels), "PublicTest"), None)
    data = DataInputs(dataset, np.arange(len(labels)) + 1000, np.asarray(validation), len(labels), False,
                      SplitRule("stratified", 0.5, 0), "toy.csv", "0")
    return probabilities, data


def test_the_evaluation_set_holds_only_correct_validation_faces_and_all_of_a_short_class():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(7), 30)
    predicted = np.where(rng.random(len(labels)) < 0.7, labels, (labels + 1) % 7)
    predicted[labels == 5] = 6  # class 5: never right
    predicted[np.flatnonzero(labels == 4)[:3]] = 4
    predicted[np.flatnonzero(labels == 4)[3:]] = 0  # class 4: right on 3 faces only
    validation = np.flatnonzero(np.arange(len(labels)) % 3 != 0)  # two thirds of the rows
    probabilities, data = toy_data(labels, predicted, validation)
    evaluation = evaluation_set(probabilities, data, per_class=6, seed=1)

    in_validation = set(validation.tolist())
    correct = {c: [int(p) for p in validation if labels[p] == c and predicted[p] == c] for c in range(7)}
    assert all(int(p) in in_validation for p in evaluation.positions)
    assert np.array_equal(labels[evaluation.positions], predicted[evaluation.positions])
    assert np.array_equal(evaluation.targets, labels[evaluation.positions])
    assert evaluation.available == tuple(len(correct[c]) for c in range(7))
    expected_counts = tuple(min(6, len(correct[c])) for c in range(7))
    assert evaluation.counts == expected_counts and evaluation.n == sum(expected_counts)
    assert evaluation.counts[5] == 0 and evaluation.counts[4] == len(correct[4]) <= 3
    assert sorted(evaluation.positions[evaluation.targets == 4].tolist()) == sorted(correct[4])  # all of them
    assert evaluation.short == [c for c in range(7) if len(correct[c]) < 6]
    assert np.array_equal(evaluation.rows, evaluation.positions + 1000)  # row numbers, not positions
    assert np.array_equal(evaluation.faces[:, 0, 0], evaluation.positions.astype(np.uint8))
    assert evaluation.masks is None and len(np.unique(evaluation.positions)) == evaluation.n

    again = evaluation_set(probabilities, data, per_class=6, seed=1)
    assert np.array_equal(again.positions, evaluation.positions)
    other = [choose(probabilities, labels, validation, 6, seed)[0] for seed in (2, 3, 4)]
    assert any(not np.array_equal(o, evaluation.positions) for o in other)  # the seed does choose


class OneLogit(nn.Module):
    """Class 0's logit is a fixed linear function of the pixels, scaled per face by its mean brightness, so that
    faces start from very different probabilities: the faces' own spread is large, a map's effect small."""

    def __init__(self):
        super().__init__()
        self.weight = torch.from_numpy(np.random.default_rng(4).normal(0, 0.05, (48, 48)).astype(np.float32))

    def forward(self, x):
        logits = torch.zeros(len(x), 7)
        logits[:, 0] = (x[:, 0] * self.weight).sum(dim=(1, 2)) + 40 * (x[:, 0].mean(dim=(1, 2)) - 0.5)
        return logits


def test_the_random_reference_is_computed_on_the_same_faces_in_the_same_order():
    model = OneLogit()
    rng = np.random.default_rng(0)
    faces = np.clip(rng.uniform(0, 1, (12, 48, 48)) * 0.3 + np.linspace(0.3, 0.7, 12)[:, None, None], 0, 1)
    faces = (faces * 255).astype(np.uint8)
    targets = np.zeros(12, np.int64)
    # the true importance for deletion to mean gray: what removing each pixel takes off the class logit
    truth = {"saliency": np.stack([model.weight.numpy() * (f / 255.0 - f.mean() / 255.0) for f in faces])}
    settings = Settings()
    both = trust._faithfulness(model, faces, targets, truth, ("saliency",), settings)
    assert both["saliency"]["deletion"].shape == both["random"]["deletion"].shape == (12, 2304 // settings.trust.pixels_per_step + 1)
    # every row starts from its own face (deletion's first point is the face itself), for the method and the random map
    assert np.allclose(both["random"]["deletion"][:, 0], both["saliency"]["deletion"][:, 0])
    assert np.ptp(both["random"]["deletion"][:, 0]) > 0.3  # and the faces do differ
    first = trust._faithfulness(model, faces[:1], targets[:1], {"saliency": truth["saliency"][:1]}, ("saliency",),
                                settings)
    assert np.allclose(first["random"]["deletion"][0], both["random"]["deletion"][0])
    assert np.allclose(first["saliency"]["insertion"][0], both["saliency"]["insertion"][0])
    method, random = measure.aucs(both["saliency"]["deletion"]), measure.aucs(both["random"]["deletion"])
    assert np.ptp(random) > 5 * np.mean(random - method)  # the faces differ far more than the map helps
    assert scoring.against(method, random, False, seed=0)["verdict"] == BETTER
    # paired on the wrong faces, the same values tell nothing: the pairing is what carries the evidence
    assert scoring.against(method, random[::-1], False, seed=0)["verdict"] == UNCLEAR


def fake_inputs(n_per_class=10):
    targets = np.repeat(np.arange(7), n_per_class)
    evaluation = SimpleNamespace(targets=targets, n=len(targets), asked=n_per_class, counts=(n_per_class,) * 7,
                                 available=(n_per_class + 5,) * 7, short=[])
    return SimpleNamespace(evaluation=evaluation, settings=Settings(), targets=np.arange(7))


def flat_curves(aucs, steps=49):
    """Curves whose AUC is exactly ``aucs``, one constant curve per face."""
    return np.repeat(np.asarray(aucs, float)[:, None], steps, axis=1)


def toy_result(inputs):
    """Saliency clearly better than the random map on both curves; SmoothGrad straddling it; Grad-CAM clearly
    worse on deletion. The sanity check: saliency's rho far below 0.5, SmoothGrad's straddling it."""
    n = inputs.evaluation.n
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, n)  # the faces' own spread
    noise = rng.normal(0, 0.05, n)
    random = {"deletion": flat_curves(base), "insertion": flat_curves(base + 0.1)}
    evaluation = {"random": random,
                  "saliency": {"deletion": flat_curves(base - 0.05), "insertion": flat_curves(base + 0.15)},
                  "smoothgrad": {"deletion": flat_curves(base + noise - noise.mean()),
                                 "insertion": flat_curves(base + 0.1 + noise - noise.mean())},
                  "integrated_gradients": random, "occlusion": random, "guided_backprop": random,
                  "guided_gradcam": random,
                  "gradcam": {"deletion": flat_curves(base + 0.05), "insertion": random["insertion"]}}
    report = {"random": {k: flat_curves(np.full(7, 0.3)) for k in trust.CURVE_KEYS},
              "lime": {k: flat_curves(np.full(7, 0.3)) for k in trust.CURVE_KEYS}}
    final = {m: (np.full(n, 0.9), np.full(n, 0.5)) for m in trust.evaluated(inputs.settings)}
    final["saliency"] = (rng.uniform(0.0, 0.2, n), np.full(n, 0.1))
    final["smoothgrad"] = (0.5 + rng.normal(0, 0.2, n), np.full(n, 0.1))
    stabilities = [SimpleNamespace(jaccard=j, spearman=s) for j, s in zip(np.linspace(0.3, 0.6, 7),
                                                                          np.linspace(0.5, 0.8, 7))]
    numbers = trust._numbers(inputs, final, {"evaluation": evaluation, "report": report}, stabilities, None)
    return trust.TrustResult({}, {}, [], numbers)


def test_the_trust_context_says_beats_only_where_the_paired_interval_excludes_zero():
    inputs = fake_inputs()
    context = trust.context(inputs, toy_result(inputs))
    deletion, insertion = context["curve_verdicts"]["deletion"], context["curve_verdicts"]["insertion"]
    assert deletion[BETTER] == ["Saliency"] and insertion[BETTER] == ["Saliency"]
    assert "SmoothGrad" in deletion[UNCLEAR] and "SmoothGrad" in insertion[UNCLEAR]
    assert "LIME" in deletion[UNCLEAR]  # no difference at all on its 7 faces
    assert deletion[WORSE] == ["Grad-CAM"]
    assert context["sanity_verdicts"][BETTER] == ["Saliency"]
    assert "SmoothGrad" in context["sanity_verdicts"][UNCLEAR] and "Occlusion" in context["sanity_verdicts"][WORSE]
    by = context["by_method"]
    assert by["saliency"]["n"] == 70 and by["lime"]["n"] == 7 and by["lime"]["sanity"] is None
    difference = by["saliency"]["deletion_vs_random"]["difference"]
    assert difference["mean"] == pytest.approx(-0.05) and difference["high"] < 0 and difference["n"] == 70
    assert by["saliency"]["deletion"]["per_class"][3]["n"] == 10
    assert context["stability_mean"]["jaccard"]["n"] == 7
    assert context["stability_mean"]["jaccard"]["low"] < 0.45 < context["stability_mean"]["jaccard"]["high"]


@pytest.mark.parametrize("language,beats,unclear,undecided", [
    ("en", "✅ beats the random map", "❔ not distinguishable from the random map at n = 70",
     "sanity check undecided at n = 70"),
    ("zh-TW", "✅ 勝過隨機圖", "❔ 在 n = 70 下與隨機圖無法區分", "n = 70 時 sanity check 無法判定"),
])
def test_the_badges_of_the_question_pages_follow_the_verdicts(language, beats, unclear, undecided):
    inputs = fake_inputs()
    context = trust.context(inputs, toy_result(inputs))
    template = environment(ROOT / "templates").from_string(
        '{% import "_macros.md.j2" as m %}{% import "' + language + '/_words.md.j2" as w %}'
        "{{ m.badge(trust.by_method[key], w.badge, trust) }}")
    saliency = template.render(trust=context, key="saliency")
    assert saliency.count(beats) == 2 and "[" in saliency  # both curves; the numbers carry their interval
    smoothgrad = template.render(trust=context, key="smoothgrad")
    assert smoothgrad.count(unclear) == 2 and undecided in smoothgrad
    assert beats not in smoothgrad


def test_too_few_faces_give_no_verdict_however_clear_the_values():
    """One face has no interval (evidence.interval returns the value as both ends): no verdict from it."""
    assert scoring.against([0.1], [0.5], False, seed=0)["verdict"] == UNCLEAR
    assert scoring.sanity([0.05], [3], 0.5, seed=0)["verdict"] == UNCLEAR
    many = scoring.against(np.linspace(0.1, 0.2, 8), np.linspace(0.5, 0.6, 8), False, seed=0)
    assert many["verdict"] == BETTER and many["difference"]["n"] == 8
