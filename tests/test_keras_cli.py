"""Keras models through the real command line: `layers` lists the Keras names, a whole build succeeds with only
model.path set (the course Sequential at 48x48, and a Keras 2 file of the mini-Xception: 64x64, separable convs, a
separate softmax), and each bad Keras input stops with one line, exit code 2, nothing written."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

if importlib.util.find_spec("keras") is None:
    pytest.skip('keras is not installed: pip install -e ".[keras]"', allow_module_level=True)

import keras2_h5  # noqa: E402
from conftest import QUICK, ROOT, quick_tables, run_cli, snapshot, write_project  # noqa: E402
from keras_models import NUMPY2_WARNING, keras, layers, sequential_model  # noqa: E402

pytestmark = pytest.mark.filterwarnings(NUMPY2_WARNING)


def _project(folder, model_file: str):
    """write_project's faces and QUICK settings, with a model table that holds only model.path."""
    write_project(folder, **quick_tables(QUICK))
    text = (folder / "pyproject.toml").read_text(encoding="utf-8")
    table = text.split("[tool.generator.data]")[1]
    (folder / "pyproject.toml").write_text(f'[tool.generator.model]\npath = "{model_file}"\n'
                                           f"[tool.generator.data]{table}", encoding="utf-8")
    (folder / "tiny.pt").unlink()
    return folder


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = _project(tmp_path_factory.mktemp("project"), "sequential.h5")
    sequential_model().save(folder / "sequential.h5")
    keras2_h5.write(folder / "mini_xception.h5", keras2_h5.random_weights(0))
    sequential_model().save_weights(folder / "w.weights.h5")
    (folder / "w.weights.h5").rename(folder / "weights_only.h5")
    (folder / "exported" / "variables").mkdir(parents=True)
    (folder / "exported" / "saved_model.pb").write_bytes(b"\x08\x01")
    ten = keras.Sequential([keras.Input((48, 48, 1)), layers.Conv2D(4, 3, name="c"), layers.Flatten(),
                            layers.Dense(10, activation="softmax")])
    ten.save(folder / "ten_classes.keras")
    return folder


def test_layers_lists_the_keras_conv_names(project):
    result = run_cli(project, "layers", "--model", "mini_xception.h5")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Conv layers of mini_xception.h5 (Keras model (h5)), output shape for one 48x48 "
                               "face, fed to the model as (1, 64, 64):")
    assert [line.split()[1] for line in lines[1:]] == [
        "conv2d_1", "separable_conv2d_1", "separable_conv2d_2", "conv2d_2", "conv2d_3"]
    assert lines[2].split() == ["1", "separable_conv2d_1", "8", "->", "16", "out", "(16,", "62,", "62)",
                                "SeparableConv2D"]


@pytest.mark.parametrize("model_file, scores, separable", [
    ("sequential.h5", "the logits of the model's last Dense layer", False),
    ("mini_xception.h5", "the model's logits: the input of its final softmax layer", True),
])
def test_a_whole_build_with_only_the_model_path_set(tmp_path, project, model_file, scores, separable):
    folder = _project(tmp_path, model_file)
    (folder / model_file).write_bytes((project / model_file).read_bytes())
    result = run_cli(folder, "build")
    assert result.returncode == 0, result.stderr
    site = folder / "site_src"
    index, q2 = (site / "index.en.md").read_text(), (site / "q2.en.md").read_text()
    assert f"**Scores explained:** {scores}" in index
    assert "Keras model (h5)" in index
    assert ("separable convolution (Keras `SeparableConv2D`)" in q2) is separable
    assert ("可分離卷積" in (site / "q2.md").read_text()) is separable
    if model_file == "mini_xception.h5":
        assert "the model takes 1 × 64 × 64" in index
        assert "`separable_conv2d_1`, with 16 filters" in q2
        assert "`conv2d_3`" in (site / "q1.en.md").read_text()  # Grad-CAM's default: the last conv
    assert len(list((site / "figures" / "q2").glob("*.png"))) == 3
    from importlib.metadata import version
    for page in ("reproducibility.md", "reproducibility.en.md"):  # the Keras model's own packages are listed
        text = (site / page).read_text()
        assert f"| keras | {version('keras')} |" in text and f"| h5py | {version('h5py')} |" in text, page


def _fails_cleanly(project, site, result, expected):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert not site.exists()


@pytest.mark.parametrize("model_file, expected", [
    ("weights_only.h5", "weights_only.h5: holds only weights, no architecture"),
    ("exported", "exported: a TensorFlow SavedModel folder, which is not supported (reading it needs "
                 "TensorFlow), expected a .keras or .h5 file; where you trained, run "
                 "tf.keras.models.load_model('exported').save('model.keras')"),
    ("ten_classes.keras", "ten_classes.keras: the model outputs shape (5, 10) for 5 faces, expected (5, 7)"),
])
@pytest.mark.parametrize("command", ["build", "layers"])
def test_bad_keras_inputs_stop_with_one_line(tmp_path, project, model_file, expected, command):
    before = snapshot(project)
    extra = ["--out", str(tmp_path / "site")] if command == "build" else []
    result = run_cli(project, command, "--model", model_file, *extra)
    _fails_cleanly(project, tmp_path / "site", result, expected)
    assert snapshot(project) == before


@pytest.mark.parametrize("command", ["build", "layers"])
def test_a_keras_file_without_the_extra_names_the_extra(tmp_path, project, command):
    """A folder first on the path whose ``keras`` fails to import as a missing package does."""
    fake = tmp_path / "no_keras" / "keras"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'keras'\", name='keras')\n")
    before = snapshot(project)
    extra = ["--out", str(tmp_path / "site")] if command == "build" else []
    result = subprocess.run([sys.executable, "-m", "generator", command, *extra], cwd=project, capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=f"{fake.parent}{os.pathsep}{ROOT}"),
                            timeout=600)
    _fails_cleanly(project, tmp_path / "site", result, 'sequential.h5: a Keras model needs the keras extra, which '
                   'is not installed; install it with pip install -e ".[keras]"')
    assert snapshot(project) == before
