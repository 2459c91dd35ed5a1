"""Live preview: under `mkdocs serve`, an edit under templates/ reaches the served page through the quick path (no
torch, no analysis); a stale record or a broken template is one line in the terminal and the last report stays.

One tiny project is built for the whole module (a full build is the slow part); each test works on its own copy.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import QUICK, ROOT, quick_tables, snapshot, write_project
from generator.build import build
from generator.config import load_settings
from generator.site.preview import NO_RECORD, STALE, LivePreview

HOOKS = "generator/site/mkdocs_hooks.py"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A fully built tiny project set up as a student's repository is: its own templates/ and mkdocs.yml, whose
    hooks are this checkout's."""
    project = write_project(tmp_path_factory.mktemp("built"), author=['student_id = "b11901001"'],
                            **quick_tables(QUICK))
    shutil.copytree(ROOT / "templates", project / "templates")
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert f"  - {HOOKS}\n" in config
    (project / "mkdocs.yml").write_text(config.replace(f"  - {HOOKS}\n", f"  - {ROOT / HOOKS}\n"), encoding="utf-8")
    build(load_settings(project / "pyproject.toml"), project / "templates")
    return project


@pytest.fixture
def project(built, tmp_path):
    return Path(shutil.copytree(built, tmp_path / "project"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8")
    except (urllib.error.URLError, OSError):
        return None


def _wait_for(condition, seconds: float):
    """Poll ``condition`` until it returns something true or ``seconds`` pass; returns its last value."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


class Server:
    """`mkdocs serve` on a free loopback port, in its own process group, its terminal output in a file."""

    def __init__(self, project: Path):
        self.log_path = project / "serve.log"
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mkdocs", "serve", "-a", f"127.0.0.1:{port}"], cwd=project,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                # A shell's background job ignores SIGINT, and a child would inherit that: restore Ctrl-C's default
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                env=dict(os.environ, PYTHONPATH=str(ROOT), NO_MKDOCS_2_WARNING="1", SITE_URL=self.url))

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def page(self, path: str) -> str | None:
        return _get(self.url + path)

    def mapped_libraries(self) -> str:
        """The files mapped into the server's memory: an imported torch shows as its shared libraries."""
        return Path(f"/proc/{self.process.pid}/maps").read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # mkdocs shuts down and removes its temporary site
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def serve():
    servers = []

    def start(project: Path) -> Server:
        server = Server(project)
        servers.append(server)
        # The first build loads jieba's dictionary; on a busy machine it takes a while.
        assert _wait_for(lambda: server.page("en/q1.html"), 240), server.log()
        return server

    yield start
    for server in servers:
        server.stop()


def _torch_and_matplotlib(maps: str) -> list[str]:
    return [name for name in ("libtorch", "matplotlib") if name in maps]


def test_a_prose_edit_shows_on_the_served_page_without_torch(project, serve):
    server = serve(project)
    prose = project / "templates" / "prose" / "q1.en.md"
    original = prose.read_bytes()
    sentence = f"A sentence written while serving {uuid.uuid4().hex}."
    try:
        prose.write_text(original.decode() + f"\n{sentence}\n", encoding="utf-8")
        shown = _wait_for(lambda: sentence in (server.page("en/q1.html") or ""), 30)
    finally:
        prose.write_bytes(original)
    assert shown, server.log()
    assert sentence in (project / "site_src" / "q1.en.md").read_text(encoding="utf-8")
    # q1.en.md, q1.md which borrows it, and the hand-in page of each language, which holds question 1's prose too
    assert "preview: 4 files of site_src re-rendered" in server.log()
    assert _torch_and_matplotlib(server.mapped_libraries()) == []
    assert "Traceback" not in server.log()


def test_the_library_check_sees_torch_in_a_process_that_imports_it():
    """The check above can fail: a process that imports torch maps libtorch."""
    script = "import sys, torch; print(open(f'/proc/{__import__(\"os\").getpid()}/maps').read())"
    maps = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert "libtorch" in _torch_and_matplotlib(maps)


def test_a_stale_build_says_so_in_one_line_and_keeps_serving_the_last_report(project, serve):
    settings = project / "pyproject.toml"
    settings.write_text("[tool.generator]\nseed = 1\n" + settings.read_text(encoding="utf-8"), encoding="utf-8")
    before = snapshot(project / "site_src")
    last_report = (project / "site_src" / "q1.en.md").read_text(encoding="utf-8")
    server = serve(project)
    stale_lines = lambda: [line for line in server.log().splitlines() if "preview:" in line]  # noqa: E731
    assert [line.split("-  ", 1)[-1] for line in stale_lines()] == [f"preview: {STALE}"]
    assert "python -m generator build" in stale_lines()[0] and "Traceback" not in server.log()
    first_heading = next(line for line in last_report.splitlines() if line.startswith("# "))[2:]
    assert first_heading in server.page("en/q1.html")

    prose = project / "templates" / "prose" / "q1.en.md"  # an edit while stale: said again, nothing rendered
    prose.write_text(prose.read_text(encoding="utf-8") + "\nNot shown until the full build.\n", encoding="utf-8")
    assert _wait_for(lambda: len(stale_lines()) == 2 and server.log().count("Reloading browsers") >= 1, 30), \
        server.log()
    assert "Not shown until the full build." not in server.page("en/q1.html")
    assert snapshot(project / "site_src") == before
    assert server.process.poll() is None and "Traceback" not in server.log()


def test_a_broken_template_is_one_line_naming_it_and_the_pages_stay(project):
    before = snapshot(project / "site_src")
    preview = LivePreview(project, project / "site_src")
    assert preview.refresh() is None  # nothing changed since the build: nothing written, nothing said
    page = project / "templates" / "en" / "q1.md.j2"
    lines = page.read_text(encoding="utf-8").splitlines()
    page.write_text("\n".join([*lines[:2], "{% if %}", *lines[2:]]) + "\n", encoding="utf-8")
    level, line = preview.refresh()
    assert level == "warning" and "\n" not in line
    assert line.startswith(f"preview: {page} line 3: ") and line.endswith("; still serving the last report")
    assert preview.refresh() is None  # the same broken sources: not tried, nor said, again
    page.write_text("\n".join([*lines[:2], "{{ no_such_value }}", *lines[2:]]) + "\n", encoding="utf-8")
    level, line = preview.refresh()
    assert line.startswith(f"preview: {page} line 3: 'no_such_value' is undefined")
    assert snapshot(project / "site_src") == before


def test_a_template_edit_rewrites_that_page_alone_and_says_so(project):
    """That the quick path renders what a full build renders is tests/test_rebuild.py's; here, what the preview
    writes and says."""
    before = snapshot(project / "site_src")
    page = project / "templates" / "en" / "q3.md.j2"
    page.write_text(page.read_text(encoding="utf-8") + "\nA sentence added by the author.\n", encoding="utf-8")
    level, line = LivePreview(project, project / "site_src").refresh()
    assert level == "info" and line.startswith("preview: 1 file of site_src re-rendered from templates/ in ")
    after = snapshot(project / "site_src")
    assert [name for name in after if after[name] != before[name]] == ["q3.en.md"]  # bytes or mtime
    assert "A sentence added by the author." in (project / "site_src" / "q3.en.md").read_text(encoding="utf-8")


def test_without_a_full_build_the_preview_says_what_to_run(project):
    shutil.rmtree(project / ".generator-cache")
    assert LivePreview(project, project / "site_src").refresh() == ("info", f"preview: {NO_RECORD}")


def test_a_site_folder_mkdocs_does_not_serve_is_left_alone(project):
    settings = project / "pyproject.toml"
    settings.write_text('[tool.generator]\nsite_dir = "elsewhere"\n' + settings.read_text(encoding="utf-8"),
                        encoding="utf-8")
    level, line = LivePreview(project, project / "site_src").refresh()
    assert (level, line.split(":")[0]) == ("info", "preview") and "not re-rendered" in line
    assert not (project / "elsewhere").exists()


def test_mkdocs_build_never_re_renders(project):
    prose = project / "templates" / "prose" / "q1.en.md"
    prose.write_text("A sentence mkdocs build must not see.\n", encoding="utf-8")
    before = snapshot(project / "site_src")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-q", "-d", str(project / "site")], cwd=project,
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT),
                                                                  NO_MKDOCS_2_WARNING="1"))
    assert run.returncode == 0, run.stderr
    assert "preview" not in run.stdout + run.stderr
    assert snapshot(project / "site_src") == before
