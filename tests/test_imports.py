"""The import rules of the package, read statically from the source with `ast`.

Every .py file under simcore/, models/, experiments/ and capsim/ is parsed and each
import in it (at the top or inside a function) becomes an edge between two `capsim.*`
modules. The rules:

- no import cycle between modules;
- `capsim.simcore` (the domain-free kernel) imports neither `capsim.models` nor
  `capsim.experiments`;
- `capsim.models` imports neither `capsim.experiments` nor the top level (`capsim`,
  `capsim.api`);
- the library of `capsim.experiments` (`pipelines`, `tools`) imports neither the command
  line (`capsim.experiments.cli`), nor the questions, nor the public API (`capsim.api`,
  or `capsim`, whose attributes are the API). The CLI and the questions sit on top: the
  CLI calls the API, and a question uses the API (and the library's helpers) as a notebook
  would, never the CLI.

The entry-point modules at the top of `capsim.experiments` (kept so that the
`python -m capsim.experiments.NAME` commands of the README work) only forward to a
question or a tool.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"simcore": "capsim.simcore", "models": "capsim.models",
           "experiments": "capsim.experiments", "capsim": "capsim"}
"""Source folder -> the package it installs as (pyproject's package-dir)."""

ENTRY_POINTS = {f"capsim.experiments.{n}" for n in
                ("benchmark", "feedback", "rival_tenant", "validate_latency", "validate_queueing")}

Graph = dict[str, set[str]]


def module_files() -> dict[str, Path]:
    """Every module of the package (capsim.* name) and its source file."""
    out = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((package, *parts))] = path
    return out


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The dotted names an import statement asks for (a module, or a module's attribute)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        package = module.split(".") if is_package else module.split(".")[:-1]
        anchor = package[:len(package) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    return [f"{base}.{a.name}" if a.name != "*" else base for a in node.names]


def _resolve(name: str, modules: set[str]) -> str | None:
    """The module that importing `name` reaches: itself, or the longest module prefix."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def import_graph(files: dict[str, Path] | None = None) -> Graph:
    """The package modules each module imports, anywhere in its source."""
    files = module_files() if files is None else files
    modules = set(files)
    graph: Graph = {}
    for module, path in files.items():
        targets = set()
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in _imported(node, module, path.name == "__init__.py"):
                    target = _resolve(name, modules)
                    if target is not None and target != module:
                        targets.add(target)
        graph[module] = targets
    return graph


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle (a -> ... -> a) in each strongly connected group of modules, sorted.

    Tarjan's algorithm finds the groups; a breadth-first search inside each group gives
    the shortest cycle through its first module, so that a failure names a real path.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(_cycle_in(graph, g) for g in groups)


def _cycle_in(graph: Graph, group: list[str]) -> list[str]:
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, ())):
            if w == start:
                return [*paths[v], start]
            if w in members and w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    raise AssertionError(f"no cycle through {start} in {group}")  # Tarjan says there is one


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def is_facade(module: str) -> bool:
    """The command line, the questions and the entry points: they may use the public API."""
    return (_within(module, "capsim.experiments.cli")
            or _within(module, "capsim.experiments.questions") or module in ENTRY_POINTS)


RULES = (
    ("capsim.simcore", ("capsim.models", "capsim.experiments", "capsim.api", "capsim"),
     "the kernel knows no domain"),
    ("capsim.models", ("capsim.experiments", "capsim.api", "capsim"),
     "the domain knows no pipeline, command or API"),
)
LIBRARY_FORBIDS = ("capsim.experiments.cli", "capsim.experiments.questions", "capsim.api",
                   "capsim")


def violations(graph: Graph) -> list[str]:
    """Every import that breaks a layering rule, as 'importer -> imported (why)'."""
    out = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            for package, banned, why in RULES:
                if _within(module, package) and any(
                        target == b if b == "capsim" else _within(target, b) for b in banned):
                    out.append(f"{module} -> {target} ({why})")
            if _within(module, "capsim.experiments") and module != "capsim.experiments" \
                    and not is_facade(module) and any(
                        target == b if b == "capsim" else _within(target, b)
                        for b in LIBRARY_FORBIDS):
                out.append(f"{module} -> {target} (the library does not import the command "
                           "line, the questions or the public API)")
            if _within(module, "capsim.experiments.questions") \
                    and _within(target, "capsim.experiments.cli"):
                out.append(f"{module} -> {target} (a question uses the API, not the command)")
    return out


def _models_only(cycle: list[str]) -> bool:
    return all(_within(m, "capsim.models") for m in cycle)


# ------------------------------------------------------------------ the helpers can fail
def test_a_cycle_is_found_and_named():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_a_forbidden_import_is_reported():
    graph = {"capsim.simcore.clock": {"capsim.models.fleet"},
             "capsim.models.fleet": {"capsim.api"},
             "capsim.experiments.pipelines.runs": {"capsim.experiments.cli.commands"},
             "capsim.experiments.tools.benchmark": {"capsim"},
             "capsim.experiments.cli.commands": {"capsim.api"},
             "capsim.experiments.questions.baseline": {"capsim"},
             "capsim.experiments.questions.drivers": {"capsim.experiments.cli"}}
    found = violations(graph)
    assert [f.split(" (")[0] for f in found] == [
        "capsim.experiments.pipelines.runs -> capsim.experiments.cli.commands",
        "capsim.experiments.questions.drivers -> capsim.experiments.cli",
        "capsim.experiments.tools.benchmark -> capsim",
        "capsim.models.fleet -> capsim.api",
        "capsim.simcore.clock -> capsim.models.fleet"]


def test_the_graph_holds_imports_inside_functions_and_relative_ones(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    from . import b\n    from .c import x\n")
    (tmp_path / "pkg" / "b.py").write_text("import pkg.a\n")
    (tmp_path / "pkg" / "c.py").write_text("x = 1\n")
    files = {"pkg": tmp_path / "pkg" / "__init__.py",
             **{f"pkg.{n}": tmp_path / "pkg" / f"{n}.py" for n in "abc"}}
    graph = import_graph(files)
    assert graph["pkg.a"] == {"pkg.b", "pkg.c"} and graph["pkg.b"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]
    # The real graph sees the lazy import of the API inside capsim.__getattr__.
    assert "capsim.api" in import_graph()["capsim"]


# ------------------------------------------------------------------------- the rules
def test_every_module_is_in_the_graph():
    graph = import_graph()
    assert {"capsim.api", "capsim.experiments.cli", "capsim.experiments.pipelines.runs",
            "capsim.simcore.store", "capsim.models.scenario"} <= set(graph)


def test_no_import_cycle_outside_models():
    found = [c for c in cycles(import_graph()) if not _models_only(c)]
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_no_import_cycle_within_models():
    found = [c for c in cycles(import_graph()) if _models_only(c)]
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_layers_import_downwards_only():
    found = violations(import_graph())
    assert not found, "forbidden imports:\n" + "\n".join(found)
