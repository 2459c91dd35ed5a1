"""The figures carry no words of either language, so one PNG serves both and no CJK font is needed to draw them.

matplotlib draws with DejaVu Sans (generator/figures/common.py), which has no Chinese glyphs: a Chinese label would
come out as empty boxes. So every text the figure code can draw must be language-neutral (numbers, symbols, method
and layer names), and the words belong in the Markdown captions, which the browser test checks for boxes.
"""
import ast
import re

from matplotlib import font_manager
from matplotlib.ft2font import FT2Font

from conftest import ROOT
from generator.figures.common import RC

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")
# Modules whose strings can reach a figure: the drawing code, and the questions that build its labels.
FIGURE_CODE = sorted((ROOT / "generator/figures").glob("*.py")) + sorted((ROOT / "generator/questions").glob("*.py"))


def test_figure_font_has_no_chinese_glyphs_so_figures_must_not_need_them():
    assert RC["font.family"] == "DejaVu Sans"
    font = FT2Font(font_manager.findfont(font_manager.FontProperties(family=RC["font.family"]), fallback_to_default=False))
    assert font.family_name == "DejaVu Sans"
    assert font.get_char_index(ord("臉")) == 0 and font.get_char_index(ord("y")) != 0


def test_no_string_in_the_figure_code_holds_chinese():
    found = []
    for path in FIGURE_CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CJK.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:40]!r}")
    assert FIGURE_CODE and found == []


def test_each_figure_is_one_file_for_both_languages():
    figures = sorted((ROOT / "site_src/figures").rglob("*.png"))
    assert len(figures) > 40
    assert [f.name for f in figures if re.search(r"\.[a-z]{2}(-[A-Z]{2})?\.png$", f.name)] == []  # no x.en.png
    for page in ("q1", "q2", "q3", "q4", "trust"):  # and both languages' pages show the same files
        zh = re.findall(r"figures/[^)\"\s]+\.png", (ROOT / f"site_src/{page}.md").read_text(encoding="utf-8"))
        en = re.findall(r"figures/[^)\"\s]+\.png", (ROOT / f"site_src/{page}.en.md").read_text(encoding="utf-8"))
        assert zh and sorted(zh) == sorted(en), page
