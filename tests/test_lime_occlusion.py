import numpy as np
import pytest
import torch
from torch import nn

from generator.explain.confusion import confusion_matrix
from generator.explain.lime_explain import classifier_fn, explain
from generator.explain.occlusion import box_bounds, occlusion


class RegionModel(nn.Module):
    """A toy model that looks only at one region: class 3's logit is 8x the mean brightness of rows 30-41,
    columns 12-35 (where a mouth sits); every other logit is 0."""

    def forward(self, x):
        score = 8.0 * x[:, 0, 30:42, 12:36].mean(dim=(1, 2))
        logits = torch.zeros(len(x), 7)
        logits[:, 3] = score
        return logits


def test_classifier_scores_every_sample_of_its_batch(model):
    """A predict function that scored only the first sample (seen in a published solution) fails here."""
    classify = classifier_fn(model, batch_size=4)
    images = np.random.default_rng(0).uniform(0, 1, (10, 48, 48, 3))
    before = classify(images)
    for k in (1, 5, 9):  # inside the first batch, a later batch, the last, short batch
        changed = images.copy()
        changed[k] = 1.0 - changed[k]
        after = classify(changed)
        assert not np.allclose(after[k], before[k])
        assert np.allclose(np.delete(after, k, axis=0), np.delete(before, k, axis=0))
    assert np.allclose(before.sum(axis=1), 1.0)


def test_classifier_takes_lime_rgb_back_to_gray(model):
    gray = np.random.default_rng(1).uniform(0, 1, (2, 48, 48))
    with torch.inference_mode():
        expected = torch.softmax(model(torch.tensor(gray, dtype=torch.float32)[:, None]).double(), 1).numpy()
    assert np.allclose(classifier_fn(model, 32)(np.repeat(gray[..., None], 3, axis=3)), expected, atol=1e-6)


@pytest.fixture
def face():
    rng = np.random.default_rng(2)
    image = 0.4 + 0.05 * rng.standard_normal((48, 48))
    image[30:42, 12:36] = 0.8  # the bright region the toy model rewards
    return np.clip(image, 0, 1)


def test_same_seed_same_explanation_other_seed_other_samples(face):
    a = explain(RegionModel(), face, 3, seed=5, num_samples=200)
    b = explain(RegionModel(), face, 3, seed=5, num_samples=200)
    c = explain(RegionModel(), face, 3, seed=6, num_samples=200)
    assert np.array_equal(a.segments, b.segments) and np.array_equal(a.weights, b.weights) and a.score == b.score
    assert not np.array_equal(a.weights, c.weights)


def test_positive_mask_overlaps_what_the_toy_model_looks_at(face):
    result = explain(RegionModel(), face, 3, seed=0, num_samples=500)
    positive, negative = result.masks(3)
    region = np.zeros((48, 48), bool)
    region[30:42, 12:36] = True
    assert positive.any()
    assert (positive & region).sum() / positive.sum() > 0.6  # most of the green lies on the looked-at region
    assert not (negative & region).any() or (negative & region).sum() < 0.2 * negative.sum()
    assert result.score > 0.5


def naive_occlusion(model, face, target, box, stride, fill):
    """One forward pass per position, the box written by hand with explicit clipping."""
    size = face.shape[0]
    centres = range(0, size, stride)
    heat = np.zeros((len(centres), len(centres)))
    for i, y in enumerate(centres):
        for j, x in enumerate(centres):
            image = face.copy()
            top, left = max(y - box // 2, 0), max(x - box // 2, 0)
            image[top:min(y - box // 2 + box, size), left:min(x - box // 2 + box, size)] = fill
            with torch.inference_mode():
                logits = model(torch.tensor(image, dtype=torch.float32)[None, None])
            heat[i, j] = torch.softmax(logits.double(), 1)[0, target].item()
    return heat


@pytest.mark.parametrize("box,stride,fill", [(15, 1, 1.0), (4, 3, 0.0), (47, 5, 0.5)])
def test_occlusion_equals_a_naive_loop_including_the_borders(model, box, stride, fill):
    face = np.random.default_rng(3).uniform(0, 1, (48, 48))
    result = occlusion(model, face, 2, box=box, stride=stride, fill=fill, batch_size=7)
    expected = naive_occlusion(model, face, 2, box, stride, fill)
    assert result.heatmap.shape == expected.shape
    assert np.allclose(result.heatmap, expected, atol=1e-6)


def test_lowest_probability_image_is_where_the_heatmap_points(face):
    result = occlusion(RegionModel(), face, 3, box=15, stride=1, fill=0.0)
    y, x = result.lowest
    assert result.heatmap[y, x] == result.heatmap.min()
    expected = face.copy()
    expected[slice(*box_bounds(y, 15)), slice(*box_bounds(x, 15))] = 0.0
    assert np.allclose(result.lowest_image, expected.astype(np.float32))
    assert 30 <= y <= 41 and 12 <= x <= 35  # a black box hurts most on the bright rewarded region


def test_box_is_centred_and_clipped():
    assert box_bounds(0, 15) == (0, 8) and box_bounds(47, 15) == (40, 48) and box_bounds(20, 15) == (13, 28)
    assert box_bounds(20, 4) == (18, 22)


def test_confusion_matrix_equals_a_hand_count():
    labels = np.array([0, 0, 0, 1, 1, 2, 6, 6, 6, 6])
    predicted = np.array([0, 0, 1, 1, 0, 2, 6, 2, 2, 6])
    result = confusion_matrix(labels, predicted)
    expected = np.zeros((7, 7), int)
    expected[0, 0], expected[0, 1], expected[1, 1], expected[1, 0] = 2, 1, 1, 1
    expected[2, 2], expected[6, 6], expected[6, 2] = 1, 2, 2
    assert np.array_equal(result.counts, expected)
    assert np.allclose(result.rates[0], [2 / 3, 1 / 3, 0, 0, 0, 0, 0]) and np.allclose(result.rates[3], 0)
    assert np.allclose(result.per_class_accuracy, [2 / 3, 1 / 2, 1, 0, 0, 0, 1 / 2])
    assert result.accuracy == 0.6
    assert result.largest_confusions(2) == [(1, 0, 1, 0.5), (6, 2, 2, 0.5)]
