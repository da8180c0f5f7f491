"""The package's layout and import rules, read from the source with ``ast``.

Every import counts, including those inside functions; only imports under
``if TYPE_CHECKING:`` do not (they never run). A failure names the importing file, its line and
the module it imports.

``python -m tests.test_layout [ROOT]`` prints the layout's figures for the tree at ROOT (default:
this checkout): modules per package, import cycles (strongly connected components of more than
one module) and the depth of the import graph (its longest path, each cycle counted as one node).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("callbacks", "handlers")


@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``source`` (a module) imports ``target`` (a module)."""

    source: str
    target: str
    where: str

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


def _modules(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    found: dict[str, tuple[Path, bool]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


MODULES = _modules()


def _resolve(name: str, modules: dict[str, tuple[Path, bool]] = MODULES) -> str | None:
    """The module of ours that ``name`` (a module, or a name in one) lives in."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports_of(
    module: str, modules: dict[str, tuple[Path, bool]] = MODULES, root: Path = ROOT
) -> Iterator[Import]:
    path, is_package = modules[module]
    tree = ast.parse(path.read_text(), filename=str(path))
    here = str(path.relative_to(root))

    def visit(node: ast.AST) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    yield from visit_one(other)
                continue
            yield from visit_one(child)

    def visit_one(node: ast.AST) -> Iterator[Import]:
        where = f"{here}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _resolve(alias.name, modules)
                if target:
                    yield Import(module, target, where)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            for alias in node.names:
                target = _resolve(f"{origin}.{alias.name}", modules)
                if target:
                    yield Import(module, target, where)
        yield from visit(node)

    for edge in visit(tree):
        if edge.target != module:
            yield edge


IMPORTS = [edge for module in MODULES for edge in _imports_of(module)]


def _within(module: str, *roots: str) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def _violations(source_root: str, allowed: tuple[str, ...]) -> list[str]:
    return [
        str(edge) for edge in IMPORTS
        if _within(edge.source, source_root)
        and not _within(edge.target, source_root, *allowed)
    ]


def _graph(
    modules: dict[str, tuple[Path, bool]] = MODULES, imports: list[Import] = IMPORTS
) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in modules}
    for edge in imports:
        graph[edge.source].add(edge.target)
    return graph


def _components(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components, each cycle one component (Tarjan), dependencies first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            found.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return found


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module."""
    return [c for c in _components(_graph()) if len(c) > 1]


def _depth(graph: dict[str, set[str]]) -> int:
    """The longest path, in modules, once each cycle is collapsed to one node."""
    components = _components(graph)  # a component comes after every one it imports
    of = {module: i for i, component in enumerate(components) for module in component}
    depth: list[int] = []
    for i, component in enumerate(components):
        below = {of[t] for m in component for t in graph[m] if of[t] != i}
        depth.append(1 + max((depth[j] for j in below), default=0))
    return max(depth, default=0)

def test_the_reader_finds_imports_in_functions_but_not_under_type_checking() -> None:
    """The rules below are only as good as this reader."""
    edges = {(e.source, e.target) for e in IMPORTS}
    # callbacks.cli imports its commands inside a function
    assert ("callbacks.cli", "callbacks.cli.serve") in edges
    # callbacks.routing names Context under TYPE_CHECKING only
    assert ("callbacks.routing", "callbacks.context") not in edges
    # `from callbacks.store import open_store` is an import of the package's __init__
    assert ("callbacks.options", "callbacks.store") in edges


def test_no_import_cycles() -> None:
    cycles = _cycles()
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    ("root", "allowed"),
    [
        ("callbacks.identifiers", ()),
        ("callbacks.errors", ()),
        ("callbacks.events", ("callbacks.identifiers",)),
        ("callbacks.routing", ("callbacks.events",)),
        ("callbacks.store", ("callbacks.events", "callbacks.identifiers")),
        ("callbacks.client", ("callbacks.events", "callbacks.identifiers")),
        ("callbacks.emulator", ("callbacks.client.hmac", "callbacks.client.models",
                                "callbacks.client.versions", "callbacks.events",
                                "callbacks.identifiers")),
        ("handlers", ("callbacks", "callbacks.events")),
    ],
)
def test_each_layer_imports_only_what_it_may(root: str, allowed: tuple[str, ...]) -> None:
    if root == "handlers":
        # Built-in plugins use the public API only, as users' plugins do.
        bad = [str(e) for e in IMPORTS if _within(e.source, "handlers")
               and not _within(e.target, "handlers") and e.target not in allowed]
    else:
        bad = _violations(root, allowed)
    assert not bad, f"{root} may import only {', '.join(allowed) or 'nothing of ours'}:\n" + (
        "\n".join(bad)
    )


def test_nothing_imports_the_cli() -> None:
    bad = [str(e) for e in IMPORTS
           if _within(e.target, "callbacks.cli") and not _within(e.source, "callbacks.cli")]
    assert not bad, "the CLI is the top layer; nothing may import it:\n" + "\n".join(bad)


def test_internal_modules_do_not_import_the_public_facade() -> None:
    """``callbacks/__init__`` loads names lazily from everywhere: importing it from inside the
    package would hide real dependencies (and cycles) from the rules above."""
    bad = [str(e) for e in IMPORTS if e.target == "callbacks" and _within(e.source, "callbacks")]
    assert not bad, "\n".join(bad)


def test_a_dozen_modules_at_most_at_the_top_and_no_prefixes_for_folders() -> None:
    top = sorted(p.stem for p in (ROOT / "callbacks").glob("*.py") if p.stem != "__init__")
    assert len(top) <= 12, top
    everywhere = [m.rpartition(".")[2] for m in MODULES]
    prefixes = {name.split("_")[0] for name in everywhere if "_" in name.strip("_")}
    folders = {m.rpartition(".")[2] for m, (_, is_package) in MODULES.items() if is_package}
    assert not prefixes & folders, f"file names prefixed like a package: {prefixes & folders}"


def test_the_figures_of_a_small_graph() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"b", "d"}, "d": set(), "e": set()}
    assert [c for c in _components(graph) if len(c) > 1] == [["b", "c"]]
    assert _depth(graph) == 3  # a -> (b, c) -> d


def main(argv: list[str]) -> None:
    """Print the layout's figures for the tree at ``argv[0]`` (default: this checkout)."""
    root = Path(argv[0]).resolve() if argv else ROOT
    modules = _modules(root)
    imports = [edge for module in modules for edge in _imports_of(module, modules, root)]
    graph = _graph(modules, imports)
    per_package: dict[str, int] = {}
    for module, (_, is_package) in modules.items():
        if not is_package:
            package = module.rpartition(".")[0]
            per_package[package] = per_package.get(package, 0) + 1
    print("modules per package:")
    for package, count in sorted(per_package.items()):
        print(f"  {package}: {count}")
    cycles = [c for c in _components(graph) if len(c) > 1]
    print(f"import cycles (strongly connected components of more than one module): {len(cycles)}")
    for cycle in cycles:
        print(f"  {len(cycle)} modules: {', '.join(cycle)}")
    print(f"depth of the import graph (longest path, cycles collapsed): {_depth(graph)}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
