"""The committed site, built and served on loopback, and a record of what a browser page did while it was open.

Playwright (not selenium + chromium-driver): its Python wheel carries its own driver, so the only system package
the browser test needs is Debian's chromium, and it gives console messages and every request without extra
plumbing.
"""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
# Headless and quiet: no update checks, sync, first-run pages or GPU; --no-sandbox because CI runs as root.
# Playwright's launch() also gives Chromium a fresh temporary user-data-dir of its own, removed on close.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-gpu", "--no-first-run", "--disable-sync"]
PAGES = ("index", "q1", "q2", "q3", "q4", "trust", "reproducibility")
LANGUAGES = {"zh-TW": "", "en": "en/"}  # locale -> folder; zh-TW is the default, at the root
ALLOWED_SCHEMES = ("data", "blob")  # inline: no network involved


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output for failures
        pass


def build_and_serve(site_dir: Path):
    """Bind a free loopback port first, so the build's site_url is the address the browser really uses (Material's
    language selector maps pages through the sitemap's absolute URLs), then build and serve the committed site_src/.

    Returns (base URL, server); call server.shutdown() when done."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    env = dict(os.environ, SITE_URL=base, NO_MKDOCS_2_WARNING="1", PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"),
                          "-d", str(site_dir)], capture_output=True, text=True, env=env, cwd=ROOT)
    if run.returncode != 0:
        server.server_close()
        raise AssertionError(f"mkdocs build --strict failed:\n{run.stderr}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return base, server


@dataclass
class Visit:
    """Everything one page did that a reader would not want: console errors, failed loads, requests off loopback."""
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def watch(self, page):
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda msg: msg.type == "error" and self.console_errors.append(
            f"{msg.text} ({msg.location.get('url')})"))
        page.on("pageerror", lambda error: self.console_errors.append(f"uncaught: {error}"))
        page.on("requestfailed", lambda request: self.failed.append(f"{request.url}: {request.failure}"))
        page.on("response", lambda response: response.status >= 400 and self.failed.append(
            f"{response.url}: HTTP {response.status}"))
        return page

    def off_loopback(self) -> list[str]:
        return [url for url in self.requests
                if urlsplit(url).scheme not in ALLOWED_SCHEMES and urlsplit(url).hostname != "127.0.0.1"]

    def assert_clean(self, where: str):
        assert self.console_errors == [], f"{where}: console errors {self.console_errors}"
        assert self.failed == [], f"{where}: failed requests {self.failed}"
        assert self.off_loopback() == [], f"{where}: requests leaving 127.0.0.1 {self.off_loopback()}"
        assert self.requests, f"{where}: no request recorded at all"


# Scrolls each image into view (lazy images start loading only then) and waits for it to decode; returns the
# number of images and the sources of those that did not decode. A broken image makes decode() reject.
DECODE_EVERY_IMAGE = """async () => {
  const broken = [];
  for (const img of Array.from(document.images)) {
    img.scrollIntoView({block: "center"});
    const timeout = new Promise(resolve => setTimeout(resolve, 15000));
    await Promise.race([img.decode().catch(() => null), timeout]);
    if (!(img.complete && img.naturalWidth > 0)) broken.push(img.getAttribute("src"));
  }
  window.scrollTo(0, 0);
  return [document.images.length, broken];
}"""


# Characters that Chromium can only draw as a "tofu" box. Each distinct character of the text is drawn on a canvas in
# the font stack a reader's text gets; a character is tofu when its pixels equal those of a code point no font has
# (two unassigned ones and a private-use one), or those of another character: tofu boxes are all alike, real glyphs
# differ. No rule of a particular Chromium build's font fallback is assumed: whichever font draws the missing-glyph
# box, it draws the same box for each missing character. Catches a missing CJK font and a missing emoji font (the
# pages show ✅ and ⚠️) alike. Arguments: the element whose font is used, the element whose text is checked.
TOFU_CHARACTERS = """([fontFrom, textFrom]) => {
  const style = getComputedStyle(document.querySelector(fontFrom) || document.body);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 48;
  const ctx = canvas.getContext("2d", {willReadFrequently: true});
  ctx.font = `32px ${style.fontFamily}`;
  const draw = ch => {
    ctx.clearRect(0, 0, 48, 48);
    ctx.fillText(ch, 4, 36);
    return ctx.getImageData(0, 0, 48, 48).data.join("");
  };
  const missing = new Set(["\\u0378", "\\u0379", "\\u{10FFFD}"].map(draw));
  const chars = [...new Set(Array.from(document.querySelector(textFrom).innerText))].filter(c => c.trim());
  const pixels = chars.map(draw);
  const count = new Map();
  pixels.forEach(p => count.set(p, (count.get(p) || 0) + 1));
  return chars.filter((c, i) => missing.has(pixels[i]) || count.get(pixels[i]) > 1)
              .map(c => `${c} U+${c.codePointAt(0).toString(16).toUpperCase()}`);
}"""
PAGE_TEXT = ("article", "body")  # TOFU_CHARACTERS' arguments for a whole page in the article's font


# Resolves once nothing animates in the document and the element's box and colours have stayed the same for
# quietMs; rejects after timeoutMs, naming what still runs. A value read once, while glightbox's zoom or a colour
# transition is still running, is a value from the middle of the animation.
SETTLED = """async (element, [quietMs, timeoutMs]) => {
  const target = element || document.body;
  const state = () => {
    const box = target.getBoundingClientRect(), style = getComputedStyle(target);
    return [box.x, box.y, box.width, box.height, style.color, style.backgroundColor, style.opacity].join();
  };
  const running = () => document.getAnimations().filter(a => a.playState === "running");
  const start = performance.now();
  let last = state(), since = start;
  while (performance.now() - start < timeoutMs) {
    await new Promise(resolve => requestAnimationFrame(resolve));
    const now = state();
    if (now !== last || running().length) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) {
      return now;
    }
  }
  const names = running().map(a => a.animationName || a.transitionProperty || a.constructor.name);
  throw new Error(`still changing after ${timeoutMs} ms: ${last}; running: ${names}`);
}"""


def settle(locator, quiet_ms: int = 300, timeout_ms: int = 10_000) -> None:
    """Wait until ``locator``'s element has stopped moving and changing colour, and nothing in its page animates."""
    locator.evaluate(SETTLED, [quiet_ms, timeout_ms])


def fontconfig_without_chinese(folder: Path) -> Path:
    """A fontconfig file under which the browser sees only matplotlib's bundled DejaVu fonts, none of which has a
    Chinese character or an emoji: given to Chromium as FONTCONFIG_FILE, it hides every CJK font on the machine,
    whichever are installed, so a check for tofu must then find some."""
    import matplotlib  # a core dependency; imported here so the module stays cheap for a skipped test

    config = folder / "fonts.conf"
    config.write_text(f"""<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">
<fontconfig>
  <dir>{Path(matplotlib.get_data_path()) / "fonts" / "ttf"}</dir>
  <cachedir>{folder / "cache"}</cachedir>
</fontconfig>
""", encoding="utf-8")
    return config
