"""The layout holds: imports point down the layers (games <- mcts <- engine <- training, the CLI
excepted), no module imports itself back through others (imports inside functions count), no
source file outgrows one concern, and docs/ARCHITECTURE.md names exactly the modules there are."""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAYERS = {"games": 0, "mcts": 1, "engine": 2, "training": 3}
MAY_IMPORT_ANY_LAYER = {"engine.cli", "engine.cli_llm", "engine.cli_rlhf"}  # the entry point's commands import lazily
MAX_LINES = 500


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for top in LAYERS for p in sorted((ROOT / top).rglob("*.py"))}


def _imports(path: pathlib.Path) -> set[str]:
    """Project modules that `path` imports anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in MODULES}
    return found


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


def test_the_module_list_is_real():
    assert {"games.base", "mcts.kernels", "engine.cli", "engine.nets.network", "engine.play.specs",
            "training.run"} <= set(MODULES)
    assert "engine.play.base" in GRAPH["engine.play.terminal"]  # a function-level import would count too


def test_imports_point_down_the_layers():
    upward = [(src, dst) for src, dsts in GRAPH.items() for dst in dsts
              if src not in MAY_IMPORT_ANY_LAYER and LAYERS[dst.split(".")[0]] > LAYERS[src.split(".")[0]]]
    assert not upward


def _cycle() -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if nxt.count(".") == 0 or nxt == node.rsplit(".", 1)[0]:
                continue  # a package's __init__ re-exports its own modules; importing it is no circle
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(GRAPH):
        if state.get(name) is None and (found := visit(name)):
            return found
    return None


def test_no_import_circle():
    assert _cycle() is None


def test_a_circle_would_be_found(monkeypatch):
    monkeypatch.setitem(GRAPH, "engine.play.base", GRAPH["engine.play.base"] | {"engine.play.specs"})
    assert _cycle() is not None


def _is_kernel_file(path: pathlib.Path) -> bool:
    """A rules file of numba kernels only, which numba's cache rule keeps whole (a cached kernel
    may call only kernels of its own file)."""
    tree = ast.parse(path.read_text())
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    jitted = [f for f in funcs if any("njit" in ast.unparse(d) for d in f.decorator_list)]
    return bool(funcs) and len(jitted) == len(funcs) and not any(isinstance(n, ast.ClassDef) for n in tree.body)


@pytest.mark.parametrize("folder", ["engine", "games", "mcts", "training", "benchmarks", "tests"])
def test_no_source_file_outgrows_one_concern(folder):
    long = [str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*.py")
            if len(p.read_text().splitlines()) > MAX_LINES and not _is_kernel_file(p)]
    assert not long


def test_architecture_doc_names_every_module_and_folder():
    doc = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`((?:games|mcts|engine|training)/[\w/]*?\w+\.py)`", doc))
    actual = {str(p.relative_to(ROOT)) for p in MODULES.values() if p.name != "__init__.py"}
    assert actual - named == set(), "modules the doc does not describe"
    assert named - actual == set(), "modules the doc describes that do not exist"
    layout = doc[doc.index("```"):doc.index("```", doc.index("```") + 3)]
    folders = {str(p.parent.relative_to(ROOT)) + "/" for p in MODULES.values() if p.name == "__init__.py"}
    assert {f for f in folders if f not in layout} == set(), "folders missing from the layout block"
