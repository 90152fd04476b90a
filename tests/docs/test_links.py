"""Every relative link of the README, CONTRIBUTING.md and the pages under docs/ names a file that
exists (and a heading that exists, for a link into another page; a function or class defined in the
file, for a link into a Python file), every snippet a page includes exists, and every module of the
package has a place on an API page."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from paths import REPOSITORY

DOCS = REPOSITORY / "docs"
LINK = re.compile(r"(?<!\\)\[(?:[^\]]+)\]\(([^)\s]+)\)")
SNIPPET = re.compile(r'^--8<-- "([^"]+)"', re.M)
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)
SOURCES = [REPOSITORY / "README.md", REPOSITORY / "CONTRIBUTING.md", *sorted(DOCS.rglob("*.md"))]


def _slug(heading: str) -> str:
    """The anchor Python-Markdown's toc extension gives a heading."""
    text = re.sub(r"[`*$\\]", "", heading).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[\s]+", "-", text)


def _without_fences(text: str) -> str:
    """The text with fenced code blocks removed (a ``# comment`` there is not a heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _without_code(text: str) -> str:
    """The text with fenced and inline code removed (links there are examples, not links)."""
    return re.sub(r"`[^`\n]*`", "code", _without_fences(text))


def _top_level_names(path: Path) -> set[str]:
    """The functions and classes defined at the top level of a Python file."""
    return {node.name for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: str(path.relative_to(REPOSITORY)))
def test_relative_links_name_files_and_headings_that_exist(source: Path):
    broken = []
    for target in LINK.findall(_without_code(source.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z]+:", target) or target.startswith("#") and source.suffix != ".md":
            continue
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve() if path else source
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md":
            anchors = {_slug(heading) for heading in HEADING.findall(_without_fences(resolved.read_text(encoding="utf-8")))}
            if anchor not in anchors:
                broken.append(f"{target} (no such heading)")
        elif anchor and resolved.suffix == ".py" and anchor not in _top_level_names(resolved):
            broken.append(f"{target} (no such function or class)")
    assert not broken, f"{source.relative_to(REPOSITORY)}: {broken}"


def test_included_snippets_exist():
    missing = [(page.name, path) for page in DOCS.rglob("*.md")
               for path in SNIPPET.findall(page.read_text(encoding="utf-8")) if not (REPOSITORY / path).is_file()]
    assert not missing


def test_every_module_has_a_place_on_an_api_page():
    documented = set(re.findall(r"^::: (\S+)$", "\n".join(p.read_text() for p in (DOCS / "api").glob("*.md")), re.M))
    modules = set()
    for root, dotted in ((REPOSITORY / "minireason", "minireason"), (REPOSITORY / "kernels", "kernels")):
        for path in root.rglob("*.py"):
            parts = [dotted, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__main__":
                continue
            if parts[-1] == "__init__":
                parts.pop()
            modules.add(".".join(parts))
    assert sorted(modules - documented) == []


def test_every_example_is_on_the_examples_page():
    page = (DOCS / "examples.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in (REPOSITORY / "examples").glob("*.py")) == sorted(re.findall(r'examples/(\S+\.py)"', page))


def test_headings_hold_no_math():
    """The table of contents and the navigation show a heading's text untypeset: `$\\tau$` would read as raw TeX."""
    with_math = [(page.name, heading) for page in DOCS.rglob("*.md")
                 for heading in HEADING.findall(_without_fences(page.read_text(encoding="utf-8"))) if "$" in heading]
    assert with_math == []
