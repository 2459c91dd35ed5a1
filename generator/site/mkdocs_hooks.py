"""MkDocs hook: give each language its own sitemap.xml.

Material's language selector fetches ``<language>/sitemap.xml`` to find the same page in the other language, and
mkdocs-static-i18n writes only the root sitemap, so every English page would log a 404 in the browser console.
"""
import shutil
from pathlib import Path


def on_post_build(config, **_):
    site = Path(config["site_dir"])
    for name in ("sitemap.xml", "sitemap.xml.gz"):
        if (site / name).is_file() and (site / "en").is_dir():
            shutil.copyfile(site / name, site / "en" / name)
