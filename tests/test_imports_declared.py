"""Every package that generator/ imports is declared in pyproject.toml, so a clean `pip install -e .` runs it.

Each import statement in generator/ is read with ast and mapped to the distribution that provides it (through the
installed packages' metadata). An import that runs when its module is imported must be a core dependency; one
inside a function (or guarded by ``except ImportError``) runs only where that feature is used, so an extra may
declare it. A new, undeclared import fails here, naming the file and line.
"""
import ast
import importlib.metadata
import re
import sys
import tomllib

from conftest import ROOT

# Modules whose top-level imports come from an extra, because they are only imported from inside the functions of
# that extra's feature. Empty today: the Keras and PDF code imports keras, h5py and playwright inside functions.
EXTRA_ONLY_MODULES: dict[str, str] = {}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = lambda spec: _normal(re.match(r"[A-Za-z0-9._-]+", spec).group())  # noqa: E731
    core = {name(spec) for spec in project["dependencies"]}
    extras = {extra: {name(spec) for spec in specs} for extra, specs in project["optional-dependencies"].items()}
    return core, extras


def _guarded(node, parents) -> bool:
    """Inside a function, or in a try whose handlers catch ImportError: it runs only when that code path does."""
    for parent in parents:
        if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return True
        if isinstance(parent, ast.Try) and any(
                "ImportError" in ast.unparse(handler.type or ast.Name("BaseException")) for handler in parent.handlers):
            return True
    return False


def imports_of(source: str):
    """(line, top-level name, guarded) for each absolute import in one file; this package's own are left out."""
    tree = ast.parse(source)
    found = []

    def visit(node, parents):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module]
        else:
            names = []
        for name in names:
            top = name.split(".")[0]
            if top != "generator" and top not in sys.stdlib_module_names and top != "__future__":
                found.append((node.lineno, top, _guarded(node, parents)))
        for child in ast.iter_child_nodes(node):
            visit(child, [*parents, node])

    visit(tree, [])
    return found


def undeclared(sources, core, extras, providers):
    """One line per import that no declared dependency provides where it runs; ``sources``: relative path -> text."""
    problems = []
    for relative, source in sources.items():
        for line, top, guarded in imports_of(source):
            where = f"{relative}:{line}: import {top}"
            dists = {_normal(d) for d in providers.get(top, [])}
            if not dists:
                problems.append(f"{where}: no installed distribution provides it, so none can be declared")
                continue
            allowed = set(core)
            if guarded:
                allowed |= set().union(*extras.values())
            elif relative in EXTRA_ONLY_MODULES:
                allowed |= extras[EXTRA_ONLY_MODULES[relative]]
            if not dists & allowed:
                needed = " or ".join(sorted(dists))
                problems.append(f"{where}: {needed} is not declared in pyproject.toml "
                                + ("(dependencies, or an extra: the import is inside a function)" if guarded
                                   else "[project] dependencies (the import runs when the module is imported)"))
    return problems


def test_every_import_in_generator_is_a_declared_dependency():
    core, extras = _declared()
    sources = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
               for path in sorted((ROOT / "generator").rglob("*.py"))}
    assert len(sources) > 50 and "generator/explain/evidence.py" in sources
    assert undeclared(sources, core, extras, importlib.metadata.packages_distributions()) == []


def test_scipy_and_pillow_are_core_dependencies():
    core, _ = _declared()
    assert {"scipy", "pillow"} <= core


def test_an_undeclared_import_is_found():
    """The check itself can fail: imports that no one declared, at the top of a module and inside a function."""
    source = "import numpy\nimport yaml\nfrom PIL import Image\n\ndef later():\n    import keras\n    import toml\n"
    assert imports_of(source) == [(1, "numpy", False), (2, "yaml", False), (3, "PIL", False), (6, "keras", True),
                                  (7, "toml", True)]
    core, extras = _declared()
    providers = {"numpy": ["numpy"], "yaml": ["PyYAML"], "PIL": ["Pillow"], "keras": ["keras"], "toml": ["toml"]}
    assert undeclared({"generator/probe.py": source}, core, extras, providers) == [
        "generator/probe.py:2: import yaml: pyyaml is not declared in pyproject.toml [project] dependencies (the "
        "import runs when the module is imported)",
        "generator/probe.py:7: import toml: toml is not declared in pyproject.toml (dependencies, or an extra: the "
        "import is inside a function)"]
    # keras at the top of a module that is not marked as loaded only with its extra: core is required
    assert undeclared({"generator/probe.py": "import keras\n"}, core, extras, {"keras": ["keras"]}) == [
        "generator/probe.py:1: import keras: keras is not declared in pyproject.toml [project] dependencies (the "
        "import runs when the module is imported)"]
