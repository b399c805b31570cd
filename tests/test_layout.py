"""The package's shape: no import cycle, each folder imports only the layers below it, no huge module.

Read from the source with ``ast`` (nothing is imported), counting imports inside
functions too: a lazy import still ties two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sessioncoder"
MAX_LINES = 600

# What each part may import, besides itself and the core. Top-level modules are their own part.
CORE = {"schema", "errors", "fileio", "compute", "text", "nlp", "version"}
ALLOWED: dict[str, set[str]] = {
    "models": set(),
    "roles": set(),
    "coding": {"models"},
    "speech": {"models", "roles"},
    "transcripts": {"roles"},
    "profile": {"coding"},
    "pipeline": {"coding", "speech", "transcripts", "roles", "profile", "models"},
    "report": {"coding", "profile", "models"},
    "research": {"coding", "speech", "transcripts", "roles", "profile", "pipeline", "report", "models"},
    "cli": {"*"},
    "__init__": {"coding", "pipeline", "transcripts"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules that ``name`` imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "sessioncoder")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if target.split(".")[0] != "sessioncoder":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None, " -> ".join(find_cycle(import_graph()) or [])


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_each_part_imports_only_the_layers_below_it():
    wrong = []
    for module, imported in import_graph().items():
        part = part_of(module)
        if part in CORE:
            allowed = CORE
        else:
            allowed = ALLOWED[part] | CORE | {part}
        for target in imported:
            if "*" not in allowed and part_of(target) not in allowed:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "\n".join(sorted(wrong))


def test_every_part_is_declared():
    parts = {part_of(m) for m in all_modules()}
    assert parts <= set(ALLOWED) | CORE, parts - set(ALLOWED) - CORE


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_over_600_lines(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_each_package_says_what_it_holds_and_may_import():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc, f"{init} has no docstring"
        if init.parent != PACKAGE:
            assert "import" in doc.lower(), f"{init} does not say what it may import"
