"""``python -m generator pdf``: the hand-in PDFs of a freshly built project, and (--full) both whole-report PDFs
printed from the committed site_src/ with Debian's Chromium, read back with
poppler's tools (pdfinfo, pdftotext, pdffonts, pdfimages, pdftohtml), and the one-line errors when playwright or a
browser is missing. CI installs chromium, poppler-utils and the fonts (.ci/run).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from conftest import QUICK, ROOT, mkdocs_config_in, quick_tables, run_cli, write_project
from generator import pdf as pdf_module
from generator.cli import main

PAGES = ("index", "q1", "q2", "q3", "q4", "trust", "reproducibility")
LOCALES = ("zh-TW", "en")
TOC_TITLES = {"zh-TW": "目錄", "en": "Contents"}  # generator/site/mkdocs_hooks.py PRINT_PAGE_TITLES
FIGURE = re.compile(r"figures/[^)\"\s]+\.png")
POPPLER = ("pdfinfo", "pdftotext", "pdffonts", "pdfimages", "pdftohtml")

needs_printing = pytest.mark.skipif(
    not pdf_module.DEBIAN_CHROMIUM.is_file() or any(shutil.which(tool) is None for tool in POPPLER),
    reason="needs Debian's chromium and poppler-utils (.ci/run installs both)")


def _source(page: str, locale: str) -> str:
    return (ROOT / "site_src" / f"{page}{'' if locale == 'zh-TW' else '.' + locale}.md").read_text(encoding="utf-8")


def _title(page: str, locale: str) -> str:
    """The page's own heading, as written in the committed Markdown (NFKC, as _text gives it: ： reads :)."""
    return unicodedata.normalize("NFKC", _source(page, locale).splitlines()[0].removeprefix("# ").strip())


def _tool(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def _text(path: Path, page: int | None = None) -> str:
    """pdftotext's text, ligatures (ﬁ) undone and runs of blanks made one space, so a heading matches as written."""
    pages = ["-f", str(page), "-l", str(page)] if page else []
    text = unicodedata.normalize("NFKC", _tool("pdftotext", *pages, str(path), "-"))
    return re.sub(r"[ \t]+", " ", text)


def _pages(path: Path) -> int:
    return int(re.search(r"^Pages:\s+(\d+)", _tool("pdfinfo", str(path)), re.M).group(1))


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory):
    out = tmp_path_factory.mktemp("pdf")
    run = run_cli(ROOT, "pdf", "--full", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # mkdocs' and jieba's chatter stays in the build's own process
    paths = {locale: out / f"report.{locale}.pdf" for locale in LOCALES}
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths.values())  # no *.new left
    assert all(str(p) in run.stdout for p in paths.values())
    return paths


@needs_printing
@pytest.mark.parametrize("locale", LOCALES)
def test_each_pdf_is_a4_with_at_least_8_numbered_pages(pdfs, locale):
    info = _tool("pdfinfo", str(pdfs[locale]))
    assert "(A4)" in re.search(r"^Page size:.*$", info, re.M).group(0)
    total = _pages(pdfs[locale])
    assert total >= 8
    for page in (1, 2, total):  # the footer: "page / pages", the last line of each page's text
        lines = [line.strip() for line in _text(pdfs[locale], page).splitlines() if line.strip()]
        assert lines[-1] == f"{page} / {total}", (page, lines[-3:])


@needs_printing
def test_the_chinese_pdf_embeds_a_cjk_font_by_name(pdfs):
    fonts = _tool("pdffonts", str(pdfs["zh-TW"])).splitlines()[2:]
    embedded = [line.split()[0] for line in fonts if line.split()[-5] == "yes"]  # the "emb" column
    assert any("WenQuanYi" in name or "CJK" in name for name in embedded), fonts


@needs_printing
@pytest.mark.parametrize("locale", LOCALES)
def test_page_one_holds_the_title_the_author_table_and_the_table_of_contents_once(pdfs, locale):
    first = _text(pdfs[locale], 1)
    assert f"1 {_title('index', locale)}" in first
    author_labels = re.search(r"^\|(.+)\|\s*$", _source("index", locale), re.M).group(1).split("|")
    assert all(label.strip() in first for label in author_labels)
    whole = _text(pdfs[locale])
    toc = "\n".join(f"{n} {_title(page, locale)}" for n, page in enumerate(PAGES, 1))
    assert TOC_TITLES[locale] + "\n" + toc in first  # the whole table of contents, in order, on page 1
    assert whole.count(toc) == 1 and re.findall(rf"^{TOC_TITLES[locale]}$", whole, re.M) == [TOC_TITLES[locale]]
    flowing = " ".join(whole.split())  # a long heading wraps
    for n, page in enumerate(PAGES, 1):  # each title: once in the table of contents, once as its page's heading
        assert len(re.findall(rf"(?<![\d.]){n} {re.escape(_title(page, locale))}", flowing)) == 2, page


@needs_printing
@pytest.mark.parametrize("locale", LOCALES)
def test_each_question_heading_is_in_its_own_language(pdfs, locale):
    other = {"zh-TW": "en", "en": "zh-TW"}[locale]
    text = _text(pdfs[locale])
    for page in PAGES:
        assert _title(page, locale) in text, page
        if _title(page, other) != _title(page, locale):  # "Q4. Occlusion" reads the same in both
            assert _title(page, other) not in text, page


@needs_printing
@pytest.mark.parametrize("locale", LOCALES)
def test_every_figure_is_in_the_pdf(pdfs, locale):
    figures = sum(len(FIGURE.findall(_source(page, locale))) for page in PAGES)
    images = [line for line in _tool("pdfimages", "-list", str(pdfs[locale])).splitlines()[2:]
              if line.split()[2] == "image"]  # not the soft masks
    assert figures > 0 and len(images) >= figures


@needs_printing
@pytest.mark.parametrize("locale", LOCALES)
def test_table_of_contents_links_lead_to_each_page_in_the_pdf(pdfs, locale):
    page_one = _tool("pdftohtml", "-xml", "-i", "-stdout", "-f", "1", "-l", "1", str(pdfs[locale]))
    links = re.findall(r'<a href="[^"#]*#(\d+)">(.*?)</a>', page_one)
    assert len(links) == len(PAGES), links
    by_title = {unicodedata.normalize("NFKC", title): int(target) for target, title in links}
    for n, page in enumerate(PAGES, 1):
        target = by_title[f"{n} {_title(page, locale)}"]
        assert f"{n} {_title(page, locale)}" in " ".join(_text(pdfs[locale], target).split()), (page, target)
    targets = [int(target) for target, _ in links]
    assert targets[0] == 1 and targets == sorted(set(targets))  # the report's order, one page each


def test_missing_playwright_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # `import` raises ImportError
    assert main(["pdf", "--config", str(tmp_path / "pyproject.toml")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {pdf_module.NO_PLAYWRIGHT}\n" and '".[pdf]"' in err
    assert list(tmp_path.iterdir()) == [tmp_path / "mkdocs.yml"]


def test_missing_browser_is_one_line_saying_how_to_get_one(tmp_path, monkeypatch, capsys):
    pytest.importorskip("playwright.sync_api")
    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    monkeypatch.setattr(pdf_module, "DEBIAN_CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(pdf_module, "playwright_chromium", lambda playwright: None)
    assert main(["pdf", "--config", str(tmp_path / "pyproject.toml")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {pdf_module.NO_CHROMIUM}\n"
    assert "apt-get install chromium" in err and "playwright install chromium" in err
    assert list(tmp_path.iterdir()) == [tmp_path / "mkdocs.yml"]


def test_playwrights_own_browser_is_used_when_debian_has_none(tmp_path, monkeypatch):
    pytest.importorskip("playwright.sync_api")
    browser = tmp_path / "chrome"
    browser.write_text("#!/bin/sh\n")
    browser.chmod(0o755)
    monkeypatch.setattr(pdf_module, "DEBIAN_CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(pdf_module, "playwright_chromium", lambda playwright: browser)
    assert pdf_module.find_chromium(object()) == browser


def test_a_folder_without_mkdocs_yml_is_one_line(tmp_path, capsys):
    assert main(["pdf", "--config", str(tmp_path / "pyproject.toml")]) == 2
    assert capsys.readouterr().err == (f"error: {tmp_path / 'mkdocs.yml'}: not found; the pdf command prints the "
                                       "site that mkdocs builds from it\n")


def test_an_out_that_is_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "mkdocs.yml").write_text("site_name: x\n")
    (tmp_path / "taken").write_text("")
    assert main(["pdf", "--config", str(tmp_path / "pyproject.toml"), "--out", str(tmp_path / "taken")]) == 2
    assert capsys.readouterr().err == f"error: --out: {tmp_path / 'taken'} is a file, expected a folder\n"


def _lines_by_page(path: Path) -> list[list[tuple[int, int, str]]]:
    """Each page's text items as (top, font size, text), from pdftohtml's XML, the footer left out."""
    xml = _tool("pdftohtml", "-xml", "-i", "-stdout", str(path))
    sizes = dict(re.findall(r'<fontspec id="(\d+)" size="(\d+)"', xml))
    item = re.compile(r'<text top="(\d+)" left="\d+" width="\d+" height="\d+" font="(\d+)">(.*?)</text>')
    pages = []
    for content in re.findall(r"<page number=\"\d+\".*?>(.*?)</page>", xml, re.S):
        items = [(int(top), int(sizes[font]), re.sub(r"<[^>]+>", "", text)) for top, font, text in item.findall(content)]
        pages.append([i for i in items if not re.fullmatch(r"\d+ / \d+", i[2].strip())])
    return pages


@needs_printing
@pytest.mark.parametrize("locale", LOCALES)
def test_no_page_ends_with_a_heading(pdfs, locale):
    pages = _lines_by_page(pdfs[locale])
    sizes = sorted(size for page in pages for _, size, _ in page)
    body = sizes[len(sizes) // 2]  # most of the text is body text
    headings = [text for page in pages for _, size, text in page if size >= body + 4]  # told apart by their size
    assert any(text.startswith("2 Q1.") for text in headings) and any(text.startswith("2.1 ") for text in headings)
    stranded = [(n, max(page)[2]) for n, page in enumerate(pages, 1) if page and max(page)[1] >= body + 4]
    assert stranded == []


@needs_printing
@pytest.mark.parametrize("locale", LOCALES)
def test_no_figure_is_split_across_two_pages(pdfs, locale):
    """A figure cut by a page break is drawn on both pages: pdfimages lists its image object once for each."""
    rows = [line.split() for line in _tool("pdfimages", "-list", str(pdfs[locale])).splitlines()[2:]]
    pages_of = {}
    for row in rows:
        if row[2] == "image":
            pages_of.setdefault((row[10], row[11]), []).append(int(row[0]))  # (object, generation) -> pages
    assert pages_of and {key: pages for key, pages in pages_of.items() if len(set(pages)) > 1} == {}


@needs_printing
@pytest.mark.parametrize("locale", LOCALES)
def test_every_table_header_is_printed_whole(pdfs, locale):
    """A table wider than the page is not cut at the margin: every word of every table's header row is in the PDF
    (the region table's last column, 'background', was printed as 'bac')."""
    text = _text(pdfs[locale])
    words, glyphs = set(re.findall(r"\w+", text)), set(text)
    checked = 0
    for page in PAGES:
        for header in re.findall(r"^(\|.+\|)\s*\n\|[-| :]+\|\s*$", _source(page, locale), re.M):
            for cell in header.strip("|").split("|"):
                cell = unicodedata.normalize("NFKC", re.sub(r"<[^>]+>|[*`]", "", cell))
                # A Chinese run may wrap anywhere: its characters are checked, a Latin word as a whole.
                missing = [w for w in re.findall(r"\w+", cell)
                           if w not in words and not (re.search(r"[\u3400-\u9fff]", w) and set(w) <= glyphs)]
                assert missing == [], (page, cell, missing)
                checked += 1
    assert checked > 20


# The hand-in version: printed from a project built here (the committed site_src/ may predate the hand-in page).
QUESTIONS = ("q1", "q2", "q3", "q4")
HANDIN_LIMITS = {"answers": 12, "appendix": 3}  # A4 pages
SECTION = re.compile(r'<section class="handin-(question|appendix)" markdown>\s*## ([^{\n]+?) \{ #handin-(\w+) \}(.*?)</section>',
                     re.S)


@pytest.fixture(scope="module")
def handin(tmp_path_factory):
    """(project folder, locale -> hand-in PDF) for a tiny project with QUICK's settings, built and printed."""
    folder = write_project(tmp_path_factory.mktemp("handin"), author=['student_id = "b11901001"', 'name = "王小明"'],
                           **quick_tables(QUICK))
    build = run_cli(folder, "build", timeout=1800)
    assert build.returncode == 0, build.stderr
    mkdocs_config_in(folder)
    run = run_cli(folder, "pdf", "--out", str(folder / "pdf"))
    assert run.returncode == 0, run.stderr
    paths = {locale: folder / "pdf" / f"handin.{locale}.pdf" for locale in LOCALES}
    assert sorted(p.name for p in (folder / "pdf").iterdir()) == sorted(p.name for p in paths.values())
    return folder, paths


def _sections(folder: Path, locale: str) -> list[tuple[str, str, list[str]]]:
    """(key, heading, figures) of each question and of the appendix, in the hand-in page's order."""
    source = (folder / "site_src" / f"handin{'' if locale == 'zh-TW' else '.' + locale}.md").read_text("utf-8")
    return [(key, unicodedata.normalize("NFKC", heading.strip()), FIGURE.findall(body))
            for _, heading, key, body in SECTION.findall(source)]


def _first_page_with(pages: list[list[tuple[int, int, str]]], text: str) -> int:
    return next(n for n, page in enumerate(pages, 1)
                if any(unicodedata.normalize("NFKC", item).strip().startswith(text) for _, _, item in page))


@needs_printing
@pytest.mark.parametrize("locale", LOCALES)
def test_the_handin_pdf_starts_each_question_on_a_page_within_the_page_limits(handin, locale):
    folder, paths = handin
    sections = _sections(folder, locale)
    assert [key for key, _, _ in sections] == [*QUESTIONS, "appendix"]
    pages = _lines_by_page(paths[locale])
    starts = [_first_page_with(pages, heading) for _, heading, _ in sections]
    assert starts[0] == 1 and starts == sorted(set(starts)), starts  # Q1 follows the author header on page 1
    for (key, heading, _), start in zip(sections[1:], starts[1:]):  # every later one opens its page
        top = min(pages[start - 1])
        assert unicodedata.normalize("NFKC", top[2]).strip().startswith(heading), (key, start, top)
    total = len(pages)
    assert starts[-1] - 1 <= HANDIN_LIMITS["answers"] and total - starts[-1] + 1 <= HANDIN_LIMITS["appendix"], \
        (starts, total)
    assert "b11901001" in _text(paths[locale], 1) and "王小明" in _text(paths[locale], 1)


@needs_printing
@pytest.mark.parametrize("locale", LOCALES)
def test_every_required_figure_is_in_its_questions_pages(handin, locale):
    folder, paths = handin
    sections = _sections(folder, locale)
    pages = _lines_by_page(paths[locale])
    starts = [_first_page_with(pages, heading) for _, heading, _ in sections] + [len(pages) + 1]
    rows = [line.split() for line in _tool("pdfimages", "-list", str(paths[locale])).splitlines()[2:]]
    images = [int(row[0]) for row in rows if row[2] == "image"]
    expected = {"q1": 7, "q2": 2, "q3": 8, "q4": 7, "appendix": 0}  # per class for q1, q3, q4; q3's confusion matrix
    for (key, _, figures), first, after in zip(sections, starts, starts[1:]):
        assert len(figures) == expected[key] and len(set(figures)) == len(figures), (key, figures)
        assert all((folder / "site_src" / f).is_file() for f in figures)
        on_its_pages = [page for page in images if first <= page < after]
        assert len(on_its_pages) == len(figures), (key, first, after, on_its_pages)
