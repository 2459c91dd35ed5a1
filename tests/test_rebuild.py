"""The quick rebuild path: pages rendered from the record of the last full build, without torch, only when nothing the
analysis depends on has changed."""
import shutil
import subprocess
import sys

import torch

from conftest import ROOT, snapshot, tiny_model
from generator.build import build
from generator.config import load_settings
from generator.rebuild import rebuild_pages


def _quick(project, templates=ROOT / "templates", overrides=None):
    settings = load_settings(project / "pyproject.toml", overrides or {})
    return rebuild_pages(settings, templates)


def test_nothing_changed_rewrites_nothing_and_never_imports_torch(tiny_project):
    build(load_settings(tiny_project / "pyproject.toml"), ROOT / "templates")
    before = snapshot(tiny_project / "site_src")
    script = ("import sys; from generator.cli import main; code = main(['build', '--config', sys.argv[1]]); "
              "print('result', code, 'torch' in sys.modules, 'matplotlib' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", script, str(tiny_project / "pyproject.toml")],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.stdout.splitlines()[-1] == "result 0 False False", run.stderr
    assert "0 files written" in run.stdout
    assert "on this machine" not in run.stdout  # no speed measured, no estimate said
    assert snapshot(tiny_project / "site_src") == before  # bytes and mtimes


def test_a_template_edit_renders_the_same_pages_as_a_full_build(tiny_project, tmp_path):
    build(load_settings(tiny_project / "pyproject.toml"), ROOT / "templates")
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    page = templates / "en" / "q3.md.j2"
    page.write_text(page.read_text() + "\nA sentence added by the author.\n")
    result = _quick(tiny_project, templates)
    assert result is not None and result["files"]["written"] == 1 and result["computed"] == []
    quick = snapshot(tiny_project / "site_src")
    assert "A sentence added by the author." in (tiny_project / "site_src" / "q3.en.md").read_text()
    full = build(load_settings(tiny_project / "pyproject.toml"), templates, force=True)
    assert full["files"]["written"] == 0  # the full build, every stage recomputed, gives the same bytes
    assert {k: v[0] for k, v in snapshot(tiny_project / "site_src").items()} == {k: v[0] for k, v in quick.items()}


def test_author_names_take_the_quick_path_and_reach_the_pages(tiny_project):
    build(load_settings(tiny_project / "pyproject.toml"), ROOT / "templates")
    result = _quick(tiny_project, overrides={"author.name": "陳大文", "collaborators.q2": ["李四"]})
    assert result is not None
    site = tiny_project / "site_src"
    assert "陳大文" in (site / "index.md").read_text() and "王小明" not in (site / "index.md").read_text()
    assert "合作者：李四" in (site / "q2.md").read_text()
    assert 'name = "陳大文"' in (site / "reproducibility.en.md").read_text()


def test_a_changed_analysis_input_needs_the_full_build(tiny_project):
    build(load_settings(tiny_project / "pyproject.toml"), ROOT / "templates")
    assert _quick(tiny_project) is not None
    assert _quick(tiny_project, overrides={"occlusion.box": 9}) is None  # a setting the analysis reads
    assert _quick(tiny_project, overrides={"seed": 1}) is None
    torch.save({"state_dict": tiny_model(seed=1).state_dict()}, tiny_project / "tiny.pt")  # same path, new weights
    assert _quick(tiny_project) is None
    result = build(load_settings(tiny_project / "pyproject.toml"), ROOT / "templates")
    assert "q1" in result["computed"] and _quick(tiny_project) is not None
