"""The library's layers run one way: no module of ``lic`` imports, directly or through others, a
module that imports it back. Module-level and function-level imports both count."""
import ast
from pathlib import Path


SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "lic"

#: The layers from the bottom; a module's layer is that of its longest prefix here. A module may
#: import only from its own layer or below.
LAYER = {
    "lic": 4, "lic.__main__": 4, "lic.train.cli": 4,
    "lic.checkpoints": 3, "lic.learned_codec": 3, "lic.latent_refinement": 3, "lic.progressive_codec": 3, "lic.registry": 3, "lic.evaluate": 3, "lic.train": 3,
    "lic.models": 2,
    "lic.layers": 1, "lic.entropy": 1, "lic.baselines": 1, "lic.jpeg": 1, "lic.plots": 1,
    "lic.codec": 0, "lic.metrics": 0, "lic.report": 0, "lic.data": 0, "lic.compare": 0,
}


def layer(module: str) -> int:
    prefixes = [p for p in LAYER if module == p or module.startswith(p + ".")]
    if not prefixes:
        raise KeyError(f"{module} has no layer: add it to LAYER in tests/test_imports.py")
    return LAYER[max(prefixes, key=len)]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}


def imports(path: Path) -> set[str]:
    """The ``lic`` modules that ``path`` imports anywhere in its code (``from . import x`` counts x)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "lic"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "lic":
                continue
            submodules = {f"{target}.{a.name}" for a in node.names} & MODULES
            found |= submodules or {target}  # "from . import x" imports the submodule x, not the package
    return (found & MODULES) - {name}


GRAPH = {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def test_the_walk_sees_function_level_and_relative_imports():
    assert "lic.train.cli" in GRAPH["lic.__main__"]  # imported inside a function
    assert "lic.entropy.tables" in GRAPH["lic.entropy.factorized"]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a list of nodes (first = last), or None (depth-first search)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_imports_only_from_its_layer_or_below():
    for module, targets in GRAPH.items():
        for target in targets:
            assert layer(target) <= layer(module), \
                f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"


def test_the_protocol_module_imports_no_implementation():
    assert GRAPH["lic.codec"] == set()
