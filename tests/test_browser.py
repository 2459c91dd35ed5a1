"""The published site in a real browser: headless Debian Chromium on the committed site_src/, built with
mkdocs --strict and served on 127.0.0.1. CI installs chromium and fonts-noto-cjk (.ci/run), so there it always runs.

Screenshots of the home page and Q1 in both languages go to $SCREENSHOT_DIR, or tests/artifacts/ (ignored by git).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import pytest

from conftest import ROOT
from browser_support import (CHROMIUM, CHROMIUM_ARGS, DECODE_EVERY_IMAGE, LANGUAGES, PAGE_TEXT, PAGES,
                             TOFU_CHARACTERS, Visit, build_and_serve, fontconfig_without_chinese, settle)

if not CHROMIUM.is_file():
    pytest.skip(f"{CHROMIUM} is absent (Debian package 'chromium'; .ci/run installs it)", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402  (after the skip: only the browser test needs it)

SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR") or Path(__file__).parent / "artifacts")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
FIGURE = re.compile(r"figures/[^)\"\s]+\.png")
OTHER = {"zh-TW": "en", "en": "zh-TW"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base, server = build_and_serve(tmp_path_factory.mktemp("browser") / "site")
    yield base
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    """A fresh context per test: the palette choice one test stores in localStorage does not leak into another."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    yield ctx
    ctx.close()


def open_page(context, url: str):
    visit = Visit()
    page = visit.watch(context.new_page())
    page.goto(url, wait_until="load")
    return page, visit


def _figures_in_source(name: str, locale: str) -> int:
    suffix = "" if locale == "zh-TW" else f".{locale}"
    return len(FIGURE.findall((ROOT / "site_src" / f"{name}{suffix}.md").read_text(encoding="utf-8")))


@pytest.mark.parametrize("locale", LANGUAGES)
def test_every_page_loads_cleanly_and_every_image_decodes(site, context, locale):
    """No console error, no failed or off-loopback request, every figure decoded, no character drawn as a box."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name in PAGES:
        url = f"{site}{LANGUAGES[locale]}{name}.html"
        page, visit = open_page(context, url)
        assert page.locator("html").get_attribute("lang") == locale, url
        count, broken = page.evaluate(DECODE_EVERY_IMAGE)
        assert broken == [], f"{url}: images that did not decode: {broken}"
        assert count == _figures_in_source(name, locale), url  # the browser saw every figure the Markdown has
        assert page.evaluate(TOFU_CHARACTERS, PAGE_TEXT) == [], f"{url}: characters drawn as empty boxes"
        page.wait_for_load_state("networkidle")
        visit.assert_clean(url)
        if name in ("index", "q1"):
            page.screenshot(path=SCREENSHOTS / f"{name}-{locale}.png")
            if name == "q1":
                page.locator("figure img").first.scroll_into_view_if_needed()
                settle(page.locator(".md-header__topic").last)  # the header swaps site title for page title
                page.screenshot(path=SCREENSHOTS / f"{name}-{locale}-figure.png")
        page.close()


@pytest.mark.parametrize("locale", LANGUAGES)
def test_language_switcher_leads_to_the_same_page_in_the_other_language(site, context, locale):
    other = OTHER[locale]
    for name in PAGES:
        page, visit = open_page(context, f"{site}{LANGUAGES[locale]}{name}.html")
        selector = page.locator(".md-header__option .md-select").filter(has=page.locator(f"a[hreflang='{other}']"))
        selector.hover()  # the language list opens on hover, as for a reader with a mouse
        with page.expect_navigation():
            selector.locator(f"a[hreflang='{other}']").click()
        assert page.url == f"{site}{LANGUAGES[other]}{name}.html"
        assert page.locator("html").get_attribute("lang") == other
        page.wait_for_load_state("networkidle")
        visit.assert_clean(page.url)
        page.close()


def test_clicking_a_figure_opens_it_zoomed(site, context):
    page, visit = open_page(context, f"{site}q1.html")
    link = page.locator("figure a.glightbox").first
    target = link.get_attribute("href")
    link.scroll_into_view_if_needed()
    link.click()
    zoomed = page.locator(".glightbox-container .gslide.current img")
    zoomed.wait_for(state="visible")
    assert zoomed.get_attribute("src") == urljoin(page.url, target)
    assert zoomed.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator(".glightbox-container .goverlay").is_visible()  # the page is dimmed behind the figure
    settle(zoomed)  # glightbox zooms in from 30% over half a second, then resizes the slide
    assert zoomed.bounding_box()["width"] > 300
    page.keyboard.press("Escape")
    page.locator(".glightbox-container").wait_for(state="detached")
    visit.assert_clean("q1.html with the lightbox")


def test_dark_mode_toggle_changes_the_colour_scheme(site, context):
    page, visit = open_page(context, f"{site}index.html")
    scheme = "document.body.getAttribute('data-md-color-scheme')"
    background = "getComputedStyle(document.body).backgroundColor"
    assert page.evaluate(scheme) == "default"
    light = page.evaluate(background)
    page.locator("label[for='__palette_1']").click()  # the moon icon: the slate (dark) scheme
    page.wait_for_function(f"{scheme} === 'slate'")
    settle(page.locator("body"))  # the colours may be mid-transition when the attribute changes
    dark = page.evaluate(background)
    assert dark != light and _luminance(dark) < _luminance(light)
    page.locator("label[for='__palette_0']").click()  # and back
    page.wait_for_function(f"{scheme} === 'default'")
    visit.assert_clean("index.html with the palette toggled")


def _luminance(css_colour: str) -> float:
    red, green, blue = (float(v) for v in re.findall(r"[\d.]+", css_colour)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _chinese_title_drawn(page) -> tuple[str, list[str]]:
    """The Chinese characters of the home page's title, and those of them drawn as tofu in the title's own font."""
    title = page.locator("article h1").first.inner_text()
    chinese = "".join(dict.fromkeys(CJK.findall(title)))
    tofu = [entry.split()[0] for entry in page.evaluate(TOFU_CHARACTERS, ["article h1", "article h1"])]
    return chinese, tofu


def test_chinese_text_is_drawn_with_a_font_that_has_chinese(site, context):
    """What a reader sees: each Chinese character of the title, drawn in the title's font, gives its own picture,
    unlike a code point no font has. Without a CJK font they would all be the same box."""
    page, visit = open_page(context, f"{site}index.html")
    chinese, tofu = _chinese_title_drawn(page)
    assert len(chinese) >= 4, chinese  # enough different characters for "all alike" to mean something
    assert tofu == [], f"drawn as empty boxes: {tofu}"
    visit.assert_clean("index.html")


def test_the_font_check_fails_when_the_chinese_fonts_are_hidden(site, browser, tmp_path):
    """The check above can fail: a Chromium that sees no CJK font (only matplotlib's DejaVu) draws every Chinese
    character of the title, and of the whole page, as tofu, and the checks say so."""
    environment = dict(os.environ, FONTCONFIG_FILE=str(fontconfig_without_chinese(tmp_path)))
    hidden = browser.browser_type.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True,
                                         env=environment)
    try:
        page = hidden.new_page()
        page.goto(f"{site}index.html", wait_until="load")
        chinese, tofu = _chinese_title_drawn(page)
        assert set(chinese) <= set(tofu), (chinese, tofu)
        on_page = {entry.split()[0] for entry in page.evaluate(TOFU_CHARACTERS, PAGE_TEXT)}
        assert set(chinese) <= on_page, on_page
    finally:
        hidden.close()


@pytest.mark.parametrize("locale", LANGUAGES)
def test_print_page_holds_the_whole_report_and_stays_on_loopback(site, context, locale):
    url = f"{site}{LANGUAGES[locale]}print_page.html"
    page, visit = open_page(context, url)
    assert page.locator("html").get_attribute("lang") == locale
    assert page.locator("#print-site-page section.print-page[heading-number]").count() == len(PAGES)
    for name in PAGES:  # each page's own title, in this language, is in the print page
        single, _ = open_page(context, f"{site}{LANGUAGES[locale]}{name}.html")
        heading = single.locator("article h1").first.inner_text().strip()
        single.close()
        assert heading in page.locator("#print-site-page").inner_text(), (name, heading)
    count, broken = page.evaluate(DECODE_EVERY_IMAGE)
    assert page.evaluate(TOFU_CHARACTERS, PAGE_TEXT) == [], "characters drawn as empty boxes"
    assert broken == [] and count == sum(_figures_in_source(name, locale) for name in PAGES), (count, broken)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"print_page-{locale}.png")
    other = page.locator(f".md-select a[hreflang='{OTHER[locale]}']").get_attribute("href")
    assert other.endswith("print_page.html")
    page.wait_for_load_state("networkidle")
    visit.assert_clean(url)


TOC_TITLES = {"zh-TW": "目錄", "en": "Contents"}  # generator/site/mkdocs_hooks.py PRINT_PAGE_TITLES


def _print_to_pdf(page, path: Path) -> str:
    """The page as Chromium prints it, and the PDF's text (pdftotext)."""
    page.pdf(path=str(path), prefer_css_page_size=True, print_background=True)
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext is absent (poppler-utils; .ci/run installs it)")
@pytest.mark.parametrize("locale", LANGUAGES)
def test_print_page_has_one_table_of_contents_on_screen_and_on_paper(site, context, locale, tmp_path):
    page, _ = open_page(context, f"{site}{LANGUAGES[locale]}print_page.html")
    toc = page.locator("#print-page-toc")
    assert toc.count() == 1 and toc.locator("nav > ul").count() == 1  # print-site's script ran once
    titles = []
    for name in PAGES:
        single, _ = open_page(context, f"{site}{LANGUAGES[locale]}{name}.html")
        titles.append(single.locator("article h1").first.inner_text().strip().rstrip("¶").strip())
        single.close()
    entries = [text.strip() for text in toc.locator("nav > ul > li").all_inner_texts()]
    assert entries == [f"{n} {title}" for n, title in enumerate(titles, 1)]
    text = _print_to_pdf(page, tmp_path / "print.pdf")
    assert text.count(f"\n{TOC_TITLES[locale]}\n") == 1
    assert " ".join(text.split()).count(entries[1]) == 2  # Q1's title: in the table of contents, and as Q1's own heading


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm is absent (poppler-utils; .ci/run installs it)")
def test_a_dark_palette_prints_light(site, context, tmp_path):
    """A reader who chose the dark palette still prints white paper (generator/site/print.js). With that script's
    work undone by a later handler, the same print is dark, so the check can fail."""
    page, _ = open_page(context, f"{site}en/print_page.html")
    page.locator("label[for='__palette_1']").click()  # Material's own toggle: to the dark scheme
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'")
    settle(page.locator("body"))

    def corner_of_page_two(name: str) -> tuple:
        page.pdf(path=str(tmp_path / f"{name}.pdf"), prefer_css_page_size=True, print_background=True)
        subprocess.run(["pdftoppm", "-r", "20", "-f", "2", "-l", "2", "-png", str(tmp_path / f"{name}.pdf"),
                        str(tmp_path / name)], check=True)
        from PIL import Image
        return Image.open(next(tmp_path.glob(f"{name}*.png"))).convert("RGB").getpixel((3, 3))

    assert corner_of_page_two("light") == (255, 255, 255)
    assert page.locator("body").get_attribute("data-md-color-scheme") == "slate"  # the reader's choice, back
    page.evaluate("""window.addEventListener('beforeprint', () => {
        document.body.setAttribute('data-md-color-scheme', 'slate');
        document.querySelector('meta[name="color-scheme"]').content = 'dark';
    })""")
    assert sum(corner_of_page_two("dark")) < 3 * 100
