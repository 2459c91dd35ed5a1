import numpy as np
import pytest

from generator.errors import InputError
from generator.explain.regions import region_mass, template_parts
from generator.data.synth import PART_ID
from generator.imageset import pick_images


def _probs(rows):
    """One-hot-ish probabilities from (predicted class, confidence) per row."""
    out = np.zeros((len(rows), 7))
    for k, (c, p) in enumerate(rows):
        out[k] = (1 - p) / 6
        out[k, c] = p
    return out


def test_first_confident_correct_validation_image_per_class():
    labels = np.array([0, 0, 0, 1, 2, 3, 4, 5, 6, 1])
    probs = _probs([(0, 0.9), (0, 0.95), (0, 0.99), (1, 0.4), (2, 0.8), (3, 0.8), (4, 0.8), (5, 0.8), (6, 0.8),
                    (1, 0.7)])
    validation = np.arange(1, 10)  # row 0 is a training image: never picked although it qualifies
    chosen = pick_images(probs, labels, validation, np.arange(10) + 100, 0.5, [])
    assert chosen.positions.tolist() == [1, 9, 4, 5, 6, 7, 8]
    assert chosen.rows.tolist() == [101, 109, 104, 105, 106, 107, 108]
    assert chosen.notes == []
    assert np.allclose(chosen.probabilities, probs[chosen.positions, np.arange(7)])


def test_fallbacks_are_noted():
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 6])
    # class 0 correct but unsure; class 1 never correct; the rest confident.
    probs = _probs([(0, 0.3), (2, 0.9), (2, 0.9), (3, 0.9), (4, 0.9), (5, 0.9), (6, 0.9), (6, 0.9)])
    chosen = pick_images(probs, labels, np.arange(8), np.arange(8), 0.5, [])
    assert chosen.positions.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert chosen.notes == [(0, "below_confidence"), (1, "none_correct")]


def test_fixed_rows_and_their_errors():
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 0])
    probs = _probs([(c, 0.9) for c in labels])
    rows = np.arange(8) * 10
    chosen = pick_images(probs, labels, np.arange(8), rows, 0.5, [70, 10, 20, 30, 40, 50, 60])
    assert chosen.positions.tolist() == [7, 1, 2, 3, 4, 5, 6] and chosen.notes == []
    with pytest.raises(InputError, match=r"^images.indices: row 75 \(class 0\) is not a row of the data, expected a data row number \(0-based\) among those loaded: 0-70, 8 of them$"):
        pick_images(probs, labels, np.arange(8), rows, 0.5, [75, 10, 20, 30, 40, 50, 60])
    with pytest.raises(InputError, match=r"expected 7 row numbers, one per class in class order, found 2"):
        pick_images(probs, labels, np.arange(8), rows, 0.5, [0, 10])


def test_region_mass_and_lift():
    parts = template_parts()
    mouth = parts == PART_ID["mouth"]
    inside = np.where(mouth, 1.0, 0.0)
    mass = region_mass(inside, parts)
    assert mass.top == "mouth" and mass.share["mouth"] == 1.0
    assert np.isclose(mass.lift("mouth"), 1 / mouth.mean())
    uniform = region_mass(np.ones((48, 48)), parts)
    assert np.isclose(sum(uniform.share.values()), 1.0)
    for region in uniform.share:
        assert np.isclose(uniform.lift(region), 1.0)


def test_a_class_with_no_image_is_absent_and_the_others_are_picked():
    """No face of class 2 anywhere: no index could pick one, so the set holds the six others, in class
    order, and names class 2 absent. A class missing only from the validation split still gets a training face."""
    labels = np.array([0, 1, 3, 4, 5, 6, 6, 4])
    probs = _probs([(c, 0.9) for c in labels])
    validation = np.arange(6)  # class 6's face at 5; the extra 4 at 7 is a training image, never picked
    chosen = pick_images(probs, labels, validation, np.arange(8) + 10, 0.5, [])
    assert chosen.absent == (2,)
    assert chosen.targets.tolist() == [0, 1, 3, 4, 5, 6]
    assert chosen.positions.tolist() == [0, 1, 2, 3, 4, 5] and chosen.rows.tolist() == [10, 11, 12, 13, 14, 15]
    assert np.allclose(chosen.probabilities, 0.9) and chosen.notes == []
    only_training = pick_images(probs, labels, np.arange(5), np.arange(8), 0.5, [])  # no validation face of 6
    assert only_training.absent == (2,) and only_training.positions.tolist() == [0, 1, 2, 3, 4, 5]
    assert only_training.notes == [(6, "not_in_validation")]


def test_data_without_any_labelled_face_is_an_input_error():
    with pytest.raises(InputError, match=r"^the data has no face of any class, expected rows labelled 0-6$"):
        pick_images(np.zeros((0, 7)), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), 0.5, [])
