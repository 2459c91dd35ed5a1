"""End to end: settings -> model and data -> site_src/ -> mkdocs build --strict, for both languages."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import QUICK, ROOT, mkdocs_config_in, snapshot
from generator.build import build
from generator.cli import main
from generator.config import Settings, load_settings
from generator.questions import trust
from generator.site.render import HANDIN, PAGES as RENDERED_PAGES

PAGES = list(RENDERED_PAGES)
SANITY_CHECKED = trust.evaluated(Settings())  # the registry's methods the default report shows, but LIME
EXPECTED_FILES = sorted(
    [".generated.json", "assets/report.css"]
    + [f"{p}.md" for p in (*PAGES, HANDIN)] + [f"{p}.en.md" for p in (*PAGES, HANDIN)]
    + [f"figures/images/class_{c}.png" for c in range(7)] + [f"figures/q1/saliency_{c}.png" for c in range(7)]
    + ["figures/q2/filters.png", "figures/q2/feature_maps.png", "figures/q2/top_filters.png"]
    + ["figures/q3/confusion_matrix.png"] + [f"figures/q3/lime_{c}.png" for c in range(7)]
    + [f"figures/q4/occlusion_{c}.png" for c in range(7)] + [f"figures/q1/methods_{c}.png" for c in range(7)]
    + [f"figures/q1/average_{c}.png" for c in range(7)]
    + [f"figures/trust/sanity_{m}.png" for m in SANITY_CHECKED]
    + ["figures/trust/deletion_insertion.png", "figures/trust/lime_std.png"]
)
QUESTION_FIGURES = {"q1": "figures/q1/saliency_{}.png", "q3": "figures/q3/lime_{}.png",
                    "q4": "figures/q4/occlusion_{}.png"}


def test_tiny_build_writes_exactly_the_pages_of_both_languages(tiny_project):
    result = build(load_settings(tiny_project / "pyproject.toml"), ROOT / "templates")
    site = tiny_project / "site_src"
    assert sorted(snapshot(site)) == EXPECTED_FILES
    assert result["files"] == {"written": len(EXPECTED_FILES) - 1, "unchanged": 0, "removed": 0}
    zh, en = (site / "q1.md").read_text(), (site / "q1.en.md").read_text()
    for c in range(7):
        for figure in (f"figures/q1/saliency_{c}.png", f"figures/q1/average_{c}.png"):
            assert f"({figure})" in zh and f"({figure})" in en
    assert "合作者：林小華" in zh and "Collaborators: 林小華" in en
    assert "王小明" in (site / "index.md").read_text() and "b11901001" in (site / "index.en.md").read_text()
    assert "fixed template of rectangles" in en  # real-format data has no part masks
    for page in ("q2", "q3", "q4"):
        assert "尚未完成" not in (site / f"{page}.md").read_text()
        assert "Not built yet" not in (site / f"{page}.en.md").read_text()
    # The tiny CSV has no row 6987, so Q2 falls back to the first face of the image set, and says so.
    assert "The data has no row 6987" in (site / "q2.en.md").read_text()
    assert "資料中沒有第 6987 列" in (site / "q2.md").read_text()
    assert "They are\nunavailable for this data" in (site / "trust.en.md").read_text()  # real-format data: no masks
    assert "此資料無法提供這些分數" in (site / "trust.md").read_text()


def test_second_build_rewrites_nothing(tiny_project):
    settings = load_settings(tiny_project / "pyproject.toml")
    build(settings, ROOT / "templates")
    before = snapshot(tiny_project / "site_src")
    result = build(settings, ROOT / "templates")
    assert result["files"]["written"] == 0 and result["files"]["removed"] == 0
    assert snapshot(tiny_project / "site_src") == before
    assert result["computed"] == [] and result["cached"] == ["predictions", "q1", "q2", "q3", "q4", "trust"]


def test_a_changed_setting_recomputes_only_what_depends_on_it(tiny_project):
    build(load_settings(tiny_project / "pyproject.toml"), ROOT / "templates")
    changed = load_settings(tiny_project / "pyproject.toml", {"occlusion.box": 9})
    result = build(changed, ROOT / "templates")
    assert result["computed"] == ["q4", "trust"]  # the trust page scores occlusion too
    assert build(changed, ROOT / "templates", force=True)["computed"] == [
        "predictions", "q1", "q2", "q3", "q4", "trust"]


def test_a_damaged_cache_entry_is_recomputed(tiny_project):
    settings = load_settings(tiny_project / "pyproject.toml")
    build(settings, ROOT / "templates")
    before = snapshot(tiny_project / "site_src")
    for entry in (tiny_project / ".generator-cache").glob("q2-*.pickle"):
        entry.write_bytes(entry.read_bytes()[:100])  # as if a build died while writing it (never renamed)
    result = build(settings, ROOT / "templates")
    assert result["computed"] == ["q2"]
    assert {k: v[0] for k, v in snapshot(tiny_project / "site_src").items()} == {k: v[0] for k, v in before.items()}


def test_failed_build_leaves_site_src_as_it_was(tiny_project, tmp_path):
    settings = load_settings(tiny_project / "pyproject.toml")
    build(settings, ROOT / "templates")
    before = snapshot(tiny_project / "site_src")
    broken = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", broken)
    (broken / "en" / "reproducibility.md.j2").write_text("{{ no_such_value }}")  # the last page rendered
    with pytest.raises(Exception, match="no_such_value"):
        build(settings, broken)
    assert snapshot(tiny_project / "site_src") == before


def test_author_prose_is_kept_and_never_overwritten(tiny_project, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    prose = templates / "prose" / "q1.zh-TW.md"
    prose.write_text("<!-- hint -->\n模型主要看**嘴巴**。\n", encoding="utf-8")
    build(load_settings(tiny_project / "pyproject.toml"), templates)
    site = tiny_project / "site_src"
    assert "## 作者的觀察" in (site / "q1.md").read_text() and "模型主要看**嘴巴**。" in (site / "q1.md").read_text()
    en = (site / "q1.en.md").read_text()  # no English prose: the Chinese is shown, marked with its language
    assert "## Author's notes" in en and '<div lang="zh-TW" markdown>' in en
    assert prose.read_text(encoding="utf-8") == "<!-- hint -->\n模型主要看**嘴巴**。\n"
    assert "Author's notes" not in (site / "q2.en.md").read_text()  # a prose file holding only a comment is empty


def test_demo_build_then_mkdocs_strict_gives_both_languages(tmp_path):
    """The newcomer's path: no model, no data. Then mkdocs builds every page in both languages."""
    (tmp_path / "pyproject.toml").write_text("[tool.generator]\n")
    assert main(["build", "--config", str(tmp_path / "pyproject.toml"), *QUICK]) == 0
    mkdocs_config_in(tmp_path)
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(tmp_path / "mkdocs.yml"),
                          "-d", str(tmp_path / "site")], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    site = tmp_path / "site"
    for page in PAGES:
        assert (site / f"{page}.html").is_file() and (site / "en" / f"{page}.html").is_file()
    for page, pattern in QUESTION_FIGURES.items():
        for html_path in (site / f"{page}.html", site / "en" / f"{page}.html"):
            html = html_path.read_text()
            assert sum(pattern.format(c) in html for c in range(7)) == 7, html_path
            assert "glightbox" in html
    assert "The face is row 6987" in (site / "en" / "q2.html").read_text()  # the synthetic set has row 6987
    for html_path in (site / "trust.html", site / "en" / "trust.html"):
        html = html_path.read_text()
        for method in SANITY_CHECKED + ["lime"]:
            assert f'id="trust-{method}"' in html
        assert 'id="ground-truth"' in html and "Pointing game" in html
    assert 'href="trust.html#trust-saliency"' in (site / "en" / "q1.html").read_text()
    for figure in EXPECTED_FILES:
        if figure.endswith(".png"):  # every figure decodes, and is not blank
            from PIL import Image
            with Image.open(site / figure) as image:
                image.load()
                assert image.size[0] > 50 and len(set(image.convert("L").getdata())) > 10, figure
    assert (site / "en" / "sitemap.xml").is_file()
    assert "Demo report" in (site / "en" / "index.html").read_text()
    for html in site.rglob("*.html"):
        text = html.read_text()
        assert "fonts.googleapis" not in text and "cdn.jsdelivr" not in text, html


def test_bad_settings_exit_2_with_one_line_and_touch_nothing(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text("[tool.generator.model]\nouptut = 'logits'\n")
    assert main(["build", "--config", str(tmp_path / "pyproject.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'pyproject.toml'} [tool.generator].model: unknown key 'ouptut' "
                   "(did you mean 'output'?)"]
    assert not (tmp_path / "site_src").exists()


def test_the_mkdocs_nav_lists_the_pages_of_the_stage_table():
    """The Pages workflow reads mkdocs.yml without the generator, so its nav is written out; it must follow the
    stage table's pages, in order."""
    nav = []
    in_nav = False
    for line in (ROOT / "mkdocs.yml").read_text(encoding="utf-8").splitlines():
        if line.startswith("nav:"):
            in_nav = True
        elif in_nav and line.startswith("  - "):
            nav.append(line[4:].strip().removesuffix(".md"))
        elif in_nav and line.strip():
            break
    assert nav == PAGES
