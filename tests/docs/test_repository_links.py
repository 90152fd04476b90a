"""The build hook that checks and renders links from a page to the repository's own files
(docs/hooks/repository_links.py): what it makes of each kind of link, and that it fails the build on
a missing file or a missing function."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest
from paths import REPOSITORY

pytest.importorskip("mkdocs", reason="mkdocs is not installed: pip install -e '.[docs]'")
from mkdocs.exceptions import PluginError  # noqa: E402

_SPEC = importlib.util.spec_from_file_location("repository_links", REPOSITORY / "docs/hooks/repository_links.py")
hook = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(hook)


def _render(markdown: str, repo_url: str | None = None) -> str:
    page = SimpleNamespace(file=SimpleNamespace(src_path="rmsnorm.md"))
    config = {"docs_dir": str(REPOSITORY / "docs"), "repo_url": repo_url}
    return hook.on_page_markdown(markdown, page, config, files=None)


def test_a_module_link_becomes_a_cross_reference_with_or_without_a_function():
    assert _render("[rms](../minireason/nn/rmsnorm.py)") == "[rms][minireason.nn.rmsnorm]"
    assert (_render("[`f`](../minireason/nn/rmsnorm.py#rmsnorm_forward)")
            == "[`f`][minireason.nn.rmsnorm.rmsnorm_forward]")
    assert _render("[k](../kernels/__init__.py)") == "[k][kernels]"


def test_without_a_repo_url_a_test_link_shows_its_path_and_node_id():
    path = "tests/nn/test_nn_gradients.py"
    assert _render(f"[`{path}`](../{path})") == f"`{path}`"
    assert _render(f"[`test_rmsnorm`](../{path}#test_rmsnorm)") == f"`{path}::test_rmsnorm`"
    assert _render(f"[the gradient test](../{path})") == f"the gradient test (`{path}`)"


def test_with_a_repo_url_a_test_link_points_at_the_definitions_line():
    path = "tests/nn/test_nn_gradients.py"
    line = next(number for number, text in enumerate((REPOSITORY / path).read_text().splitlines(), 1)
                if text.startswith("def test_rmsnorm("))
    assert (_render(f"[t](../{path}#test_rmsnorm)", repo_url="https://example.org/r/")
            == f"[t](https://example.org/r/blob/main/{path}#L{line})")


def test_page_links_and_images_are_left_to_mkdocs():
    for markdown in ("[a](layers.md#rmsnorm)", "![plot](figures/demo_grpo_curves.png)", "[x](https://example.org)"):
        assert _render(markdown) == markdown


@pytest.mark.parametrize("markdown, words", [
    ("[t](../tests/nn/no_such_file.py)", "does not exist"),
    ("[t](../tests/nn/test_nn_gradients.py#test_no_such_test)", "defines no function or class"),
    ("[t](../README.md#quick-start)", "cannot check"),
])
def test_a_link_the_build_cannot_verify_fails_it(markdown, words):
    with pytest.raises(PluginError, match=words):
        _render(markdown)
