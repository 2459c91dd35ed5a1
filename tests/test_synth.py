import hashlib

import numpy as np

from generator.cli import main
from generator.data import synth
from generator.data.fer2013 import load_csv


def test_same_seed_same_bytes_different_seed_different_faces():
    a = synth.render_dataset(3, range(14))
    b = synth.render_dataset(3, range(14))
    c = synth.render_dataset(4, range(14))
    for x, y in zip(a, b):
        assert x.tobytes() == y.tobytes()
    assert a[0].tobytes() != c[0].tobytes()
    assert a[1].tolist() == [k % 7 for k in range(14)]


def test_any_subset_renders_the_same_as_the_whole():
    whole = synth.render_dataset(0, range(20))
    part = synth.render_dataset(0, [5, 17])
    assert np.array_equal(part[0], whole[0][[5, 17]]) and np.array_equal(part[2], whole[2][[5, 17]])


def test_every_part_is_in_every_mask():
    _, _, parts = synth.render_dataset(0, range(21))
    for labels in parts:
        assert set(np.unique(labels)) == set(range(len(synth.PARTS)))


def test_neutralising_a_part_changes_pixels_only_inside_the_part_masks():
    """The masks cover the drawn parts: what a part's expression draws lies inside its mask (before or after).

    Where two parts touch (a lowered brow on a narrowed eye) a pixel can belong to the neighbour, so the bound is
    95% inside the part's own mask overall, and nothing at all on the bare face or the background.
    """
    changed_total = inside_total = checked = moved = 0
    for index in range(42):
        spec = synth.make_spec(0, index)
        face, labels = synth.render(spec)
        for part in synth.DECISIVE_PARTS[spec.label]:
            neutral, neutral_labels = synth.render(synth.neutralised(spec, {part}))
            changed = np.abs(face.astype(int) - neutral.astype(int)) > 3
            own = (labels == synth.PART_ID[part]) | (neutral_labels == synth.PART_ID[part])
            bare = (labels <= synth.PART_ID["face"]) & (neutral_labels <= synth.PART_ID["face"])
            moved += bool(changed.any())
            assert not (changed & bare).any(), (index, part)
            changed_total += changed.sum()
            inside_total += (changed & own).sum()
            checked += 1
    assert checked > 60 and moved >= 0.9 * checked  # a weak expression may leave a part almost neutral
    assert inside_total >= 0.95 * changed_total


def test_neutral_faces_have_no_decisive_part_and_others_do():
    assert synth.DECISIVE_PARTS[6] == ()
    assert all(synth.DECISIVE_PARTS[c] for c in range(6))
    assert "mouth" in synth.DECISIVE_PARTS[3] and "nose" in synth.DECISIVE_PARTS[1]


def test_synth_command_writes_identical_files_for_a_seed(tmp_path):
    for run in ("a", "b"):
        assert main(["synth", "--out", str(tmp_path / run / "faces.csv"), "--count", "30", "--seed", "2"]) == 0
    digest = {run: [hashlib.sha256((tmp_path / run / name).read_bytes()).hexdigest()
                    for name in ("faces.csv", "faces.masks.npz")] for run in "ab"}
    assert digest["a"] == digest["b"]
    data = load_csv(tmp_path / "a" / "faces.csv")
    images, labels, parts = synth.render_dataset(2, range(30))
    assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
    assert (data.usage == "PublicTest").sum() == 3
    masks = np.load(tmp_path / "a" / "faces.masks.npz")
    assert np.array_equal(masks["parts"], parts) and list(masks["part_names"]) == list(synth.PARTS)
