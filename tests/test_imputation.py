"""ROAD's noisy linear imputation and the batched deletion/insertion curves built on it."""
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.sparse import lil_matrix
from scipy.sparse.linalg import spsolve

from generator.explain import faithfulness as faith
from generator.explain.imputation import NOISE_STD, impute, solve
from generator.models.fast import inference_model
from conftest import LinearToy, tiny_model

DIRECT = [(-1, 0), (1, 0), (0, -1), (0, 1)]
DIAGONAL = [(-1, -1), (-1, 1), (1, -1), (1, 1)]


def neighbour_mean(image, y, x, skip=()):
    """ROAD's weighted mean of (y, x)'s neighbours by hand: 1/6 direct, 1/12 diagonal, ``skip`` left out of the sum
    (their weight stays in the total)."""
    total = value = 0.0
    for offsets, weight in ((DIRECT, 1 / 6), (DIAGONAL, 1 / 12)):
        for dy, dx in offsets:
            if 0 <= y + dy < image.shape[0] and 0 <= x + dx < image.shape[1]:
                total += weight
                if (y + dy, x + dx) not in skip:
                    value += weight * image[y + dy, x + dx]
    return value, total


def test_one_removed_pixel_is_the_weighted_mean_of_its_neighbours():
    image = np.random.default_rng(0).uniform(0, 1, (1, 5, 5))
    for y, x in [(2, 2), (0, 0), (0, 3)]:  # inside, a corner (weights 5/12 in all), an edge (2/3)
        removed = np.zeros_like(image, bool)
        removed[0, y, x] = True
        value, total = neighbour_mean(image[0], y, x)
        out = solve(image, removed)
        assert out[0, y, x] == pytest.approx(value / total, abs=1e-6)
        assert np.array_equal(np.delete(out.ravel(), y * 5 + x), np.delete(image.ravel(), y * 5 + x))
    assert neighbour_mean(image[0], 2, 2)[1] == pytest.approx(1.0)


def test_a_two_pixel_hole_solves_the_hand_written_two_by_two_system():
    image = np.random.default_rng(1).uniform(0, 1, (1, 6, 6))
    removed = np.zeros_like(image, bool)
    removed[0, 2, 2] = removed[0, 2, 3] = True  # direct neighbours: each one's equation holds the other at 1/6
    s1, _ = neighbour_mean(image[0], 2, 2, skip={(2, 3)})
    s2, _ = neighbour_mean(image[0], 2, 3, skip={(2, 2)})
    # x1 - x2 / 6 = s1 and x2 - x1 / 6 = s2
    x1, x2 = np.linalg.solve([[1, -1 / 6], [-1 / 6, 1]], [s1, s2])
    out = solve(image, removed)
    assert out[0, 2, 2] == pytest.approx(x1, abs=1e-6) and out[0, 2, 3] == pytest.approx(x2, abs=1e-6)


def scipy_imputation(image, removed):
    """The same system assembled pixel by pixel and solved exactly by scipy's sparse LU, as ROAD does."""
    unknown = np.argwhere(removed)
    index = {tuple(p): k for k, p in enumerate(unknown)}
    a, b = lil_matrix((len(unknown), len(unknown))), np.zeros(len(unknown))
    for k, (y, x) in enumerate(unknown):
        for offsets, weight in ((DIRECT, 1 / 6), (DIAGONAL, 1 / 12)):
            for dy, dx in offsets:
                if 0 <= y + dy < image.shape[0] and 0 <= x + dx < image.shape[1]:
                    a[k, k] += weight
                    if (y + dy, x + dx) in index:
                        a[k, index[(y + dy, x + dx)]] -= weight
                    else:
                        b[k] += weight * image[y + dy, x + dx]
    out = image.copy()
    out[removed] = spsolve(a.tocsc(), b)
    return out


def test_batched_solver_agrees_with_scipy_on_holes_scattered_and_large():
    rng = np.random.default_rng(2)
    images = gaussian_filter(rng.uniform(0, 1, (4, 48, 48)), (0, 2, 2))
    removed = np.zeros(images.shape, bool)
    removed[0] = rng.uniform(size=(48, 48)) < 0.3
    removed[1] = rng.uniform(size=(48, 48)) < 0.97   # a few scattered kept pixels
    removed[2, 4:44, 2:40] = True                    # one large hole
    removed[3] = True
    removed[3, 47, 0] = False                        # one kept pixel: the solution is flat at its value
    out = solve(images, removed)
    for k in range(4):
        assert np.abs(out[k] - scipy_imputation(images[k], removed[k])).max() < 1e-3
    assert np.allclose(out[3], images[3, 47, 0], atol=1e-3)


def test_noise_goes_on_removed_pixels_only_and_an_empty_image_takes_its_gray():
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 1, (2, 48, 48))
    removed = np.stack([rng.uniform(size=(48, 48)) < 0.5, np.ones((48, 48), bool)])
    noise = rng.normal(0, NOISE_STD, images.shape)
    out = impute(images, removed, np.array([0.3, 0.6]), noise)
    assert np.array_equal(out[0][~removed[0]], images[0][~removed[0]])
    assert np.allclose(out[0][removed[0]] - solve(images, removed)[0][removed[0]], noise[0][removed[0]])
    assert np.allclose(out[1], 0.6 + noise[1])


def naive_curves(model, faces, targets, orders, per_step, seed):
    """One face, one order, one step and one image at a time: the removed pixels picked from the order by hand."""
    steps = -(-faces[0].size // per_step)
    deletion = np.zeros((*orders.shape[:2], steps + 1))
    insertion = np.zeros_like(deletion)
    for n, (face, target) in enumerate(zip(faces, targets)):
        for m, order in enumerate(orders[n]):
            noise = faith._noise(seed, n, m, (steps + 1, *face.shape))
            for step in range(steps + 1):
                taken = np.zeros(face.size, bool)
                taken[order[:step * per_step]] = True
                taken = taken.reshape(face.shape)
                for curve, removed, out in ((0, taken, deletion), (1, ~taken, insertion)):
                    image = impute(face[None], removed[None], np.array([face.mean()]), noise[curve, step][None])
                    with torch.no_grad():
                        logits = model(torch.from_numpy(image.astype(np.float32))[:, None])
                    out[n, m, step] = torch.softmax(logits.double(), dim=1)[0, target]
    return deletion, insertion


def test_curves_many_equals_a_naive_loop_over_faces_orders_and_steps(monkeypatch):
    monkeypatch.setattr(faith, "PAIRS_PER_CHUNK", 3)  # chunks that split a face's orders
    monkeypatch.setattr(faith, "FORWARD_BATCH", 7)    # forward batches that split a curve
    model = inference_model(tiny_model(0).eval())
    rng = np.random.default_rng(4)
    faces = gaussian_filter(rng.uniform(0, 1, (2, 48, 48)), (0, 1.5, 1.5))
    targets = np.array([2, 5])
    orders = np.stack([[rng.permutation(48 * 48), faith.pixel_order(faces[n], 0)] for n in range(2)])
    deletion, insertion = faith.curves_many(model, faces, targets, orders, per_step=384, seed=7)
    assert deletion.shape == insertion.shape == (2, 2, 7) and deletion.dtype == np.float64
    want_deletion, want_insertion = naive_curves(model, faces, targets, orders, 384, seed=7)
    assert np.allclose(deletion, want_deletion, rtol=0, atol=1e-6)
    assert np.allclose(insertion, want_insertion, rtol=0, atol=1e-6)
    assert np.allclose(deletion[:, :, 0], insertion[:, :, -1])  # both are the face itself
    # another seed changes the noise, hence the curves; the same seed repeats them exactly
    assert not np.array_equal(faith.curves_many(model, faces, targets, orders, 384, seed=8)[0], deletion)
    assert np.array_equal(faith.curves_many(model, faces, targets, orders, 384, seed=7)[0], deletion)


def todays_curves(model, face, target, order, per_step):
    """The first report's deletion and insertion, written out: mean gray fill, insertion from the face blurred."""
    steps = -(-face.size // per_step)
    blurred = gaussian_filter(face, 3.0, mode="nearest")
    deletion, insertion = [], []
    for step in range(steps + 1):
        taken = np.zeros(face.size, bool)
        taken[order[:step * per_step]] = True
        taken = taken.reshape(face.shape)
        deletion.append(np.where(taken, face.mean(), face))
        insertion.append(np.where(taken, face, blurred))
    with torch.no_grad():
        def p(images):
            x = torch.from_numpy(np.stack(images).astype(np.float32))[:, None]
            return torch.softmax(model(x).double(), dim=1)[:, target].numpy()
        return p(deletion), p(insertion)


def test_mean_imputation_reproduces_the_first_reports_curves():
    model = inference_model(tiny_model(1).eval())
    rng = np.random.default_rng(5)
    faces = rng.uniform(0, 1, (2, 48, 48))
    orders = np.stack([[rng.permutation(48 * 48) for _ in range(3)] for _ in range(2)])
    deletion, insertion = faith.curves_many(model, faces, np.array([0, 6]), orders, 48, imputation="mean")
    for n in range(2):
        for m in range(3):
            want = todays_curves(model, faces[n], [0, 6][n], orders[n, m], 48)
            # float32 forward passes over batches of other sizes move the last bits (about 1e-9) at most
            assert np.allclose(deletion[n, m], want[0], rtol=0, atol=1e-8)
            assert np.allclose(insertion[n, m], want[1], rtol=0, atol=1e-8)


def test_under_road_a_linear_models_true_importance_beats_random_orders():
    toy = LinearToy()
    face = np.random.default_rng(6).uniform(0, 1, (48, 48))
    # what removing each pixel costs class 0 under a smooth fill: its weight times its distance from the local mean
    local = gaussian_filter(face, 1.0)
    truth = faith.pixel_order(toy.weight.numpy() * (face - local), seed=0)
    orders = np.concatenate([truth[None], faith.random_orders(0, 5)])[None]
    deletion, insertion = faith.curves_many(toy, face[None], np.array([0]), orders, imputation="road")
    deletion_auc = [faith.auc(c) for c in deletion[0]]
    insertion_auc = [faith.auc(c) for c in insertion[0]]
    assert deletion_auc[0] < min(deletion_auc[1:]) - 0.05
    assert insertion_auc[0] > max(insertion_auc[1:]) + 0.05


def test_unknown_imputation_is_refused():
    with pytest.raises(ValueError, match="imputation 'blur': expected one of road, mean"):
        faith.curves_many(LinearToy(), np.zeros((1, 48, 48)), np.array([0]), np.arange(2304)[None, None],
                          imputation="blur")
