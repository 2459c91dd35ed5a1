"""The bad-input catalogue: each mistake goes through the real command line in a subprocess.

Each must exit 2 with exactly one line on stderr (the file, the row or key, what was expected), no traceback, within
the first seconds (before any analysis), and leave the output folder and the project folder exactly as they were.
"""
import pytest
import torch

from conftest import TINY_ARCHITECTURE, TINY_KWARGS, run_cli, snapshot, tiny_model, write_project
from folder_tree import write_tree
from generator.models.cnn import FerCNN


def _models(folder):
    """Checkpoints that load but do not fit, each saved as a student would have it."""
    torch.save(FerCNN(blocks=[[4, 8], [8]], hidden=8).state_dict(), folder / "other_arch.pt")
    rgb = tiny_model()
    rgb.features[0] = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
    torch.save(rgb, folder / "rgb.pt")
    torch.save(FerCNN(**TINY_KWARGS, size=64), folder / "size64.pt")
    rgb224 = FerCNN(**TINY_KWARGS, size=224)
    rgb224.features[0] = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
    torch.save(rgb224, folder / "rgb224.pt")
    torch.save(FerCNN(**TINY_KWARGS, num_classes=10), folder / "ten_classes.pt")
    nan = tiny_model()
    with torch.no_grad():
        nan.classifier[-1].weight.fill_(float("nan"))
    torch.save(nan, folder / "nan.pt")
    (folder / "random.pt").write_bytes(bytes(range(256)) * 8)
    (folder / "notes.pt").write_text("epoch 12: val acc 0.61\n")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = write_project(tmp_path_factory.mktemp("project"))  # the tiny checkpoint, which fits
    _models(folder)
    (folder / "a_file").write_text("not a folder\n")
    return folder


@pytest.fixture
def site(tmp_path):
    """An output folder holding an earlier report."""
    out = tmp_path / "site"
    (out / "figures").mkdir(parents=True)
    (out / "index.md").write_text("# An earlier report\n")
    (out / "figures" / "x.png").write_bytes(b"\x89PNG earlier")
    (out / ".generated.json").write_text('["index.md", "figures/x.png"]\n')
    return out


def _fails_cleanly(project, site, args, expected):
    """Exit 2, one stderr line that starts with ``expected``, no traceback, nothing touched."""
    before_site, before_project = snapshot(site), snapshot(project)
    result = run_cli(project, "build", "--out", str(site), *args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("error: " + expected), lines[0]
    assert "analysis" not in result.stdout and "q1 saliency" not in result.stdout  # failed before any analysis
    assert snapshot(site) == before_site and snapshot(project) == before_project
    return lines[0]


def test_weights_of_another_architecture_list_the_keys(project, site):
    _fails_cleanly(project, site, ["--model", "other_arch.pt"], (
        f"{project / 'other_arch.pt'}: the weights do not fit {TINY_ARCHITECTURE}(blocks=[[4, 8]], hidden=8): "
        "6 unexpected: features.7.weight, features.8.weight, features.8.bias, features.8.running_mean and 2 more; "
        "1 wrong shape: classifier.2.weight (8, 1152) in the file, (8, 4608) in the model "
        "(check model.architecture and model.kwargs)"))


@pytest.mark.parametrize("model,args,advice", [
    ("rgb.pt", [], "(3, 48, 48): set model.input_channels = 3"),
    ("size64.pt", [], "(1, 64, 64): set model.input_size = 64"),
    ("rgb224.pt", [], "(3, 224, 224): set model.input_channels = 3 and model.input_size = 224"),
    # the configured size is kept when only the channels are wrong; a resize that cannot reach the size is changed
    ("rgb224.pt", ["--set", "model.input_size=224"], "(3, 224, 224): set model.input_channels = 3"),
    ("size64.pt", ["--set", "model.input_size=44", "--set", "model.resize=center-crop"],
     '(1, 64, 64): set model.input_size = 64 and model.resize = "bilinear"'),
])
def test_a_model_for_other_images_gets_the_settings_that_fit(project, site, model, args, advice):
    line = _fails_cleanly(project, site, ["--model", model, *args], f"{project / model}: the model takes {advice}")
    assert line == f"error: {project / model}: the model takes {advice}"


def test_a_model_with_ten_outputs(project, site):
    _fails_cleanly(project, site, ["--model", "ten_classes.pt"], (
        f"{project / 'ten_classes.pt'}: the model outputs shape (5, 10) for 5 faces, expected (5, 7): one score "
        "per class (0 angry ... 6 neutral)"))


def test_a_model_with_nan_outputs(project, site):
    _fails_cleanly(project, site, ["--model", "nan.pt"], (
        f"{project / 'nan.pt'}: the model outputs NaN or infinite scores (for black, mid-gray, white, noise "
        "faces), expected finite scores; check the weights and model.input_scale, input_mean, input_std"))


@pytest.mark.parametrize("model,reason", [
    ("random.pt", "(UnpicklingError: invalid load key, '\\x00'.)"),
    ("notes.pt", "(UnpicklingError: "),
])
def test_a_file_that_is_not_a_checkpoint(project, site, model, reason):
    _fails_cleanly(project, site, ["--model", model], (
        f"{project / model}: not a PyTorch checkpoint, expected a file written by torch.save or torch.jit.save "
        + reason))


def test_a_missing_model_file(project, site):
    _fails_cleanly(project, site, ["--model", "nowhere.pt"], f"{project / 'nowhere.pt'}: model file not found")


def test_an_image_row_that_is_not_in_the_data(project, site):
    _fails_cleanly(project, site, ["--set", "images.indices=[9, 19, 29, 39, 49, 59, 700]"], (
        "--set images.indices: row 700 (class 6) is not a row of faces.csv, expected a data row number (0-based) "
        "among those loaded: 0-69"))


def test_a_layer_that_does_not_exist_gets_close_names(project, site):
    line = _fails_cleanly(project, site, ["--set", "filters.layer=features.9"], (
        "--set filters.layer = 'features.9': no such layer; did you mean "))
    assert sorted(line.rsplit("did you mean ", 1)[1].rstrip("?").split(", ")) == ["features.0", "features.3"]


def test_a_layer_that_is_not_a_conv_for_question_2(project, site, tmp_path):
    config = tmp_path / "pyproject.toml"
    settings = (project / "pyproject.toml").read_text().replace('"tiny.pt"', f'"{project / "tiny.pt"}"')
    config.write_text(settings.replace('"faces.csv"', f'"{project / "faces.csv"}"')
                      + '[tool.generator.filters]\nlayer = "features.1"\n')
    _fails_cleanly(project, site, ["--config", str(config)], (
        f"{config} [tool.generator.filters] layer = 'features.1': is a BatchNorm2d, expected a Conv2d "
        "(run `python -m generator layers`)"))


@pytest.mark.parametrize("body,args,expected", [
    ("", ["--set", "lime.num_sample=200"],
     "--set lime.num_sample: unknown key 'lime.num_sample' (did you mean 'lime.num_samples'?)"),
    ("[tool.generator.lime]\nnum_sample = 200\n", [],
     "{config} [tool.generator].lime: unknown key 'num_sample' (did you mean 'num_samples'?)"),
    ("", ["--set", "lime.num_samples=many"], "--set: lime.num_samples = 'many': expected an integer"),
    ("[tool.generator.lime]\nnum_samples = 'many'\n", [],
     "{config} [tool.generator].lime: num_samples = 'many': expected an integer"),
    ("", ["--set", "occlusion.fill=255"], "--set: occlusion.fill = 255.0: expected a number <= 1.0"),
    ("[tool.generator.model]\ninput_channels = 2\n", [],
     "{config} [tool.generator].model: input_channels = 2: expected one of 1, 3"),
    ("", ["--set", "model.input_size=4"],
     "--set: model.input_size = 4: expected an integer from 8 to 512, or [height, width] of such integers"),
    ("[tool.generator.model]\ninput_size = [48, 600]\n", [], "{config} [tool.generator].model: input_size = "
     "[48, 600]: expected an integer from 8 to 512, or [height, width] of such integers"),
    ("[tool.generator.model]\nresize = 'center-crop'\ninput_size = 64\n", [],
     "{config} [tool.generator].model: resize = 'center-crop' with input_size = 64: expected a size of at most 48, "
     "a crop of the 48x48 face; use resize = 'bilinear' to scale the face up"),
    ("[tool.generator.model]\nresize = 'center-crop'\n", ["--set", "model.input_size=[44, 56]"],
     "--set model.input_size: resize = 'center-crop' with input_size = [44, 56]: expected a size of at most 48, "
     "a crop of the 48x48 face; use resize = 'bilinear' to scale the face up"),
    ("", ["--set", "model.resize=pad", "--set", "model.input_size=32"],
     "--set model.resize: resize = 'pad' with input_size = 32: expected a size of at least 48, the 48x48 face "
     "with a border; use resize = 'bilinear' or 'center-crop'"),
])
def test_settings_errors_name_where_the_value_came_from(project, site, tmp_path, body, args, expected):
    config = tmp_path / "pyproject.toml"
    config.write_text("[tool.generator]\n" + body)
    line = _fails_cleanly(project, site, ["--config", str(config), *args], expected.format(config=config))
    assert line == "error: " + expected.format(config=config)


@pytest.mark.parametrize("out,expected", [
    ("a_file/site", "--out: cannot create {project}/a_file/site: {project}/a_file is a file, expected a folder"),
    ("/proc/site", "--out: cannot write in /proc (No such file or directory), expected a writable folder"),
])
def test_an_output_folder_that_cannot_be_written(project, site, out, expected):
    # Tests run as root, which ignores chmod: a path inside a regular file and /proc refuse even root.
    before = snapshot(project)
    result = run_cli(project, "build", "--out", out)
    assert result.returncode == 2 and result.stderr.splitlines() == [
        "error: " + expected.format(project=project)], result.stderr
    assert snapshot(project) == before


def test_debug_shows_the_traceback(project):
    result = run_cli(project, "--debug", "build", "--model", "nowhere.pt")
    assert result.returncode == 1  # Python's own exit for an uncaught exception
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().endswith(f"generator.errors.InputError: {project / 'nowhere.pt'}: model file not found")


def _tree_with(project, name, change):
    """A copy of the synthetic folder tree under ``project/name``, with ``change`` applied to its root."""
    root = write_tree(project / name, count=20, contempt=0)
    change(root)
    return root


FOLDER_CASES = [
    ("no_validation", lambda root: (root / "test").rename(root / "PrivateTest"),
     "{root}: no validation split (found PrivateTest/, train/), expected a test/, val/, validation/ or PublicTest/ "
     "folder beside train/, holding one folder per class"),
    ("unknown_class", lambda root: (root / "train" / "happy").rename(root / "train" / "Hapy"),
     "{root}/train/Hapy: class folder 'Hapy' matches no class, expected one of angry, anger, "),
    ("unreadable", lambda root: (root / "train" / "ANGRY" / "Training_notes.jpg").write_text("epoch 3\n"),
     "{root}/train/ANGRY/Training_notes.jpg: not an image Pillow can read, expected an image file (PNG, JPEG, BMP, ...)"),
]


@pytest.mark.parametrize("name,change,expected", FOLDER_CASES, ids=[case[0] for case in FOLDER_CASES])
def test_a_bad_image_folder(project, site, name, change, expected):
    root = _tree_with(project, name, change)
    line = _fails_cleanly(project, site, ["--data", str(root)], expected.format(root=root))
    if name == "unknown_class":
        assert line.endswith('class_folders = { "Hapy" = "happy" }')


def test_both_a_csv_and_a_folder(project, site, tmp_path):
    config = tmp_path / "pyproject.toml"
    config.write_text(f'[tool.generator.data]\ncsv = "{project / "faces.csv"}"\nfolder = "fer2013"\n')
    line = _fails_cleanly(project, site, ["--config", str(config)], "")
    assert line == (f"error: {config} [tool.generator].data: both csv = '{project / 'faces.csv'}' and folder = "
                    "'fer2013' are set, expected one of them: a FER2013-format CSV or an image folder")


def test_a_folder_says_what_was_resized_and_left_out_before_any_check_fails(project, site):
    """One line each on stdout, right after the data loads (a bad layer name then stops the build)."""
    root = write_tree(project / "printed", count=20, contempt=2)
    result = run_cli(project, "build", "--out", str(site), "--data", str(root), "--set", "filters.layer=features.9")
    assert result.returncode == 2 and result.stderr.startswith("error: --set filters.layer = 'features.9'")
    assert result.stdout.splitlines()[:2] == [
        "  printed: 8 of 20 images resized to 48x48 (converted to gray, then resized by area)",
        "  printed: left out 2 images of contempt/, not one of the 7 FER2013 classes"]
