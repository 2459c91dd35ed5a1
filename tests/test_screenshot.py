"""docs/screenshot.png comes from tests/screenshot.py (Chromium on the served committed site), not by hand."""
import struct

import pytest

from conftest import ROOT
import screenshot


def _png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


def test_the_committed_screenshot_is_the_scripts_size_and_in_the_readme():
    assert _png_size(screenshot.OUT) == (screenshot.VIEWPORT["width"], screenshot.VIEWPORT["height"])
    assert "](docs/screenshot.png)" in (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.skipif(not screenshot.CHROMIUM.is_file(), reason="/usr/bin/chromium is absent (.ci/run installs it)")
@pytest.mark.browser
def test_the_script_photographs_the_served_site(tmp_path):
    out = screenshot.take(tmp_path / "shot.png")
    assert _png_size(out) == (screenshot.VIEWPORT["width"], screenshot.VIEWPORT["height"])
    assert out.stat().st_size > 20_000  # a page with figures, not a blank one
