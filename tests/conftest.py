"""Shared fixtures and helpers: a tiny CNN, tiny FER2013-format files and project folders, so no test needs a
training run; one way to run the command line and one way to tell whether a folder changed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import error_catalogue
from generator.data import synth
from generator.data.fer2013 import write_csv
from generator.errors import InputError
from generator.models.cnn import FerCNN

ROOT = Path(__file__).resolve().parent.parent
TINY_KWARGS = {"blocks": [[4, 8]], "hidden": 8}
TINY_ARCHITECTURE = "generator.models.cnn:FerCNN"
# Fewer samples, steps and box positions than the defaults: the same code paths, a test suite that stays fast.
QUICK = ["--set", "lime.num_samples=100", "--set", "filters.steps=10", "--set", "occlusion.stride=3",
         "--set", "trust.lime_seeds=2", "--set", "attribution.ig_steps=8", "--set", "attribution.smoothgrad_samples=4",
         "--set", "trust.sanity_occlusion_stride=12"]


# Every error message a test provokes must be in docs/errors.md. They are recorded where they arise, so no test
# has to list its messages anywhere: each InputError made in this process, and each `error:` line of a command line
# run in a subprocess that exits 2 (whether through run_cli or subprocess.run).
ERRORS_SEEN: list[str] = []
_input_error_init = InputError.__init__


def _recording_init(self, *args):
    _input_error_init(self, *args)
    ERRORS_SEEN.append(str(self))


InputError.__init__ = _recording_init
_subprocess_run = subprocess.run


def _recording_run(*args, **kwargs):
    result = _subprocess_run(*args, **kwargs)
    command = list(args[0] if args else kwargs.get("args", []))
    if command[1:3] == ["-m", "generator"] and result.returncode == 2 and result.stderr:
        stderr = result.stderr if isinstance(result.stderr, str) else result.stderr.decode("utf-8", "replace")
        ERRORS_SEEN.extend(line[len("error: "):] for line in stderr.splitlines() if line.startswith("error: "))
    return result


subprocess.run = _recording_run


@pytest.fixture(autouse=True)
def _errors_are_in_the_catalogue():
    start = len(ERRORS_SEEN)
    yield
    missing = error_catalogue.unlisted(dict.fromkeys(ERRORS_SEEN[start:]))
    del ERRORS_SEEN[start:]
    if missing:
        pytest.fail("error messages not in docs/errors.md (add a row with its fix; <name> stands for a part that "
                    "varies):\n" + "\n".join(missing), pytrace=False)


def tiny_model(seed: int = 0) -> FerCNN:
    torch.manual_seed(seed)
    model = FerCNN(**TINY_KWARGS).eval()
    with torch.no_grad():  # give BatchNorm non-trivial statistics, so eval mode is tested for real
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


def with_random_statistics(model: torch.nn.Module, seed: int, affine: bool = False) -> torch.nn.Module:
    """BatchNorm with running statistics that are not the identity (and, with ``affine``, random scales and
    shifts), in eval mode: so eval mode and BatchNorm folding are tested for real."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2, generator=generator)
                module.running_var.uniform_(0.5, 2.0, generator=generator)
                if affine:
                    module.weight.uniform_(0.5, 1.5, generator=generator)
                    module.bias.uniform_(-0.1, 0.1, generator=generator)
    return model.eval()


def snapshot(folder: Path, folders: bool = False) -> dict:
    """Every file under ``folder``: relative path -> (bytes, mtime in ns). Equal snapshots: nothing was rewritten.

    With ``folders``, every folder too, as (None, mtime): then a folder made, or a file made and removed, shows."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if folders or p.is_file()}


def run_cli(folder: Path, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """``python -m generator *args`` in a fresh process started in ``folder``, importing this checkout's package,
    with ``env`` added to the environment. Returns the exit code, stdout and stderr (as text)."""
    return subprocess.run([sys.executable, "-m", "generator", *args], cwd=folder, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **env), timeout=timeout)


def quick_tables(flags: list[str]) -> dict[str, list[str]]:
    """``--set section.key=value`` flags as the TOML lines of each table, so in-process builds see them too."""
    tables: dict[str, list[str]] = {}
    for dotted, value in (text.split("=", 1) for text in flags if text != "--set"):
        section, key = dotted.split(".")
        tables.setdefault(section, []).append(f"{key} = {value}")
    return tables


def write_project(folder: Path, model: torch.nn.Module | None = None, model_lines: tuple[str, ...] = (),
                  **tables: list[str]) -> Path:
    """A project folder: a checkpoint, 70 synthetic faces (one validation face per class) in ``faces.csv`` and a
    pyproject.toml that points at them, followed by ``tables`` (table name -> its TOML lines).

    The checkpoint is ``model`` pickled whole as ``model.pt``, or by default the tiny CNN's weights as ``tiny.pt``,
    loaded through its class as a student's state_dict would be. ``model_lines`` go into the model's table after
    the lines that point at the checkpoint (its input geometry, say)."""
    if model is None:
        torch.save({"state_dict": tiny_model().state_dict()}, folder / "tiny.pt")
        checkpoint_lines = ['path = "tiny.pt"', f'architecture = "{TINY_ARCHITECTURE}"',
                            f'kwargs = {{blocks = {TINY_KWARGS["blocks"]}, hidden = {TINY_KWARGS["hidden"]}}}']
    else:
        torch.save(model, folder / "model.pt")
        checkpoint_lines = ['path = "model.pt"']
    images, labels, _ = synth.render_dataset(5, range(70))
    write_csv(folder / "faces.csv", images, labels, [synth.usage_of(i) for i in range(70)])
    tables = {"model": [*checkpoint_lines, *model_lines], "data": ['csv = "faces.csv"'], **tables}
    (folder / "pyproject.toml").write_text("".join(f"[tool.generator.{name}]\n" + "\n".join(lines) + "\n"
                                                   for name, lines in tables.items()), encoding="utf-8")
    return folder


@pytest.fixture
def tiny_project(tmp_path):
    """A project folder with a tiny checkpoint, a 70-row synthetic CSV, the author's names and QUICK's settings."""
    return write_project(tmp_path, author=['student_id = "b11901001"', 'name = "王小明"'],
                         collaborators=['q1 = ["林小華"]'], **quick_tables(QUICK))


@pytest.fixture
def model():
    return tiny_model()


def write_rows(path: Path, header: str, rows: list[str], newline: str = "\n", bom: bool = False) -> Path:
    text = newline.join([header, *rows]) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return path


def pixel_string(seed: int) -> str:
    return " ".join(map(str, np.random.default_rng(seed).integers(0, 256, 48 * 48).tolist()))


@pytest.fixture
def kaggle_csv(tmp_path):
    usages = ["Training", "Training", "PublicTest", "PrivateTest", "PublicTest"]
    rows = [f"{k % 7},{pixel_string(k)},{u}" for k, u in enumerate(usages)]
    return write_rows(tmp_path / "fer2013.csv", "emotion,pixels,Usage", rows)


@pytest.fixture
def course_csv(tmp_path):
    rows = [f'{k % 7},"{pixel_string(k)}"' for k in range(21)]
    return write_rows(tmp_path / "train.csv", "label,feature", rows)


def mkdocs_config_in(folder: Path) -> Path:
    """The project's mkdocs.yml, written into ``folder`` for a site built there: the hooks file by its absolute path,
    and the `watch` paths (which mkdocs checks exist, and only `mkdocs serve` uses) pointing into the project."""
    config = (ROOT / "mkdocs.yml").read_text().replace(
        "generator/site/mkdocs_hooks.py", str(ROOT / "generator/site/mkdocs_hooks.py"))
    config = config.replace("\n  - templates\n", f"\n  - {ROOT / 'templates'}\n").replace(
        "\n  - pyproject.toml\n", f"\n  - {ROOT / 'pyproject.toml'}\n")
    path = folder / "mkdocs.yml"
    path.write_text(config)
    return path


class LinearToy(torch.nn.Module):
    """Class 0's logit is a fixed linear function of the pixels, sum of weight * pixel; the others are 0: its true
    pixel importance is known, for the deletion and insertion tests."""

    def __init__(self):
        super().__init__()
        self.weight = torch.from_numpy(np.random.default_rng(4).normal(0, 0.02, (48, 48)).astype(np.float32))

    def forward(self, x):
        logits = torch.zeros(len(x), 7)
        logits[:, 0] = (x[:, 0] * self.weight).sum(dim=(1, 2))
        return logits


@pytest.fixture
def wrapped_tiny():
    """The tiny CNN behind the loader's wrapper (pixels in [0, 1] to the model's scale), as the methods see it."""
    from generator.models.load import NormalisedModel
    return NormalisedModel(tiny_model(), 255.0, 0.0, 1.0, "logits").eval()


def random_faces(n: int = 4, seed: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random (1, 48, 48) faces in [0, 1] and targets of several classes."""
    faces = torch.rand(n, 1, 48, 48, generator=torch.Generator().manual_seed(seed))
    return faces, torch.tensor([0, 3, 5, 6] * (n // 4 + 1))[:n]


# Markers for a fast subset, `python -m pytest -m "not browser and not slow"` (the full suite stays the README's
# command). They are given here, by rule, so that a new test of a kind gets its marker without anyone remembering:
# `browser` for every test that drives Chromium (through these fixtures), `slow` for every test that runs a whole
# build (through a fixture that builds a project, or in its own body: SLOW_TESTS, checked by tests/test_markers.py).
BROWSER_FIXTURES = {"browser", "pdfs"}
BUILD_FIXTURES = {"tiny_project", "never_happy", "built"}
SLOW_TESTS = {
    "test_build.py::test_demo_build_then_mkdocs_strict_gives_both_languages",
    "test_build_guarantees.py::test_two_builds_with_other_hash_seeds_give_the_same_bytes",
    "test_keras_cli.py::test_a_whole_build_with_only_the_model_path_set",
    "test_stable_figures.py::test_builds_under_three_kernel_choices_write_the_same_files",
    "test_absent_class.py::test_a_csv_without_fear_builds_and_every_page_marks_the_class_absent",
    "test_class_average.py::test_the_seven_class_averages_are_on_both_q1_pages_with_the_n_they_average",
    "test_geometry.py::test_a_model_of_another_geometry_builds_end_to_end",
    "test_probe.py::test_with_model_classes_alphabetical_every_class_page_equals_the_demos",
    "test_folders.py::test_a_folder_builds_the_report_of_a_csv_of_the_same_images",
    "test_folders.py::test_a_changed_image_makes_the_next_build_a_full_one",
}


def pytest_collection_modifyitems(items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if fixtures & BUILD_FIXTURES or item.nodeid.split("/")[-1].split("[")[0] in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
