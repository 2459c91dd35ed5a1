"""Write docs/screenshot.png, the README's picture of a report page, with the browser tests' machinery: the
committed site_src/ built with mkdocs --strict, served on loopback, and photographed by headless Debian Chromium.

    python tests/screenshot.py [OUT.png]

Run it after regenerating and committing site_src/, so that the picture shows the committed report.
tests/test_screenshot.py checks that the committed file is what this script writes in size, and (with Chromium)
that the script runs.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser_support import CHROMIUM, CHROMIUM_ARGS, build_and_serve, settle  # noqa: E402
from conftest import ROOT  # noqa: E402

OUT = ROOT / "docs" / "screenshot.png"
PAGE = "en/q1.html"                  # question 1: the saliency maps beside the other gradient methods
VIEWPORT = {"width": 1200, "height": 760}


def take(out: Path = OUT) -> Path:
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        base, server = build_and_serve(Path(folder) / "site")
        try:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport=VIEWPORT, service_workers="block", color_scheme="light")
            page = context.new_page()
            page.goto(base + PAGE, wait_until="networkidle")
            figure = page.locator("figure img").first
            figure.scroll_into_view_if_needed()
            page.evaluate("window.scrollBy(0, -300)")  # the figure with the methods' trust lines above it
            page.add_style_tag(content=".md-top { display: none !important; }")  # Material's "Back to top" button
            settle(page.locator(".md-header__topic").last)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            browser.close()
        finally:
            server.shutdown()
            server.server_close()
    return out


if __name__ == "__main__":
    print(take(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
