"""MkDocs hook: links from a page to the repository's own files, checked at build time.

The guides link to code and tests with relative paths (``../minireason/nn/rmsnorm.py``,
``../tests/nn/test_nn_gradients.py``) so that they also read well on a code host. Those files are
outside ``docs/``, so MkDocs cannot check them. This hook does, before the page is converted:

- a link to a module of the package (``../minireason/...py`` or ``../kernels/...py``) becomes a
  cross-reference to that module's API page (``[text][minireason.nn.rmsnorm]``, ``[text][kernels.numba_cpu]``), which the strict
  build resolves or fails on;
- a link to any other repository file (tests, examples, benchmarks) must name a file that exists,
  or the build fails; it becomes a link to ``repo_url`` when one is configured, else the link text.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from mkdocs.exceptions import PluginError

_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>\.\./[^)\s#]+)(?P<anchor>#[^)\s]*)?\)")


def _module_name(path: PurePosixPath) -> str | None:
    """The dotted module a package file is documented under, or None for any other file."""
    parts = list(path.with_suffix("").parts)
    if path.suffix != ".py" or not parts or parts[0] not in ("minireason", "kernels"):
        return None
    # kernels/ is installed as minireason.kernels, but its API page documents the source folder
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def on_page_markdown(markdown, page, config, files):
    docs_dir = Path(config["docs_dir"]).resolve()
    repository = docs_dir.parent
    page_dir = (docs_dir / page.file.src_path).parent
    repo_url = (config.get("repo_url") or "").rstrip("/")

    def replace(match: re.Match) -> str:
        target = (page_dir / match["target"]).resolve()
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
            return f"[{match['text']}][{module}]"
        if repo_url:
            return f"[{match['text']}]({repo_url}/blob/main/{relative}{match['anchor'] or ''})"
        return match["text"]

    return _LINK.sub(replace, markdown)
