"""What a whole build promises: a fallback said on the page, a failed build that changes nothing, the same bytes
whatever the hash seed, and a --help that does not wait for torch."""
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import QUICK, ROOT, quick_tables, run_cli, snapshot, tiny_model, write_project
from generator.build import build
from generator.config import load_settings

# Fewer still than QUICK for the trust page's reference orders and steps: these tests check files, not scores.
QUICKER = [*QUICK, "--set", "trust.random_orders=1", "--set", "trust.pixels_per_step=288"]


def _project(folder, model):
    folder.mkdir()
    return write_project(folder, model, **quick_tables(QUICKER))


@pytest.fixture(scope="module")
def never_happy(tmp_path_factory):
    """A project whose model never predicts class 3 (happy), built once through the command line."""
    model = tiny_model()
    with torch.no_grad():
        model.classifier[-1].bias[3] -= 50.0
    folder = _project(tmp_path_factory.mktemp("never_happy") / "project", model)
    result = run_cli(folder, "build", timeout=1200)
    assert result.returncode == 0, result.stderr
    return folder, result


def test_a_class_with_no_correct_image_falls_back_and_says_so(never_happy):
    folder, result = never_happy
    assert result.stderr == ""
    assert f"in {folder / 'site_src'}" in result.stdout.splitlines()[-2]  # the summary says where the site is
    en, zh = (folder / "site_src" / "index.en.md").read_text(), (folder / "site_src" / "index.md").read_text()
    assert ("- Happy: the model classifies no validation image of this class correctly; the image with the highest "
            "probability of the class is shown.") in en
    assert "- 快樂：模型在驗證集中沒有答對任何這一類的影像，改用該類別機率最高的影像。" in zh


def test_a_failure_in_the_last_stage_leaves_the_site_byte_identical(never_happy, tmp_path, monkeypatch):
    folder = tmp_path / "project"
    shutil.copytree(never_happy[0], folder)  # with its site and its cache
    before = snapshot(folder / "site_src")
    from generator.questions import trust

    def broken(*_args, **_kwargs):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(trust, "context", broken)  # the trust page's numbers, needed only to render the pages
    settings = load_settings(folder / "pyproject.toml", {"author.name": "a new name"})
    with pytest.raises(RuntimeError, match="injected failure"):
        build(settings, ROOT / "templates")
    assert snapshot(folder / "site_src") == before


def test_two_builds_with_other_hash_seeds_give_the_same_bytes(tmp_path):
    trees = []
    for hash_seed in ("1", "2"):  # separate folders, so the second build computes everything again
        folder = _project(tmp_path / f"seed{hash_seed}", tiny_model())
        result = run_cli(folder, "build", timeout=1200, PYTHONHASHSEED=hash_seed)
        assert result.returncode == 0, result.stderr
        trees.append({name: data for name, (data, _) in snapshot(folder / "site_src").items()})
    assert sorted(trees[0]) == sorted(trees[1]) and any(name.endswith(".png") for name in trees[0])
    assert [name for name in trees[0] if trees[0][name] != trees[1][name]] == []


def test_help_does_not_import_torch():
    check = ("import sys, contextlib, io\nfrom generator.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
             "    main(['build', '--help'])\n"
             "assert 'exit codes:' in out.getvalue() and '130' in out.getvalue(), out.getvalue()\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'matplotlib', 'numpy')))\n")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("raised,code,line", [
    (ZeroDivisionError("division by zero"), 1, "internal error, a bug: ZeroDivisionError: division by zero (run "
                                               "again as `python -m generator --debug ...` for the traceback, and "
                                               "report it)"),
    (KeyboardInterrupt(), 130, "interrupted: the site folder holds the previous report or the new one, complete, "
                               "never a mix"),
])
def test_a_bug_or_an_interrupt_exits_with_its_code_and_one_line(tmp_path, monkeypatch, capsys, raised, code, line):
    from generator import cli

    def failing(_args):
        raise raised

    monkeypatch.setattr(cli, "cmd_build", failing)
    assert cli.main(["build"]) == code
    assert capsys.readouterr().err.splitlines() == [line]


def test_only_q4_rewrites_q4_alone(never_happy, tmp_path):
    folder = tmp_path / "project"
    shutil.copytree(never_happy[0], folder)
    before = snapshot(folder / "site_src")
    settings = load_settings(folder / "pyproject.toml", {"occlusion.box": 9})
    result = build(settings, ROOT / "templates", only="q4")
    assert result["computed"] == ["q4"]
    after = snapshot(folder / "site_src")
    changed = sorted(name for name in after if after[name] != before.get(name))
    assert changed == sorted(["q4.en.md", "q4.md"] + [f"figures/q4/occlusion_{c}.png" for c in range(7)])
    assert sorted(after) == sorted(before)
    assert "9x9" in after["q4.en.md"][0].decode() and "9x9" not in before["q4.en.md"][0].decode()


def test_only_needs_an_earlier_full_build(tmp_path):
    from generator.errors import InputError
    folder = _project(tmp_path / "fresh", tiny_model())
    with pytest.raises(InputError, match=r"^--only q3: .*site_src holds no full build to update, expected one; run "
                                         r"`python -m generator build` once first$"):
        build(load_settings(folder / "pyproject.toml"), ROOT / "templates", only="q3")
    assert not (folder / "site_src").exists()
