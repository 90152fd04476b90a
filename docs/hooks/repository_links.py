"""MkDocs hook: links from a page to the repository's own files, checked at build time.

The guides link to code and tests with relative paths (``../minireason/nn/rmsnorm.py``,
``../tests/nn/test_nn_gradients.py#test_rmsnorm``) so that they also read well on a code host.
Those files are outside ``docs/``, so MkDocs cannot check them. This hook does, before the page is
converted:

- a link to a module of the package (``../minireason/...py`` or ``../kernels/...py``) becomes a
  cross-reference to that module's API page (``[text][minireason.nn.rmsnorm]``), or, with an anchor
  (``../minireason/nn/rmsnorm.py#rmsnorm_forward``), to that function's or class's entry
  (``[text][minireason.nn.rmsnorm.rmsnorm_forward]``); the strict build resolves it or fails;
- a link to any other repository file (tests, examples, benchmarks) must name a file that exists,
  and its anchor, if any, a function or class defined at the top level of that Python file
  (``#test_rmsnorm``), or the build fails. With a ``repo_url`` configured it becomes a link there
  (to the definition's line); without one (this repository has no public address) it is shown as
  the file's path in code, with the anchor as a pytest node id
  (``tests/nn/test_nn_gradients.py::test_rmsnorm``), which a reader can pass to pytest as it is.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path, PurePosixPath

from mkdocs.exceptions import PluginError

_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>\.\./[^)\s#]+)(?:#(?P<anchor>[^)\s]*))?\)")


def _module_name(path: PurePosixPath) -> str | None:
    """The dotted module a package file is documented under, or None for any other file."""
    parts = list(path.with_suffix("").parts)
    if path.suffix != ".py" or not parts or parts[0] not in ("minireason", "kernels"):
        return None
    # kernels/ is installed as minireason.kernels, but its API page documents the source folder
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def definition_line(path: Path, name: str) -> int | None:
    """The line of the top-level ``def``/``class`` called ``name`` in the Python file, or None."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return node.lineno
    return None


def on_page_markdown(markdown, page, config, files):
    docs_dir = Path(config["docs_dir"]).resolve()
    repository = docs_dir.parent
    page_dir = (docs_dir / page.file.src_path).parent
    repo_url = (config.get("repo_url") or "").rstrip("/")

    def replace(match: re.Match) -> str:
        target = (page_dir / match["target"]).resolve()
        anchor = match["anchor"]
        try:
            relative = PurePosixPath(target.relative_to(repository).as_posix())
        except ValueError:
            return match[0]
        if target.is_relative_to(docs_dir):
            return match[0]  # an ordinary page link: MkDocs checks it
        if not target.exists():
            raise PluginError(f"{page.file.src_path}: the link to {relative} names a file that does not exist")
        module = _module_name(relative)
        if module is not None:
            return f"[{match['text']}][{module}.{anchor}]" if anchor else f"[{match['text']}][{module}]"
        line = None
        if anchor:
            if target.suffix != ".py":
                raise PluginError(f"{page.file.src_path}: the link to {relative}#{anchor} has an anchor the build "
                                  "cannot check (anchors name a function or class of a Python file)")
            line = definition_line(target, anchor)
            if line is None:
                raise PluginError(f"{page.file.src_path}: {relative} defines no function or class {anchor!r}")
        if repo_url:
            return f"[{match['text']}]({repo_url}/blob/main/{relative}{f'#L{line}' if line else ''})"
        label = f"{relative}::{anchor}" if anchor else str(relative)
        if match["text"].strip("`") in (str(relative), anchor, label):
            return f"`{label}`"
        return f"{match['text']} (`{label}`)"

    return _LINK.sub(replace, markdown)
