"""The input probe and model.classes, on the demo CNN and a CSV of synthetic faces (real labels, as far as the
generator can tell): a model whose outputs are in alphabetical order, or that is fed raw 0-255 pixels, is caught
with the exact setting; the correct settings never fire; an 8-output model with contempt dropped is the 7-output
model."""
import copy

import numpy as np
import pytest
import torch

from conftest import QUICK, quick_tables, run_cli, snapshot
from generator.config import settings_from_table
from generator.data import synth
from generator.data.fer2013 import write_csv
from generator.errors import InputError
from generator.imageset import predict
from generator.inputs import load_data
from generator.models.classes import ALPHABETICAL, FER2013, resolve
from generator.models.fast import inference_model
from generator.models.load import NormalisedModel, load_model
from generator.models.train import DEMO_WEIGHTS
from generator.probe import predict_and_probe, probe

FACES = 2100
CLASS_PAGES = [f"{page}{suffix}.md" for page in ("q1", "q2", "q3", "q4", "trust") for suffix in ("", ".en")]


def _last_layer(state: dict) -> tuple[str, str]:
    weight = [k for k in state if k.startswith("classifier") and k.endswith("weight")][-1]
    return weight, weight[:-len("weight")] + "bias"


def _reordered(checkpoint: dict, rows: list[int]) -> dict:
    """The demo checkpoint with its output rows taken in ``rows``' order (more rows: extra outputs)."""
    out = copy.deepcopy(checkpoint)
    weight, bias = _last_layer(out["state_dict"])
    out["state_dict"][weight] = out["state_dict"][weight][rows]
    out["state_dict"][bias] = out["state_dict"][bias][rows]
    return out


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """faces.csv (the course's format, no Usage: the validation split is a seeded hold-out), the demo checkpoint
    as demo.pt, and its output rows in alphabetical order as alphabetical.pt."""
    root = tmp_path_factory.mktemp("probe")
    images, labels, _ = synth.render_dataset(5, range(FACES))
    write_csv(root / "faces.csv", images, labels)
    checkpoint = torch.load(DEMO_WEIGHTS, weights_only=False)
    torch.save(checkpoint, root / "demo.pt")
    torch.save(_reordered(checkpoint, [FER2013.index(name) for name in ALPHABETICAL]), root / "alphabetical.pt")
    return root


def _settings(root, seed=0, **model):
    table = {"seed": seed, "model": {"path": "demo.pt", **model},
             "data": {"csv": "faces.csv", "validation_fraction": 0.25}}
    return settings_from_table(table, root)


def _probe(root, seed=0, **model):
    settings = _settings(root, seed, **model)
    loaded = load_model(settings.model, root)
    return predict_and_probe(settings, loaded.model, inference_model(loaded.model), load_data(settings))[1]


def test_the_alphabetical_model_is_caught_with_the_setting_that_fixes_it(folder, tmp_path):
    (folder / "pyproject.toml").write_text('[tool.generator.model]\npath = "alphabetical.pt"\n'
                                           '[tool.generator.data]\ncsv = "faces.csv"\nvalidation_fraction = 0.25\n')
    site = tmp_path / "site"
    before = snapshot(folder, folders=True)
    result = run_cli(folder, "build", "--out", str(site))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert 'with model.classes = "alphabetical": set it, or set model.probe = false to build as configured' in lines[0]
    assert lines[0].startswith("error: the model scores ")
    low, high = (int(part.split("%")[0].split()[-1]) for part in lines[0].split(" as configured, "))
    assert high - low >= 10
    assert not site.exists() and snapshot(folder, folders=True) == before  # nothing written, not even the cache


def test_raw_pixels_are_caught_with_input_scale_255(folder):
    with pytest.raises(InputError, match=r"with model.input_scale = 255: set it, or set model.probe = false"):
        _probe(folder, input_scale=1.0)


def test_model_probe_false_builds_as_configured(folder):
    table = _probe(folder, input_scale=1.0, probe=False)
    assert table["status"] == "off" and table["rows"] == []


def test_the_correct_settings_never_fire_over_20_validation_choices(folder):
    """The validation split is a stratified hold-out seeded by ``seed``, and the probe's choice of faces too."""
    settings = _settings(folder)
    loaded = load_model(settings.model, folder)
    fast = inference_model(loaded.model)
    data = load_data(settings)
    probabilities = predict(fast, data.dataset.images)  # every face's; each seed takes its own validation rows
    for seed in range(20):
        seeded = _settings(folder, seed)
        table = probe(seeded, loaded.model, fast, load_data(seeded), probabilities)
        assert table["status"] == "checked" and table["faces"] == pytest.approx(FACES / 4, abs=4)
        assert table["configured"] > 0.75, seed
        assert not any(row["clearly_better"] for row in table["rows"]), (seed, table["rows"])
        settings_seen = {row["setting"] for row in table["rows"]}
        assert 'model.classes = "alphabetical"' in settings_seen and "model.input_scale = 1" in settings_seen
        assert 'model.normalise = "per-face"' in settings_seen


def test_with_model_classes_alphabetical_every_class_page_equals_the_demos(folder, tmp_path):
    quick = "".join(f"[tool.generator.{name}]\n" + "\n".join(lines) + "\n"
                    for name, lines in quick_tables(QUICK).items())
    data = '[tool.generator.data]\ncsv = "faces.csv"\nvalidation_fraction = 0.25\n'
    sites = {}
    for name, model in (("demo", 'path = "demo.pt"'),
                        ("alphabetical", 'path = "alphabetical.pt"\nclasses = "alphabetical"')):
        (folder / "pyproject.toml").write_text(f"[tool.generator.model]\n{model}\n{data}{quick}")
        sites[name] = tmp_path / name
        result = run_cli(folder, "build", "--out", str(sites[name]), timeout=1800)
        assert result.returncode == 0, result.stderr
    for page in CLASS_PAGES:
        _same_but_the_randomisation_check((sites["alphabetical"] / page).read_text(),
                                          (sites["demo"] / page).read_text(), page)
    index = (sites["alphabetical"] / "index.en.md").read_text()
    assert "the alphabetical order in which Keras's `flow_from_directory`" in index
    assert "4 `neutral`, 5 `sad`, 6 `surprise`" in index
    assert "## Input probe" in (sites["alphabetical"] / "reproducibility.en.md").read_text()
    assert "## 輸入檢查" in (sites["alphabetical"] / "reproducibility.md").read_text()
    assert "**Outputs:**" not in (sites["demo"] / "index.en.md").read_text()


def _without_sanity_section(page: str) -> list[str]:
    """The page's lines without the trust page's section on the randomisation check ({ #sanity })."""
    lines, out, inside = page.splitlines(), [], False
    for line in lines:
        if line.startswith("## "):
            inside = "{ #sanity }" in line
        if not inside:
            out.append(line)
    return out


def _same_but_the_randomisation_check(page: str, reference: str, name: str) -> None:
    """Equal line by line, except the randomisation check's numbers (every line with a ρ, and the sanity column of
    the trust table): that check re-draws the last layer's weights, and a re-drawn row scores another class in
    a model whose rows were reordered, so its randomised models differ from the demo's by design."""
    ours, theirs = _without_sanity_section(page), _without_sanity_section(reference)
    assert len(ours) == len(theirs), name
    for mine, other in zip(ours, theirs):
        if mine == other or "ρ" in mine:
            continue
        cells, reference_cells = mine.split("|"), other.split("|")
        differing = [k for k, (x, y) in enumerate(zip(cells, reference_cells)) if x != y]
        assert mine.startswith("|") and len(cells) == len(reference_cells) and differing == [3], (name, mine, other)


def test_an_eight_output_model_with_contempt_dropped_equals_the_seven_output_model(folder):
    """FER+'s order: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt; the contempt row is
    a copy of the happy row scaled up, so it would win every softmax it took part in."""
    checkpoint = torch.load(DEMO_WEIGHTS, weights_only=False)
    names = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
    rows = [FER2013.index(name) for name in ("neutral", "happy", "surprise", "sad", "angry", "disgust", "fear")]
    eight = _reordered(checkpoint, rows + [3])
    eight["kwargs"] = {**eight["kwargs"], "num_classes": 8}
    weight, bias = _last_layer(eight["state_dict"])
    eight["state_dict"][weight][7] *= 3
    eight["state_dict"][bias][7] += 5
    torch.save(eight, folder / "ferplus.pt")
    seven = load_model(_settings(folder).model, folder).model
    with pytest.raises(InputError, match=r"ferplus.pt: the model outputs shape \(5, 8\) for 5 faces, expected "
                                         r"\(5, 7\).*name them all in model.classes"):
        load_model(_settings(folder, path="ferplus.pt").model, folder)
    dropped = load_model(_settings(folder, path="ferplus.pt", classes=names).model, folder).model
    assert dropped.classes.dropped == ((7, "contempt"),)
    faces = torch.rand(6, 1, 48, 48, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        assert torch.allclose(dropped(faces), seven(faces), atol=1e-5)
        assert torch.allclose(torch.softmax(dropped(faces), 1), torch.softmax(seven(faces), 1), atol=1e-6)
    with pytest.raises(InputError, match=r"ferplus.pt: the model outputs shape \(5, 8\) for 5 faces, but "
                                         r"model.classes names 7 outputs, expected \(5, 7\): name every output"):
        load_model(_settings(folder, path="ferplus.pt", classes=names[:7]).model, folder)


def test_per_face_normalisation_by_hand():
    inner = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48 * 48, 7))
    model = NormalisedModel(inner, 255.0, 0.3, 0.2, "logits", normalise="per-face").eval()
    faces = torch.rand(4, 1, 48, 48, dtype=torch.float64).float()
    flat = faces.reshape(4, -1).double()
    standardised = (flat - flat.mean(1, keepdim=True)) / flat.std(1, keepdim=True, unbiased=False)
    with torch.no_grad():
        expected = inner(standardised.float())
        assert torch.allclose(model(faces), expected, atol=1e-5)
        assert torch.allclose(model(faces * 0.5 + 0.2), expected, atol=1e-4)  # brightness and contrast drop out
        assert torch.isfinite(model(torch.full((1, 1, 48, 48), 0.5))).all()  # a flat face: zeros, not NaN
    x = faces.clone().requires_grad_(True)
    model(x)[:, 2].sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("value,expected", [
    ('["angry", "disgust", "fear", "happy", "sad", "surprise", "happiness"]',
     "expected each output named once, but outputs 3 ('happy') and 6 ('happiness') both name happy"),
    ('["angry", "disgust", "fear", "happy", "sad", "suprise", "neutral"]',
     "expected all 7 classes among the names, but surprise is missing; 'suprise' matches no class"),
    ('"ferplus"', 'expected "fer2013", "alphabetical", or a list'),
])
def test_model_classes_errors_are_one_line(folder, tmp_path, value, expected):
    (folder / "pyproject.toml").write_text(f'[tool.generator.model]\npath = "demo.pt"\nclasses = {value}\n')
    result = run_cli(folder, "build", "--out", str(tmp_path / "site"))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert "model: classes = " in result.stderr and expected in result.stderr


def test_resolve_reads_alphabetical_and_ferplus_orders():
    assert resolve("alphabetical").order == (0, 1, 2, 3, 5, 6, 4)
    ferplus = resolve(["Neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"])
    assert ferplus.order == (4, 5, 6, 1, 3, 2, 0) and ferplus.dropped == ((7, "contempt"),)
