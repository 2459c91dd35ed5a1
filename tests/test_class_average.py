"""Question 1's class averages: the faces that enter, the mean maps against a naive loop over faces, part lifts
face by face against a hand computation, and the page that states n (both languages)."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from conftest import QUICK, ROOT, quick_tables, tiny_model, write_project
from generator.build import build
from generator.config import Settings, load_settings
from generator.data import synth
from generator.data.fer2013 import as_model_input, write_csv
from generator.data.synth import PART_ID
from generator.explain import class_average
from generator.explain.attributions import default_gradcam_layer, gradcam, integrated_gradients, module_named, smoothgrad
from generator.questions.q1 import seeded_methods
from generator.explain.class_average import class_averages, densest, face_seeds, part_lifts
from generator.explain.saliency import saliency
from generator.imageset import predict
from generator.inputs import load_data
from generator.models.load import NormalisedModel, load_model

SAMPLES, NOISE, BASELINE, STEPS = 3, 0.2, "black", 4


@pytest.fixture
def wrapped():
    return NormalisedModel(tiny_model(), 255.0, 0.0, 1.0, "logits").eval()


def test_class_averages_equal_a_naive_loop_over_faces_calling_each_method(wrapped, monkeypatch):
    """The batched averages against each face explained alone with the per-face methods, then a plain mean. Two
    faces per backward pass, so faces of several classes share batches and SmoothGrad's noise must follow each
    face, not its place in the batch."""
    monkeypatch.setattr(class_average, "IMAGES_PER_PASS", 2 * SAMPLES)
    images, labels, parts = synth.render_dataset(2, range(40))
    rows = np.arange(1000, 1040)  # data rows differ from positions: the noise seeds follow the rows
    chosen = [np.flatnonzero(labels == c)[:k] for c, k in zip(range(7), (3, 1, 2, 0, 4, 2, 1))]
    layer = default_gradcam_layer(wrapped)[0]

    defaults = Settings()
    methods = seeded_methods(replace(defaults, attribution=replace(
        defaults.attribution, smoothgrad_samples=SAMPLES, smoothgrad_noise=NOISE, ig_baseline=BASELINE,
        ig_steps=STEPS)))

    averages, each_face = class_averages(wrapped, methods, images, rows, parts, chosen, [9] * 7, 7, SAMPLES)
    starts = np.cumsum([0] + [len(p) for p in chosen])  # each face's maps, class by class: what trust scores
    for c, positions in enumerate(chosen):
        result = averages[c]
        assert result.n == len(positions) and result.rows.tolist() == rows[positions].tolist()
        if not len(positions):
            assert all(not m.any() for m in result.maps.values())
            assert not result.densest["saliency"].apart and result.densest["saliency"].difference.n == 0
            continue
        naive = {name: [] for name in ("saliency", "smoothgrad", "integrated_gradients", "gradcam")}
        for p in positions:
            x, t = as_model_input(images[p:p + 1]), torch.tensor([c])
            seed = int(np.random.SeedSequence([7, int(rows[p])]).generate_state(1)[0])
            naive["saliency"].append(saliency(wrapped, x, t)[0])
            naive["smoothgrad"].append(smoothgrad(wrapped, x, t, SAMPLES, NOISE, seed)[0])
            naive["integrated_gradients"].append(integrated_gradients(wrapped, x, t, BASELINE, STEPS)[0])
            naive["gradcam"].append(gradcam(wrapped, x, t, module_named(wrapped, layer))[0])
        for name, maps in naive.items():
            assert np.allclose(result.maps[name], np.mean(maps, axis=0), atol=1e-6), (c, name)
            assert np.allclose(each_face[name][starts[c]:starts[c + 1]], maps, atol=1e-6), (c, name)
        assert np.allclose(result.mean_face, images[positions].mean(axis=0) / 255.0)


def test_face_seeds_follow_the_row_not_the_batch():
    assert face_seeds(0, [5, 9]) == [face_seeds(0, [5])[0], face_seeds(0, [9])[0]]
    assert face_seeds(0, [5]) != face_seeds(1, [5]) and face_seeds(0, [5]) != face_seeds(0, [6])


def test_part_lifts_use_each_faces_own_masks_by_hand():
    """Two faces whose mouths lie in different places: each face's mouth holds all of its map's mass."""
    parts = np.full((2, 48, 48), PART_ID["face"], np.uint8)
    parts[0, 30:32, 10:20] = PART_ID["mouth"]   # 20 pixels
    parts[1, 36:40, 20:30] = PART_ID["mouth"]   # 40 pixels
    parts[:, 10:12, 10:18] = PART_ID["eyes"]    # 16 pixels on both
    maps = np.zeros((2, 48, 48))
    maps[0, 30, 10:15] = 1.0                    # 5 pixels of face 0's mouth
    maps[0, 10, 10] = 1.0                       # and one of its eyes: mass 6 in all
    maps[1, 36:40, 20:30] = 0.5                 # all of face 1's mouth: mass 20
    lifts = part_lifts(maps, parts)
    pixels = 48 * 48
    mouth0, eyes0 = (5 / 6) / (20 / pixels), (1 / 6) / (16 / pixels)
    mouth1, eyes1 = 1.0 / (40 / pixels), 0.0
    # PARTS_OF_FACE order: brows, eyes, nose, mouth; neither face has brows or a nose
    assert np.isnan(lifts[:, [0, 2]]).all()
    assert np.allclose(lifts[:, [1, 3]], [[eyes0, mouth0], [eyes1, mouth1]])
    result = densest(lifts, seed=0)
    assert result.top == "mouth" and result.second == "eyes"
    assert result.lifts["mouth"].mean == pytest.approx((mouth0 + mouth1) / 2)
    assert result.difference.mean == pytest.approx((mouth0 - eyes0 + mouth1 - eyes1) / 2)
    # face 1's map measured with face 0's masks would put none of its mass in the mouth
    assert part_lifts(maps[1:], parts[:1])[0, 3] == 0.0


def test_two_parts_are_apart_only_when_the_paired_interval_excludes_zero():
    rng = np.random.default_rng(0)
    clear = np.column_stack([rng.normal(1, 0.1, 30), rng.normal(2, 0.1, 30), rng.normal(1, 0.1, 30),
                             rng.normal(4, 0.1, 30)])
    result = densest(clear, seed=0)
    assert result.top == "mouth" and result.second == "eyes" and result.apart
    assert result.lifts["mouth"].low < 4 < result.lifts["mouth"].high
    # the mouth and the eyes swap from face to face: the same mean, a difference centred on 0
    swap = np.where(np.arange(30)[:, None] % 2 == 0, [1.0, 3.0, 1.0, 3.2], [1.0, 3.2, 1.0, 3.0])
    tied = densest(swap + rng.normal(0, 0.05, swap.shape), seed=0)
    assert {tied.top, tied.second} == {"eyes", "mouth"} and not tied.apart
    assert tied.difference.low < 0 < tied.difference.high
    assert not densest(clear[:1], seed=0).apart  # one face tells nothing


def _project(folder):
    """QUICK's settings, 3 faces per class averaged (the evaluation set), and a CSV of 70 training rows and 140 PublicTest rows of
    synthetic faces: 20 validation faces per class, so a class the tiny model gets right is capped."""
    tables = quick_tables(QUICK)
    tables["trust"].append("faces_per_class = 3")
    write_project(folder, author=['student_id = "b11901001"'], **tables)
    images, labels, _ = synth.render_dataset(5, range(210))
    write_csv(folder / "faces.csv", images, labels, ["Training"] * 70 + ["PublicTest"] * 140)
    return folder


def test_the_seven_class_averages_are_on_both_q1_pages_with_the_n_they_average(tmp_path):
    project = _project(tmp_path)
    settings = load_settings(project / "pyproject.toml")
    assert settings.trust.faces_per_class == 3 and settings.attribution.ig_steps == 8
    build(settings, ROOT / "templates")
    site = project / "site_src"
    # the expected n, independently: the model's own predictions on the validation faces, capped at 3
    data, loaded = load_data(settings), load_model(settings.model, settings.root)
    predicted = predict(loaded.model, data.dataset.images).argmax(1)
    val = data.validation
    available = [int(((data.dataset.labels[val] == c) & (predicted[val] == c)).sum()) for c in range(7)]
    assert len(val) == 140 and max(available) > 3  # some class is capped
    zh, en = (site / "q1.md").read_text(), (site / "q1.en.md").read_text()
    for c in range(7):
        path = f"figures/q1/average_{c}.png"
        assert (site / path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        n = min(3, available[c])
        assert f"({path})" in en and f"({path})" in zh
        assert f"the mean face of n = {n} correctly classified validation faces (of {available[c]})" in en
        assert f"n = {n} 張分類正確的驗證集人臉（共 {available[c]} 張）" in zh
    assert sorted(p.name for p in (site / "figures" / "q1").glob("average_*.png")) == [
        f"average_{c}.png" for c in range(7)]
    assert "No class average." in (site / "q4.en.md").read_text()
    assert "沒有類別平均。" in (site / "q4.md").read_text()
