"""MkDocs hooks: per-language sitemaps, and one printable page per language.

Material's language selector fetches ``<language>/sitemap.xml`` to find the same page in the other language, and
mkdocs-static-i18n writes only the root sitemap, so every English page would log a 404 in the browser console.

mkdocs-print-site-plugin knows nothing of mkdocs-static-i18n, which builds the English site by running the whole
build again on the same config. Left alone, the plugin writes both languages' print pages to the root
``print_page.html`` (English last, so the Chinese one is lost), links the images of the English pages from the
root, and adds its CSS and JavaScript to the config once more per build. The hooks below give each language its own
print page (``print_page.html``, ``en/print_page.html``) with a translated title.

The hand-in page (``handin.md``, rendered by the generator) names the site's address in its appendix when
``site_url`` is set: the hook below writes it in place of a marker.

This file must not import the ``generator`` package at import time: the Pages workflow installs only
requirements-docs.txt. The live preview at the end imports it under ``mkdocs serve`` only, and does nothing without it.
"""
import copy
import logging
import re
import shutil
from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

# The print page's title and its table of contents' title, per locale.
PRINT_PAGE_TITLES = {"zh-TW": ("全文列印版", "目錄"), "en": ("Printable version", "Contents")}

# A relative src/href in the combined content: not an anchor, not a scheme (http:, data:), not root-absolute.
_RELATIVE_URL = re.compile(r'(\s(?:src|href)=")(?![#/]|[a-zA-Z][a-zA-Z0-9+.-]*:)')
# A content fragment that an HTML parser gave back as a whole document.
_DOCUMENT = re.compile(r"\A\s*<html>\s*<head>(.*?)</head>\s*<body>(.*)</body>\s*</html>\s*\Z", re.S)
# glightbox's zoom link around a figure: on paper (and in a PDF) a link to a loose image file leads nowhere.
_ZOOM_LINK = re.compile(r'<a class="glightbox"[^>]*>(<img[^>]*>)</a>')
# print-site's table of contents (a section of its own), and the first page's title and the table right after it.
_TOC_SECTION = re.compile(r'\s*<section class="print-page">\s*(<div id="print-page-toc".*?</div>)\s*</section>', re.S)
_TITLE_AND_TABLE = re.compile(r'(<section class="print-page" id="[^"]*" heading-number="1">\s*<h1.*?</h1>\s*'
                              r'<table>.*?</table>)', re.S)
# The hand-in page's placeholder for the site's address, filled in when site_url is set to anything but mkdocs.yml's
# local default (SITE_URL unset), whose address would mean nothing to a grader.
SITE_URL_MARK = "<!-- handin:site-url -->"
LOCAL_SITE_URL = "http://127.0.0.1:8000/"
SITE_WORDS = {"zh-TW": "網站：", "en": "Site: "}
# The paper-only assets, shipped with these hooks so they need no rebuild of site_src/.
PRINT_ASSETS = {f"assets/print/{name}": Path(__file__).with_name(name) for name in ("print.css", "print.js")}


def _language_being_built(config):
    """(locale, folder prefix) of the language this build writes: ("zh-TW", "") or ("en", "en/")."""
    i18n = config.plugins.get("i18n")
    if i18n is None:
        return None, ""
    locale = i18n.current_language
    return locale, "" if locale == i18n.default_language else f"{locale}/"


def _unique(items):
    seen, kept = set(), []
    for item in items:
        if str(item) not in seen:
            seen.add(str(item))
            kept.append(item)
    return kept


@event_priority(-200)  # after mkdocs-static-i18n (-100) has switched the config to the language being built
def on_config(config, **_):
    printer = config.plugins.get("print-site")
    if printer is None:
        return config
    # print-site prepends its assets on every on_config call, i.e. once per language build.
    config.extra_css = _unique(config.extra_css + ["assets/print/print.css"])
    config.extra_javascript = _unique(config.extra_javascript + ["assets/print/print.js"])

    locale, prefix = _language_being_built(config)
    title, toc_title = PRINT_PAGE_TITLES.get(locale, (printer.config["print_page_title"], printer.config["toc_title"]))
    printer.config["toc_title"] = toc_title
    print_file = File(path=f"{prefix}{printer.config['print_page_basename']}.md", src_dir="",
                      dest_dir=config["site_dir"], use_directory_urls=config["use_directory_urls"])
    print_page = Page(title=title, file=print_file, config=config)
    print_page.edit_url = None
    printer.print_file, printer.print_page, printer.renderer.print_page = print_file, print_page, print_page
    _shape_combined(printer.renderer, prefix)
    return config


def on_page_markdown(markdown, page, config, **_):
    if SITE_URL_MARK not in markdown:
        return markdown
    url = config.get("site_url") or ""
    locale, prefix = _language_being_built(config)
    line = "" if not url or url == LOCAL_SITE_URL else f"{SITE_WORDS.get(locale, 'Site: ')}<{url.rstrip('/')}/{prefix}>"
    return markdown.replace(SITE_URL_MARK, line)


@event_priority(-50)  # after glightbox (0) wrapped the content in a document, and print-site (0) kept a copy of it
def on_page_content(html, page, **_):
    match = _DOCUMENT.match(html)
    if match is None:
        return html
    fragment = match.group(1) + match.group(2)
    if getattr(page, "html", None) == html:  # print-site's copy, from which it joins the print page
        page.html = fragment
    return fragment


def _shape_combined(renderer, prefix):
    """Shape the print page's content for paper: the title and author table first, then the table of contents;
    figures without zoom links; and, in a language folder, image and file links relative to that folder (the
    plugin makes them relative to the site root)."""
    up = "../" * prefix.count("/")
    write_combined = type(renderer).write_combined

    def write_shaped():
        html, toc = write_combined(renderer)
        html = _ZOOM_LINK.sub(r"\1", html)
        toc_section = _TOC_SECTION.search(html)
        if toc_section and _TITLE_AND_TABLE.search(html, toc_section.end()):
            rest = html[:toc_section.start()] + html[toc_section.end():]
            html = _TITLE_AND_TABLE.sub(lambda m: m.group(1) + toc_section.group(1), rest, count=1)
        if up:
            html = _RELATIVE_URL.sub(lambda m: m.group(1) + up, html)
        return html, toc

    renderer.write_combined = write_shaped


def _with_language_links_to_print_pages(config, basename):
    """The print page borrows the 404 page's language selector, which links to whatever page was built last.
    Return a copy of the config whose selector links to the print page in each language; the copy keeps the shared
    config unchanged for the pages mkdocs-static-i18n builds next."""
    i18n = config.plugins.get("i18n")
    # mkdocs-static-i18n sets `config.extra.alternate` as an attribute, which Jinja reads before the dict item.
    alternates = getattr(config.extra, "alternate", None)
    if i18n is None or not alternates:
        return config
    extra = copy.copy(config.extra)
    extra.alternate = [
        dict(alternate, link=("" if alternate["lang"] == i18n.default_language else f"{alternate['lang']}/")
             + f"{basename}.html")
        for alternate in alternates]
    shown = copy.copy(config)
    shown["extra"] = extra
    return shown


@event_priority(10)  # before print-site renders its page (priority 0)
def on_post_build(config, **_):
    printer = config.plugins.get("print-site")
    if printer is not None and printer.context:
        # The plugin renders with the 404 page's context, whose base_url is the absolute path of site_url; the
        # page's own relative one keeps search, the palette and the language selector working from file:// too.
        printer.context = dict(printer.context, base_url=get_relative_url(".", printer.print_page.url))
        printer.context["config"] = _with_language_links_to_print_pages(printer.context["config"],
                                                                        printer.config["print_page_basename"])
    site = Path(config["site_dir"])
    for target, source in PRINT_ASSETS.items():
        (site / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, site / target)
    for name in ("sitemap.xml", "sitemap.xml.gz"):
        if (site / name).is_file() and (site / "en").is_dir():
            shutil.copyfile(site / name, site / "en" / name)


# Live preview under `mkdocs serve`: an edit under templates/ (watched through mkdocs.yml `watch:`) re-renders
# site_src through the generator's quick path before mkdocs reads it (generator/site/preview.py). `mkdocs build`
# and a machine without the generator (the Pages workflow) skip it.
_preview = {"serving": False, "renderer": None}
_preview_log = logging.getLogger("mkdocs.hooks.preview")


def on_startup(command, **_):
    _preview["serving"] = command == "serve"


def _live_preview(config):
    """The LivePreview of this server, made on first use; None when the generator cannot be imported."""
    if _preview["renderer"] is None:
        try:
            from generator.site.preview import LivePreview
        except ImportError:
            _preview["serving"] = False
            return None
        _preview["renderer"] = LivePreview(Path(config.config_file_path).parent, Path(config.docs_dir))
    return _preview["renderer"]


@event_priority(100)  # before any plugin reads docs_dir
def on_pre_build(config, **_):
    i18n = config.plugins.get("i18n")
    if not _preview["serving"] or getattr(i18n, "building", False):  # once per rebuild, not per language
        return
    renderer = _live_preview(config)
    if renderer is None:
        return
    renderer.keep_theme_compiled(config.theme)
    said = renderer.refresh()
    if said is not None:
        level, line = said
        _preview_log.log(logging.WARNING if level == "warning" else logging.INFO, line)
