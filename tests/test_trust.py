"""Trust numbers: sanity check, deletion/insertion, LIME stability, ground-truth scores."""
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import sobel

from conftest import LinearToy
from generator.config import ModelSettings
from generator.data import synth
from generator.explain.faithfulness import auc, curves, pixel_order, random_curves
from generator.explain.groundtruth import (decisive_mask, part_drops, part_rank_agreement, pointing_hit,
                                           relevance_mass_accuracy)
from generator.explain.sanity import cascading_randomisation, similarity, weight_layers
from generator.explain.saliency import saliency
from generator.explain.stability import jaccard, stability, top_k
from generator.models.load import load_model


@pytest.fixture(scope="module")
def demo():
    return load_model(ModelSettings(), Path(".")).model


@pytest.fixture(scope="module")
def faces():
    images, labels, parts = synth.render_dataset(0, [49, 99, 59])  # angry, disgust, happy validation faces
    return torch.from_numpy(images.astype(np.float32) / 255)[:, None], torch.from_numpy(labels), parts


def edge_detector(model, images, targets):
    """A 'method' that ignores the model: the Sobel edge magnitude of the input."""
    out = []
    for image in images[:, 0].numpy():
        magnitude = np.hypot(sobel(image, 0), sobel(image, 1))
        out.append(magnitude / magnitude.max())
    return np.stack(out)


def test_randomisation_fails_an_edge_detector_and_passes_gradients_on_a_trained_model(demo, faces):
    images, labels, _ = faces
    results = cascading_randomisation(demo, {"edges": edge_detector, "saliency": saliency}, images, labels, seed=0)
    assert results["edges"].layers == [name for name, _ in weight_layers(demo)]
    assert np.allclose(results["edges"].spearman, 1.0) and not results["edges"].passed
    assert results["saliency"].passed and results["saliency"].final_spearman < 0.5
    assert np.allclose(results["saliency"].spearman[0], 1.0)
    # the original model is untouched
    assert torch.equal(demo(images), load_model(ModelSettings(), Path(".")).model(images))


def test_similarity_of_a_map_with_itself_and_with_noise():
    a = np.random.default_rng(0).uniform(0, 1, (48, 48))
    assert np.allclose(similarity(a, a), (1.0, 1.0))
    rho, _ = similarity(a, np.random.default_rng(1).uniform(0, 1, (48, 48)))
    assert abs(rho) < 0.1
    assert np.isnan(similarity(np.zeros((48, 48)), a)[0])  # an all-zero Grad-CAM map has no ranking


def test_faces_with_a_constant_map_are_left_out_of_the_verdict():
    from generator.explain.sanity import SanityResult
    result = SanityResult(["a"], np.array([[1.0, 1.0], [0.2, np.nan]]), np.array([[1.0, 1.0], [0.1, 0.3]]))
    assert result.final_spearman == pytest.approx(0.2) and result.passed


def test_deletion_with_the_true_importance_beats_a_random_map():
    toy = LinearToy()
    face = np.random.default_rng(5).uniform(0, 1, (48, 48))
    contribution = toy.weight.numpy() * (face - face.mean())  # what deleting each pixel to mean gray removes
    truth = curves(toy, face, 0, pixel_order(contribution, seed=0))
    reference = random_curves(toy, face, 0, seed=0)
    assert truth.deletion_auc < reference.deletion_auc - 0.1
    assert truth.deletion[0] == pytest.approx(reference.deletion[0])  # same start: the face itself
    assert len(truth.deletion) == 49 and len(truth.insertion) == 49
    assert np.isclose(truth.deletion[-1], reference.deletion[-1])  # same end: all mean gray


def test_auc_and_pixel_order_by_hand():
    assert auc(np.array([1.0, 0.5, 0.0])) == pytest.approx(0.5)
    assert auc(np.array([1.0, 1.0])) == pytest.approx(1.0)
    order = pixel_order(np.array([[0.1, 0.9], [0.9, 0.0]]), seed=0)
    assert set(order[:2].tolist()) == {1, 2} and order[2:].tolist() == [0, 3]


def test_stability_metrics_equal_hand_computed_values():
    segments = np.array([[0, 1], [2, 3]])
    w1, w2, w3 = np.array([0.5, 0.4, -0.1, 0.0]), np.array([0.5, -0.2, 0.3, 0.1]), np.array([0.1, 0.2, 0.3, 0.4])
    assert top_k(w1, 2) == {0, 1} and top_k(w2, 2) == {0, 2} and top_k(w3, 2) == {3, 2}
    assert jaccard({0, 1}, {0, 2}) == pytest.approx(1 / 3)
    result = stability([w1, w2, w3], segments, k=2)
    # pairs: (1,2) J=1/3, (1,3) J=0, (2,3) J=1/3
    assert result.jaccard == pytest.approx((1 / 3 + 0 + 1 / 3) / 3)
    # Spearman by hand: ranks w1 [4,3,1,2], w2 [4,1,3,2], w3 [1,2,3,4]
    def rho(a, b):
        d = np.array(a) - np.array(b)
        return 1 - 6 * (d ** 2).sum() / (4 * 15)
    expected = (rho([4, 3, 1, 2], [4, 1, 3, 2]) + rho([4, 3, 1, 2], [1, 2, 3, 4]) + rho([4, 1, 3, 2], [1, 2, 3, 4])) / 3
    assert result.spearman == pytest.approx(expected)
    assert result.pixel_std[0, 0] == pytest.approx(np.std([0.5, 0.5, 0.1]))


def test_relevance_mass_is_one_inside_the_mask_and_chance_for_a_uniform_map(faces):
    _, labels, parts = faces
    mask = decisive_mask(parts[2], int(labels[2]))
    assert mask.any()
    assert relevance_mass_accuracy(mask.astype(float), mask) == 1.0
    assert relevance_mass_accuracy(np.ones((48, 48)), mask) == pytest.approx(mask.mean())
    inside = np.where(mask, 0.2, 0.0)
    inside[np.unravel_index(np.flatnonzero(mask)[0], mask.shape)] = 1.0
    assert pointing_hit(inside, mask) and not pointing_hit(np.where(mask, 0.0, 1.0), mask)


def test_part_check_finds_the_mouth_for_a_happy_face(demo, faces):
    _, labels, parts = faces
    drops = part_drops(demo, seed=0, row=59, target=3)
    assert drops.parts == ("brows", "eyes", "nose", "mouth")
    assert np.argmax(drops.drops) == 3  # making the mouth neutral costs 'happy' the most
    mouth_map = (parts[2] == synth.PART_ID["mouth"]).astype(float)
    assert part_rank_agreement(mouth_map, parts[2], drops) > 0
