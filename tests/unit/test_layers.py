"""The package's layers: no package-level import cycles, and imports only point down."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sevtui"
FRONT_ENDS = {"sevtui.cli", "sevtui.tui", "sevtui.__main__"}


def unit_of(module: str) -> str:
    """The package-level unit a module belongs to: sevtui.vm.spec -> sevtui.vm."""
    parts = module.split(".")
    return ".".join(parts[:2])


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(
        ".__init__"
    )


def import_graph() -> dict[str, set[str]]:
    """Unit -> units it imports (any import, at module level or inside a function)."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        source = unit_of(module_name(path))
        targets = graph.setdefault(source, set())
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.startswith("sevtui.") and unit_of(name) != source:
                    targets.add(unit_of(name))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by depth-first search (each reported once per entry point)."""
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in done:
                visit(nxt, [*path, nxt])
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start])
    return found


def test_no_package_level_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


LAYERS = (
    ("sevtui", "sevtui.base"),
    ("sevtui.config",),
    ("sevtui.host", "sevtui.store", "sevtui.image", "sevtui.fleet"),
    ("sevtui.vm",),
    ("sevtui.attest", "sevtui.probe"),
    ("sevtui.bench",),
    ("sevtui.report",),
    ("sevtui.session",),
    ("sevtui.cli", "sevtui.tui", "sevtui.__main__"),
)
"""The layer diagram of docs/ARCHITECTURE.md, lowest first: a package imports only
packages of lower layers (the front ends may also start each other)."""


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs that do not point to a lower layer."""
    rank = {unit: level for level, units in enumerate(LAYERS) for unit in units}
    found = []
    for unit, targets in sorted(graph.items()):
        for target in sorted(targets):
            same_front_end = unit in FRONT_ENDS and target in FRONT_ENDS
            if rank[target] >= rank[unit] and not same_front_end:
                found.append((unit, target))
    return found


def test_every_package_has_a_layer_and_imports_only_below_it() -> None:
    graph = import_graph()
    placed = {unit for units in LAYERS for unit in units}
    assert set(graph) <= placed, "a new package needs its place in LAYERS"
    assert upward_imports(graph) == []


def test_the_layer_check_catches_an_upward_import() -> None:
    assert upward_imports({"sevtui.store": {"sevtui.bench"}, "sevtui.bench": set()}) == [
        ("sevtui.store", "sevtui.bench")
    ]
    assert upward_imports({"sevtui.vm": {"sevtui.host"}, "sevtui.host": set()}) == []


def test_the_top_level_holds_at_most_five_modules() -> None:
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= 5, modules


def test_the_core_never_imports_a_front_end() -> None:
    graph = import_graph()
    upward = {
        (unit, target)
        for unit, targets in graph.items()
        if unit not in FRONT_ENDS
        for target in targets
        if target in FRONT_ENDS
    }
    assert upward == set()


def test_every_function_is_shorter_than_sixty_lines() -> None:
    long = [
        f"{path.relative_to(PACKAGE.parent)}:{node.name} ({node.end_lineno - node.lineno + 1})"
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 >= 60
    ]
    assert long == []


def test_the_session_is_a_thin_facade() -> None:
    """Each Session method delegates: its body (docstring aside) is a few lines."""
    tree = ast.parse((PACKAGE / "session.py").read_text())
    (session,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Session"]
    long = []
    for method in session.body:
        if not isinstance(method, ast.FunctionDef):
            continue
        body = method.body[1:] if isinstance(method.body[0], ast.Expr) else method.body
        assert method.end_lineno is not None
        if method.end_lineno - body[0].lineno + 1 > 8:
            long.append(method.name)
    assert long == []


BY_NAME_ALLOWED = {
    "sevtui/vm/ref.py:lookup",
    "sevtui/vm/ref.py:state_paths",
    "sevtui/probe/exposure.py:probe_vm",
    "sevtui/probe/exposure.py:_running_vm",
}
"""The lookup itself, the state folder a name maps to, and the probe, which finds a
running QEMU by name among configured VMs and external QEMUs alike (it looks the
configured one up once, to plant its canary)."""


def test_below_the_session_a_vm_travels_as_a_vmref_not_a_name() -> None:
    """No core function takes (config, name) to look a VM up again."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        if unit_of(module_name(path)) in {"sevtui", "sevtui.session", *FRONT_ENDS}:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [arg.arg for arg in node.args.args]
                if "config" in names and "name" in names:
                    found.add(f"{path.relative_to(PACKAGE.parent)}:{node.name}")
    assert found == BY_NAME_ALLOWED
