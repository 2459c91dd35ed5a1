"""The fast subset's markers: every test named in conftest.SLOW_TESTS exists, so a rename cannot drop its marker."""
import ast

from conftest import BROWSER_FIXTURES, BUILD_FIXTURES, ROOT, SLOW_TESTS


def _functions(path):
    return {node.name for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef)}


def test_every_slow_test_named_exists():
    missing = [name for name in sorted(SLOW_TESTS)
               if name.split("::")[1] not in _functions(ROOT / "tests" / name.split("::")[0])]
    assert missing == []


def test_the_marker_fixtures_exist():
    defined = set().union(*(_functions(path) for path in (ROOT / "tests").glob("*.py")))
    assert (BROWSER_FIXTURES | BUILD_FIXTURES) <= defined


def test_the_markers_are_registered(pytestconfig):
    registered = {line.split(":")[0] for line in pytestconfig.getini("markers")}
    assert {"browser", "slow"} <= registered
