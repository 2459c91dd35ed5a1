"""The two languages' templates share one skeleton and read one context, so a layout change or a new number reaches
both languages, and a translation cannot drop a branch or a number.

The skeleton is the sequence of statement tags ({% ... %}) as jinja2's own lexer splits them, with string literals
blanked: they hold the language's words and its own template paths. The context a template reads comes from its
parsed tree: every variable it does not define itself, with the attributes and constant keys it reads from it.
"""
from __future__ import annotations

import jinja2
import pytest
from jinja2 import meta, nodes

from conftest import ROOT
from generator.build import build
from generator.config import load_settings
from generator.site.render import HANDIN, PAGES, environment
from generator.site.strings import LANGUAGES

TEMPLATES = ROOT / "templates"
ENV = environment(TEMPLATES)
PER_LANGUAGE = ["_words.md.j2", "_methods.md.j2", *(f"{page}.md.j2" for page in (*PAGES, HANDIN))]
BLANK = "'…'"
ANY_KEY = "[]"  # a key chosen at render time, as in class_names[item.cls]


def _tree(name: str) -> nodes.Template:
    return ENV.parse(ENV.loader.get_source(ENV, name)[0])


def tag_skeleton(name: str) -> list[str]:
    """Each statement tag as its tokens, whitespace control included, string literals blanked."""
    tags, tag = [], None
    for _, kind, value in ENV.lex(ENV.loader.get_source(ENV, name)[0]):
        if kind == "block_begin":
            tag = [value.strip()]
        elif tag is not None and kind == "block_end":
            tags.append(" ".join([*tag, value.strip()]))
            tag = None
        elif tag is not None and kind == "string":
            if tag[-1] != BLANK:  # adjacent literals are one string to jinja2: a translation may wrap a long one
                tag.append(BLANK)
        elif tag is not None and kind != "whitespace":
            tag.append(value)
    return tags


def _path(node: nodes.Node) -> tuple | None:
    if isinstance(node, nodes.Name):
        return (node.name,)
    if isinstance(node, nodes.Getattr):
        base = _path(node.node)
        return base and (*base, node.attr)
    if isinstance(node, nodes.Getitem):
        base = _path(node.node)
        key = node.arg.value if isinstance(node.arg, nodes.Const) else ANY_KEY
        return base and (*base, key)
    return None


def context_paths(name: str) -> set[tuple]:
    """Every context variable the template reads, with each chain of attributes and constant keys read from it."""
    tree = _tree(name)
    # jinja2 also counts a name set inside an {% if %} as read from the context (the other branch may need it)
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx == "store"}
    free = meta.find_undeclared_variables(tree) - assigned
    paths = {_path(node) for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem))}
    return {path for path in paths if path and path[0] in free}


@pytest.mark.parametrize("file", PER_LANGUAGE)
def test_both_languages_have_the_same_tag_skeleton(file):
    en, zh = (tag_skeleton(f"{language}/{file}") for language in ("en", "zh-TW"))
    assert en, file
    assert en == zh, file


@pytest.mark.parametrize("page", PAGES)
def test_both_languages_read_the_same_context(page):
    en, zh = (context_paths(f"{language}/{page}.md.j2") for language in ("en", "zh-TW"))
    assert en, page
    assert sorted(en - zh, key=repr) == [] and sorted(zh - en, key=repr) == [], page


def test_each_language_imports_only_shared_templates_and_its_own():
    for language in LANGUAGES:
        for file in PER_LANGUAGE:
            tree = _tree(f"{language}/{file}")
            used = [n.template.value for n in tree.find_all((nodes.Import, nodes.FromImport, nodes.Include))]
            foreign = [u for u in used if "/" in u and not u.startswith(f"{language}/")]
            assert foreign == [], (language, file)


def _shape(value):
    return {k: _shape(v) for k, v in value.items()} if isinstance(value, dict) else type(value).__name__


def test_both_languages_define_the_same_shared_words():
    shapes = {}
    for language in LANGUAGES:
        module = ENV.get_template(f"{language}/_words.md.j2").module
        shapes[language] = {k: _shape(v) for k, v in vars(module).items() if not k.startswith("_")}
    assert shapes["en"] and shapes["en"] == shapes["zh-TW"]


def _resolves(value, path: tuple) -> bool:
    """Whether ``path`` can be read from ``value``; None (an optional part) and a render-time key end the walk."""
    for key in path:
        if value is None or key == ANY_KEY:
            return True
        if isinstance(value, dict):
            if key not in value:
                return False
            value = value[key]
        elif isinstance(value, (list, tuple)) and isinstance(key, int):
            if not -len(value) <= key < len(value):
                return False
            value = value[key]
        elif isinstance(key, str) and hasattr(value, key):  # a settings dataclass
            value = getattr(value, key)
        else:
            return False
    return True


def test_every_context_path_resolves_in_a_real_render(tiny_project, monkeypatch):
    contexts = {}
    render = jinja2.Template.render

    def recording_render(self, *args, **kwargs):
        contexts[self.name] = dict(*args, **kwargs)
        return render(self, *args, **kwargs)

    monkeypatch.setattr(jinja2.Template, "render", recording_render)
    build(load_settings(tiny_project / "pyproject.toml"), TEMPLATES)
    names = [f"{language}/{page}.md.j2" for language in LANGUAGES for page in (*PAGES, HANDIN)]
    assert sorted(contexts) == sorted(names)
    missing = [(name, ".".join(map(str, path))) for name in names for path in sorted(context_paths(name), key=repr)
               if not _resolves(contexts[name], path)]
    assert missing == []
