"""Our LIME builds its samples in one array operation; everything it reports must equal the lime package's own
explainer, run the package's way (its per-sample loop, its batch of 10), for the same seed."""
import contextlib
import io

import numpy as np
import pytest
from lime import lime_image

from generator.explain.lime_explain import classifier_fn, explain, explainer, segmenter

# Both sides score their samples in batches of the package's 10: on some CPUs a float32 conv's last bit depends on
# the batch size (2.98e-8 between batches of 10 and 32 here), which says nothing about how the samples are built.
PACKAGE_BATCH = 10


@pytest.fixture
def face():
    rng = np.random.default_rng(3)
    return np.clip(0.45 + 0.2 * rng.standard_normal((48, 48)), 0, 1)


def _package(model, face, target, seed, segmentation, num_samples, hide):
    with contextlib.redirect_stderr(io.StringIO()):
        return lime_image.LimeImageExplainer(random_state=seed).explain_instance(
            face, classifier_fn(model, PACKAGE_BATCH), labels=(target,), top_labels=None, hide_color=hide,
            num_features=10_000, num_samples=num_samples, batch_size=PACKAGE_BATCH, segmentation_fn=segmentation,
            random_seed=seed)


@pytest.mark.parametrize("seed", [0, 7])
def test_explain_equals_the_lime_package_for_the_same_seed(model, face, seed):
    ours = explain(model, face, 2, seed=seed, num_samples=300, batch_size=PACKAGE_BATCH)
    theirs = _package(model, face, 2, seed, segmenter(50, 8.0, seed), 300, float(face.mean()))
    weights = np.zeros(theirs.segments.max() + 1)
    for segment, weight in theirs.local_exp[2]:
        weights[segment] = weight
    assert np.array_equal(ours.segments, theirs.segments)
    np.testing.assert_allclose(ours.weights, weights, rtol=0, atol=1e-12)
    assert ours.score == pytest.approx(theirs.score, abs=1e-12)
    assert ours.local_pred == pytest.approx(float(np.ravel(theirs.local_pred)[0]), abs=1e-12)


def test_segment_ids_past_the_columns_are_never_hidden_as_in_the_package(model, face):
    """lime hides segment z when sample column z is 0, and ignores ids it has no column for: so must we."""
    def stripes(image):  # ids 0, 1, 2 and 5: four segments, so columns 0-3, and id 5 has no column
        out = np.zeros(image.shape[:2], int)
        out[12:24], out[24:36], out[36:] = 1, 2, 5
        return out
    with contextlib.redirect_stderr(io.StringIO()):
        ours = explainer(4).explain_instance(face, classifier_fn(model, PACKAGE_BATCH), labels=(1,), top_labels=None,
                                             hide_color=0.0, num_features=10_000, num_samples=50,
                                             segmentation_fn=stripes, random_seed=4)
    theirs = _package(model, face, 1, 4, stripes, 50, 0.0)
    ours_weights, their_weights = dict(ours.local_exp[1]), dict(theirs.local_exp[1])
    assert sorted(ours_weights) == sorted(their_weights) == [0, 1, 2, 3]
    for feature, weight in their_weights.items():
        assert ours_weights[feature] == pytest.approx(weight, abs=1e-12)
