"""The README's commands, CI and the Pages workflow agree with each other and with pyproject.toml."""
import re
import tomllib

from conftest import ROOT


def _readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_quick_start_is_two_commands_and_ci_runs_the_second():
    quick_start = (ROOT / "README.md").read_text().split("## Quick start")[1].split("\n## ")[0]
    commands = re.findall(r"```bash\n(.+?)\n```", quick_start)
    assert len(commands) == 2
    assert "python -m generator build" in commands[0] and commands[0].endswith("mkdocs serve")
    script = (ROOT / ".ci/run").read_text()
    ci = [line for line in script.splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert ci[-1] == commands[1] and commands[1] not in ci[:-1]
    # Before it, only the install of what the browser and PDF tests need, when it is missing (CI runs as root).
    assert "set -euo pipefail" in script
    assert ci[:-1] == [
        "if ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null \\",
        "    || ! dpkg -s fonts-noto-cjk fonts-noto-color-emoji fonts-wqy-microhei poppler-utils >/dev/null 2>&1; then",
        "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium "
        "fonts-noto-cjk \\",
        "    fonts-noto-color-emoji fonts-wqy-microhei poppler-utils",
        "fi"]


def test_the_pdf_extra_is_playwright_at_the_test_extras_pin_and_not_a_core_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    playwright = [pin for pin in project["optional-dependencies"]["test"] if pin.startswith("playwright")]
    assert project["optional-dependencies"]["pdf"] == playwright and len(playwright) == 1
    assert not any(dep.startswith("playwright") for dep in project["dependencies"])
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[pdf]"' in readme and "python -m generator pdf" in readme


def test_torch_is_pinned_to_the_cpu_build_on_disk():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in deps


def test_pages_workflow_needs_only_the_docs_packages_with_the_same_pins():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    docs = [line for line in (ROOT / "requirements-docs.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert docs and all(pin in deps for pin in docs)
    assert not any(name.startswith(("torch", "numpy", "lime")) for name in docs)
    workflow = (ROOT / ".github/workflows/pages.yml").read_text()
    for needed in ("pages: write", "id-token: write", "pip install -r requirements-docs.txt",
                   "mkdocs build --strict", "actions/upload-pages-artifact", "path: site", "actions/deploy-pages",
                   "SITE_URL:"):
        assert needed in workflow, needed


def test_committed_report_exists_in_both_languages():
    for page in ("index", "q1", "q2", "q3", "q4", "reproducibility"):
        assert (ROOT / "site_src" / f"{page}.md").is_file() and (ROOT / "site_src" / f"{page}.en.md").is_file()


def test_a_venv_inside_the_project_is_ignored_by_git():
    """The README's first command run in a venv made inside the project leaves nothing untracked."""
    import shutil
    import subprocess
    import pytest
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    paths = [".venv/bin/python", "venv/lib/site.py", "src/.venv/x", "venvs.txt"]
    # --no-index: the rules of .gitignore alone, whatever is tracked; -v -n: one line per path, matched or not
    run = subprocess.run(["git", "check-ignore", "--no-index", "-v", "-n", *paths], cwd=ROOT, capture_output=True,
                         text=True)
    assert run.returncode in (0, 1), run.stderr
    matched = {line.split("\t")[1]: line.split("\t")[0] for line in run.stdout.splitlines()}
    assert matched[".venv/bin/python"].startswith(".gitignore:") and matched[".venv/bin/python"].endswith(":.venv/")
    assert matched["venv/lib/site.py"].endswith(":venv/") and matched["src/.venv/x"].endswith(":.venv/")
    assert matched["venvs.txt"] == "::"  # no rule: a file merely named like one stays tracked
