"""No import cycles among first-party modules (issue 17): the graph is read from the source, not from sys.modules.

What counts as an edge ``a -> b``:

- every ``import`` / ``from ... import`` statement anywhere in module ``a``, including the ones inside functions
  (lazy imports only postpone a cycle to the first call; they do not remove it). Only the bodies of
  ``if TYPE_CHECKING:`` blocks are skipped, since they never run.
- ``import p.q.r`` depends on ``p.q.r``; ``from p.q import name`` depends on ``p.q.name`` when that is a module
  (file or package), else on ``p.q`` itself (a name its ``__init__`` defines or re-exports). Relative imports are
  resolved against the importing module's package.
- Parent packages are not added implicitly: importing ``ddnm.operators.base`` runs ``ddnm/__init__.py`` too, but an
  ``__init__`` that re-exports its submodules would then be "in a cycle" with every one of them, which is how
  packages are meant to work and not what this test is about. An ``__init__`` is a node like any other module:
  ``from ddnm import restore`` names the submodule, ``from ddnm import SamplerSettings`` names the ``__init__``.
- Third-party and standard-library modules are not nodes.

A cycle is a strongly connected component with more than one module (or a module importing itself).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ddnm", "pipeline", "jobs", "benchmarks")

# Modules the command line reads before it may load torch (settings and names it checks at start-up): importing
# them imports torch nowhere, directly or through first-party modules (imports inside functions run later and do not
# count here). Their parent packages' ``__init__`` are checked at run time by tests/test_cli_startup.py.
TORCH_FREE = ("ddnm", "ddnm.settings", "ddnm.guidance_params", "ddnm.operators", "ddnm.operators.registry", "ddnm.tiling",
              "ddnm.tiling.plan", "ddnm.tiling.settings")


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every first-party ``.py`` file (``pkg/__init__.py`` is ``pkg``)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(node: ast.AST, eager_only: bool = False) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under ``node``, at any depth, except inside ``if TYPE_CHECKING:``; with
    ``eager_only``, only those that run when the module is imported (not inside a function)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]), eager_only)
        elif eager_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        else:
            yield from _imports(child, eager_only)


def _base(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement imports from."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    anchor = package[: len(package) - (node.level - 1)]
    return ".".join(anchor + ([node.module] if node.module else []))


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """``name`` or its longest prefix that is a first-party module; None for third-party names."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def import_graph(eager_only: bool = False) -> dict[str, set[str]]:
    """Module -> the first-party modules its source imports (see the module docstring for the rules); with
    ``eager_only``, only the imports that run when it is imported."""
    modules = module_files()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _imports(tree, eager_only):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _base(name, path.name == "__init__.py", node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[name].update(t for t in map(lambda t: _known(t, modules), targets) if t is not None)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with a cycle in them (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in graph[node]:
                        found.append(frozenset(component))
    return found


def _describe(component: frozenset[str], graph: dict[str, set[str]]) -> str:
    edges = [f"{a} -> {b}" for a in sorted(component) for b in sorted(graph[a] & component)]
    return "{" + ", ".join(sorted(component)) + "}: " + "; ".join(edges)


def test_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    # pipeline/cli.py imports the train command inside a function; commands are imported as `from .commands import x`
    assert "jobs.train_cli" in graph["pipeline.cli"]
    assert {"pipeline.commands.run", "pipeline.commands.report"} <= graph["pipeline.cli"]
    # `from ddnm import metrics` names the submodule; `from .base import X` resolves against the package
    assert {"ddnm.metrics", "ddnm.operators"} <= graph["ddnm"]
    assert "ddnm.operators.base" in graph["ddnm.operators"]


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert sorted(map(sorted, cycles(graph))) == [["a", "b", "c"], ["e"]]


def test_no_import_cycles():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(_describe(c, graph) for c in found)


def _third_party(path: Path) -> set[str]:
    """Top-level names of the absolute imports that run when a file is imported."""
    names = set()
    for node in _imports(ast.parse(path.read_text()), eager_only=True):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_torch_free_modules_import_no_torch():
    graph, files = import_graph(eager_only=True), module_files()
    for module in TORCH_FREE:
        reached, todo = {module}, [module]
        while todo:
            for imported in graph[todo.pop()] - reached:
                reached.add(imported)
                todo.append(imported)
        loads_torch = sorted(m for m in reached if "torch" in _third_party(files[m]))
        assert not loads_torch, f"{module} imports torch through {loads_torch}"


def test_packages_import_in_one_direction():
    """``ddnm`` <- ``jobs`` <- ``pipeline`` (and ``benchmarks`` on top): the library imports none of the others."""
    graph = import_graph()
    packages = {p: set() for p in PACKAGES}
    for module, imported in graph.items():
        packages[module.split(".")[0]].update(m.split(".")[0] for m in imported)
    for package, imported in packages.items():
        imported.discard(package)
    assert packages["ddnm"] == set()
    assert not cycles(packages), f"packages import each other: {packages}"
