"""``python -m generator pdf``: the report as two PDFs, one per language, for a course that collects a file.

By default it prints the hand-in page (``handin.html``, ``en/handin.html``) to ``handin.<locale>.pdf``: the author
header, each question's answer from a new page with its figures in a grid, and a short appendix. ``--full`` prints
the whole report instead (print-site's ``print_page.html``) to ``report.<locale>.pdf``.

It prints the site as it is: ``mkdocs build`` of the committed docs folder into a temporary folder (no analysis, no
torch), then headless Chromium prints each language's page. The paper layout (A4, page numbers, no split figures, the
light palette, a page break before each hand-in question; in the full report the title and author table before
the table of contents) is the site's own print CSS (generator/site/print.css), so the browser's Ctrl-P gives the same.

Chromium is driven by playwright, an optional extra (``pip install -e ".[pdf]"``). Debian's ``chromium`` is used
when present, else the browser ``python -m playwright install chromium`` put in playwright's cache.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from generator.errors import InputError

LANGUAGES = {"zh-TW": "", "en": "en/"}  # locale -> folder of its print page in the built site (zh-TW is the default)
PRINT_PAGE = "print_page.html"  # the whole report (--full), as mkdocs-print-site-plugin joins it
HANDIN_PAGE = "handin.html"     # the hand-in version (the default)
OUTPUTS = {HANDIN_PAGE: "handin", PRINT_PAGE: "report"}  # printed page -> the PDFs' name before .<locale>.pdf
DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
# Headless and quiet: no update checks or background traffic; --no-sandbox because CI and containers run as root.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-gpu", "--no-first-run", "--disable-sync"]
NO_PLAYWRIGHT = 'playwright is not installed: the pdf command needs the "pdf" extra (pip install -e ".[pdf]")'
NO_CHROMIUM = ("no Chromium to print with: install Debian's (sudo apt-get install chromium) or playwright's "
               "(python -m playwright install chromium)")

# Every image decoded before printing (the print page loads them all; a PDF printed earlier has holes). The light
# palette needs nothing here: the site's print.js switches to it as printing starts.
READY_FOR_PAPER = """async () => {
  await Promise.all(Array.from(document.images).map(img => img.decode().catch(() => null)));
  return Array.from(document.images).filter(img => !(img.complete && img.naturalWidth > 0))
              .map(img => img.getAttribute("src"));
}"""


def import_playwright():
    """playwright's sync API, or the one line that names the extra."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise InputError(NO_PLAYWRIGHT) from None
    return sync_playwright


def playwright_chromium(playwright) -> Path | None:
    """The Chromium that ``python -m playwright install chromium`` downloaded, if it did."""
    try:
        path = Path(playwright.chromium.executable_path)
    except Exception:  # noqa: BLE001 -- playwright raises when it knows no browser for this platform
        return None
    return path if path.is_file() else None


def find_chromium(playwright) -> Path:
    """Debian's chromium first (what the project's machines and CI install), else playwright's own."""
    for candidate in (DEBIAN_CHROMIUM, playwright_chromium(playwright)):
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise InputError(NO_CHROMIUM)


def build_site(root: Path, site: Path, page: str = PRINT_PAGE) -> None:
    """``mkdocs build`` of the project's mkdocs.yml into ``site``, in its own process: mkdocs and jieba write to
    stderr, which must hold nothing but an error's one line."""
    config = root / "mkdocs.yml"
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-f", str(config), "-d", str(site)],
                         cwd=root, capture_output=True, text=True, env=env)
    if run.returncode != 0:
        lines = [line.strip() for line in run.stderr.splitlines() if line.strip()]
        raise InputError(f"{config}: mkdocs build failed: {lines[-1] if lines else f'exit code {run.returncode}'}")
    for locale, folder in LANGUAGES.items():
        if not (site / folder / page).is_file():
            expected = ("a site_src/ written by this generator (python -m generator build)" if page == HANDIN_PAGE
                        else "the print-site and i18n plugins as in the project's mkdocs.yml")
            raise InputError(f"{config}: mkdocs wrote no {folder}{page} for {locale}; expected {expected}")


def print_pdfs(site: Path, out: Path, chromium: Path, sync_playwright, page_name: str = PRINT_PAGE) -> list[Path]:
    """Each language's ``page_name`` to ``out/<name>.<locale>.pdf`` (OUTPUTS); each file appears whole or not at
    all."""
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(color_scheme="light", service_workers="block")
            for locale, folder in LANGUAGES.items():
                page = context.new_page()
                page.goto((site / folder / page_name).as_uri(), wait_until="load")
                page.emulate_media(media="print", color_scheme="light")
                broken = page.evaluate(READY_FOR_PAPER)
                if broken:
                    raise InputError(f"{site / folder / page_name}: images that do not load: {', '.join(broken)}")
                target = out / f"{OUTPUTS[page_name]}.{locale}.pdf"
                partial = target.with_name(target.name + ".new")
                # The page size, margins and footer come from the site's print CSS; outline: PDF bookmarks.
                try:
                    page.pdf(path=str(partial), prefer_css_page_size=True, print_background=True, outline=True,
                             tagged=True)
                    partial.replace(target)
                finally:  # an error or Ctrl-C half-way leaves no *.pdf.new behind
                    partial.unlink(missing_ok=True)
                written.append(target)
                page.close()
        finally:
            browser.close()
    return written


def make_pdfs(root: Path, out: Path, full: bool = False) -> list[Path]:
    """The command: check that a browser can be had, build the site, print both languages: the hand-in page, or
    with ``full`` the whole report."""
    if not (root / "mkdocs.yml").is_file():
        raise InputError(f"{root / 'mkdocs.yml'}: not found; the pdf command prints the site that mkdocs builds from it")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out: {out} is a file, expected a folder")
    sync_playwright = import_playwright()
    with sync_playwright() as playwright:
        chromium = find_chromium(playwright)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="report-pdf-") as temporary:
        site = Path(temporary) / "site"
        page = PRINT_PAGE if full else HANDIN_PAGE
        build_site(root, site, page)
        return print_pdfs(site, out, chromium, sync_playwright, page)
