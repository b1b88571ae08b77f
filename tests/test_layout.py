"""The package's shape: no import cycle (module-level or inside functions), no library module reading the
Hydra configs, and modules a reader can take in (at most 400 lines, the network excepted)."""

from __future__ import annotations

import ast
from pathlib import Path

import aasist_lightning

PACKAGE_DIR = Path(aasist_lightning.__file__).resolve().parent
ROOT = "aasist_lightning"
MAX_LINES = 400
LONG_ALLOWED = {"aasist_lightning.models.aasist"}  # the network, kept in one file as the official code


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """Every package module that ``module`` imports, at any depth of its code (functions included)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import sub` imports the module pkg.sub; `from mod import name` imports mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a non-module attribute path
                target = target.rpartition(".")[0]
            if target and target != module:
                out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imported(name, path, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
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


def test_the_graph_sees_function_level_imports() -> None:
    graph = import_graph()
    assert ROOT in graph and len(graph) > 30
    # runtime.attention imports metrics.plots inside a function (matplotlib only when a picture is drawn).
    assert "aasist_lightning.metrics.plots" in graph["aasist_lightning.runtime.attention"]


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_library_module_reads_the_hydra_configs() -> None:
    # Configs instantiate code; code never reads config files. Only the entry points (the tools and the
    # benchmark, which composes train.py's default recipe) may locate conf/ to hand it to Hydra.
    readers = []
    for name, path in _modules().items():
        if name.startswith((f"{ROOT}.cli", f"{ROOT}.bench")) or name == ROOT:
            continue
        text = path.read_text(encoding="utf-8")
        if any(s in text for s in ("config_dir(", "OmegaConf.load", "yaml.safe_load", '"conf"', "'conf'")):
            readers.append(name)
    assert readers == []


def test_modules_stay_readable() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES and name not in LONG_ALLOWED
    }
    assert long == {}
