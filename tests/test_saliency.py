import numpy as np
import torch

from generator.explain.saliency import saliency


def test_matches_hand_computed_input_grad(model):
    images = torch.rand(5, 1, 48, 48)
    targets = torch.tensor([0, 3, 6, 2, 3])
    maps = saliency(model, images, targets)
    for k in range(5):
        x = images[k:k + 1].clone().requires_grad_(True)
        model(x)[0, targets[k]].backward()
        expected = x.grad[0, 0].abs().numpy()
        assert np.allclose(maps[k], expected / expected.max(), atol=1e-6)


def test_matches_captum_saliency(model):
    from captum.attr import Saliency
    images = torch.rand(3, 1, 48, 48)
    targets = torch.tensor([1, 4, 5])
    ours = saliency(model, images, targets)
    theirs = Saliency(model).attribute(images, target=targets, abs=True)[:, 0].detach().numpy()
    theirs = theirs / theirs.reshape(3, -1).max(1)[:, None, None]
    assert np.allclose(ours, theirs, atol=1e-6)


def test_leaves_input_unchanged_and_scales_each_map_to_one(model):
    images = torch.rand(2, 1, 48, 48)
    before = images.clone()
    maps = saliency(model, images, torch.tensor([0, 1]))
    assert torch.equal(images, before) and not images.requires_grad
    assert maps.shape == (2, 48, 48) and np.allclose(maps.max(axis=(1, 2)), 1.0) and maps.min() >= 0
