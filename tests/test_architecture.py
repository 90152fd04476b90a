"""The house's shape, read from the source: rooms import only rooms below them, never in a circle,
and a module imports the package's own modules at the top of its file, where a reader sees them.

A room is a top-level module (``minireason/config.py``) or package (``minireason/evaluation/``) of the
package; ``kernels/`` is the room ``kernels`` (installed as ``minireason.kernels``).  ``ROOMS`` lists them
from the ground floor up (docs/architecture.md draws the same picture).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from paths import REPOSITORY

# bottom to top; a room may import only rooms listed before it (and itself)
ROOMS = [
    "__init__",  # the public API: names resolved lazily by a table, no import of its own rooms
    "errors", "seeds", "jsonl", "atomic", "device", "runtime", "bfloat16", "plotting",
    "config", "optim", "identity", "run_folder",
    "nn", "backend", "kernels", "model", "builtin", "io",
    "generation", "evaluation", "tasks", "scaling", "scaleout",
    "training", "posttrain", "serve", "demo", "cli", "__main__",
]


def module_name(path: Path) -> str:
    relative = path.relative_to(REPOSITORY)
    parts = list(relative.with_suffix("").parts)
    if parts[0] == "kernels":
        parts = ["minireason", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "minireason":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def package_files() -> list[Path]:
    return sorted([*(REPOSITORY / "minireason").rglob("*.py"), *(REPOSITORY / "kernels").rglob("*.py")])


def own_imports(path: Path):
    """(line, imported module, inside a function) for every import of the package's own modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((child.lineno, alias.name, inside) for alias in child.names
                             if alias.name.split(".")[0] == "minireason")
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module \
                    and child.module.split(".")[0] == "minireason":
                found.append((child.lineno, child.module, inside))
            visit(child, inside)

    visit(tree, False)
    return found


def room_edges() -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for path in package_files():
        source = room_of(module_name(path))
        for line, module, _ in own_imports(path):
            target = room_of(module)
            if target != source:
                edges.setdefault((source, target), []).append(f"{path.relative_to(REPOSITORY)}:{line}")
    return edges


def test_every_room_is_on_the_map():
    rooms = {room_of(module_name(path)) for path in package_files()}
    assert sorted(rooms - set(ROOMS)) == [], "add the new room to ROOMS (and docs/architecture.md)"


def test_no_room_imports_a_higher_one():
    floor = {room: index for index, room in enumerate(ROOMS)}
    upward = [f"{source} -> {target} ({', '.join(places[:3])})" for (source, target), places in room_edges().items()
              if floor.get(target, -1) >= floor.get(source, -1)]
    assert upward == []


def test_no_cycle_between_rooms():
    graph: dict[str, set[str]] = {}
    for source, target in room_edges():
        graph.setdefault(source, set()).add(target)

    def reachable(start: str) -> set[str]:
        seen, stack = set(), [start]
        while stack:
            for following in graph.get(stack.pop(), ()):
                if following not in seen:
                    seen.add(following)
                    stack.append(following)
        return seen

    circles = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if a in reachable(b))
    assert circles == []


def test_own_modules_are_imported_at_the_top_of_each_file():
    lazy = [f"{path.relative_to(REPOSITORY)}:{line} imports {module}" for path in package_files()
            for line, module, inside in own_imports(path) if inside]
    assert lazy == []


@pytest.mark.parametrize("edge", [("nn", "model"), ("model", "generation"), ("evaluation", "posttrain")])
def test_the_checker_sees_an_upward_import(edge, tmp_path):
    """The checks above could fail: an upward import written into a scratch copy of a room is found."""
    source, target = edge
    floor = {room: index for index, room in enumerate(ROOMS)}
    assert floor[target] > floor[source]
    scratch = tmp_path / "scratch.py"
    scratch.write_text(f"def f():\n    from minireason.{target} import x\n", encoding="utf-8")
    (line, module, inside), = own_imports(scratch)
    assert (line, room_of(module), inside) == (2, target, True)
