"""The package's imports point one way: no cycles, and each room imports only rooms below it.

Read from the source (AST), lazy imports inside functions included, so an import that
would only run on some path still counts. The layering (DESIGN.md):

    cli -> commands -> hook -> api -> farm, batch, shot_files -> options -> distributed (Ray only)
    -> temporal -> flow, masks, io, model -> fillers, progress, paths
    -> patches, errors, strict_json

A module may import its own room and any room in a lower layer; rooms in the same layer
do not import each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "moebius_video"

LAYERS = [
    {"cli"},
    {"commands"},
    {"hook"},
    {"api"},
    {"farm", "batch", "shot_files"},
    {"options"},
    {"distributed"},
    {"temporal"},
    {"flow", "masks", "io", "model"},
    {"fillers", "progress", "paths"},
    {"patches", "errors", "strict_json", "allocator"},
]


def module_name(path: Path) -> str:
    parts = ["moebius_video", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_imports() -> dict[str, set[str]]:
    """module -> the package modules it imports (a `from X import name` of a submodule
    counts as importing that submodule)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    child = f"{target}.{alias.name}"
                    found.add(child if child in modules else target)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def room(module: str) -> str | None:
    """`moebius_video.temporal.engine` -> `temporal`; the package itself has no room."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def layer(room_name: str) -> int:
    for depth, rooms in enumerate(LAYERS):
        if room_name in rooms:
            return depth
    raise AssertionError(f"room {room_name!r} is in no layer of LAYERS; add it to the test")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(package_imports())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]


def test_rooms_import_only_downwards():
    wrong = []
    for module, targets in sorted(package_imports().items()):
        source = room(module)
        if source is None:  # moebius_video/__init__.py: the lazy front door (api)
            continue
        for target in sorted(targets):
            aim = room(target)
            if aim is None or aim == source:
                continue
            if layer(aim) <= layer(source):
                wrong.append(f"{module} imports {target} ({source} -> {aim})")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_every_room_is_in_a_layer():
    rooms = {room(m) for m in package_imports()} - {None}
    for name in rooms:
        layer(name)
