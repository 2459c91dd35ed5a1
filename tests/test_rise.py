"""RISE: seeded soft masks, the batched map against a loop of one masked face per forward pass, the strongest cut."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import random_faces
from generator.config import Settings
from generator.explain.methods import REGISTRY, rise

SETTINGS = Settings()


def test_rise_masks_are_seeded_soft_and_shifted():
    a, b, c = rise.masks(1, count=50), rise.masks(1, count=50), rise.masks(2, count=50)
    assert a.shape == (50, 48, 48) and a.min() >= 0 and a.max() <= 1
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.35 < a.mean() < 0.65  # about KEEP of the face shown
    assert len({m.tobytes() for m in a}) == 50


def test_rise_batched_equals_a_naive_loop(wrapped_tiny):
    x, t = random_faces(2)
    ours = REGISTRY["rise"].attribute(wrapped_tiny, x, t, SETTINGS, 0)
    drawn = rise.masks(SETTINGS.seed)
    for k in range(len(x)):
        total = np.zeros((48, 48))
        with torch.no_grad():
            for mask in drawn:
                masked = x[k] * torch.from_numpy(mask).float()
                total += float(torch.softmax(wrapped_tiny(masked[None]).double(), dim=1)[0, int(t[k])]) * mask
        naive = total / (len(drawn) * rise.KEEP)
        naive = (naive - naive.min()) / (naive.max() - naive.min())
        np.testing.assert_allclose(ours[k], naive, atol=1e-6)


def test_rise_batches_do_not_change_the_scores(wrapped_tiny):
    x, t = random_faces(1)
    drawn = rise.masks(3, count=30)
    np.testing.assert_allclose(rise.probabilities(wrapped_tiny, x[0], int(t[0]), drawn, batch=7),
                               rise.probabilities(wrapped_tiny, x[0], int(t[0]), drawn, batch=30), atol=1e-12)


def test_rise_strongest_cut_is_the_lowest_scoring_mask(wrapped_tiny):
    x, t = random_faces(1)
    face = x[0, 0].numpy()
    cut, probability = REGISTRY["rise"].strongest_cut(wrapped_tiny, face, int(t[0]), SETTINGS, 0)
    scores = rise.probabilities(wrapped_tiny, x[0], int(t[0]), rise.masks(SETTINGS.seed))
    assert probability == pytest.approx(scores.min())
    np.testing.assert_allclose(cut, face * rise.masks(SETTINGS.seed)[int(np.argmin(scores))])
