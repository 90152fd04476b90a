"""Public functions and classes have docstrings (the API reference is made from them).

Public: every name of the table in ``minireason/__init__.py``, and every module-level function or class
of the package's modules (``minireason/`` and ``kernels/``) whose name does not start with ``_``.
No name is exempt: one public name without a docstring fails the test.
"""

from __future__ import annotations

import ast
import importlib

from paths import REPOSITORY

import minireason


def _undocumented(repository=REPOSITORY) -> set[str]:
    """``path::name`` of every public module-level function or class without a docstring."""
    found = set()
    for root in ("minireason", "kernels"):
        for path in sorted((repository / root).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                        and not node.name.startswith("_") and ast.get_docstring(node) is None):
                    found.add(f"{path.relative_to(repository).as_posix()}::{node.name}")
    return found


def test_every_name_of_the_public_table_has_a_docstring():
    missing = []
    for name, module_name in minireason._PUBLIC.items():
        value = getattr(importlib.import_module(module_name), name)
        if callable(value) and not isinstance(value, type) and not (value.__doc__ or "").strip():
            missing.append(name)
    table_modules = {module_name.replace(".", "/") for module_name in minireason._PUBLIC.values()}
    for entry in _undocumented():
        path, name = entry.split("::")
        module = path.removesuffix(".py").removesuffix("/__init__")
        if name in minireason._PUBLIC and module in table_modules:
            missing.append(name)
    assert sorted(missing) == []


def test_no_public_name_without_a_docstring():
    assert sorted(_undocumented()) == [], "document these (purpose, shapes, dtypes, errors)"


def test_the_scan_finds_a_public_name_without_a_docstring(tmp_path):
    """The scan itself can fail: a module with an undocumented public function is reported."""
    package = tmp_path / "minireason"
    package.mkdir()
    (package / "example.py").write_text('def documented():\n    """Yes."""\n\n\ndef bare():\n    pass\n\n\n'
                                        'def _private():\n    pass\n', encoding="utf-8")
    (tmp_path / "kernels").mkdir()
    assert _undocumented(tmp_path) == {"minireason/example.py::bare"}
