"""The package's import graph has no circles: what sits below the Zoo (analysis, trajectories, sources, the Hub)
works on weights, tasks, tables and files and never imports the module that holds the Zoo."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rnnzoo"
TOLERATED: set[frozenset[str]] = set()  # none: the CORNN solver works on tensors alone (rnnzoo.cornn), the refit
# reports (rnnzoo.refitting) on weights and tasks, and only rnnzoo.zoo turns them into Networks


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """{module: the rnnzoo modules it imports anywhere in its body, at call time included}."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [a.name for a in node.names]
            else:
                continue
            targets.update(c for c in candidates if c in modules and c != name)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_no_import_circles():
    # A package's __init__ hands names on from its own modules; edges into it are edges into those modules.
    graph = import_graph()
    assert "rnnzoo.hub" in graph and "rnnzoo.analysis.classify" in graph  # the walk found the modules
    found = [c for c in circles(graph) if frozenset(c) not in TOLERATED]
    assert found == [], f"import circles: {found}"


def test_nothing_below_the_zoo_imports_it():
    graph = import_graph()
    below = [m for m in graph if m.startswith(("rnnzoo.analysis", "rnnzoo.trajectories", "rnnzoo.sources",
                                               "rnnzoo.source", "rnnzoo.hub", "rnnzoo.store", "rnnzoo.query",
                                               "rnnzoo.labels", "rnnzoo.phases", "rnnzoo.simulation",
                                               "rnnzoo.dynamics", "rnnzoo.task"))]
    assert [m for m in below if "rnnzoo.zoo" in graph[m]] == []
    assert "rnnzoo.sources" not in graph["rnnzoo.hub"] and "rnnzoo.zoo" not in graph["rnnzoo.analysis.classify"]
    assert graph["rnnzoo.cornn"] == {"rnnzoo.dynamics"}  # the solver: tensors and the model's Weights, nothing more
    assert "rnnzoo.zoo" not in graph["rnnzoo.refitting"]
