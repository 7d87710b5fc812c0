"""The house's import rule (docs/architecture.md): packages are layered, and a module imports only from its own
package or from packages below it; no module imports the CLI or the demo; there are no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "vaeaudio"
#: Bottom to top. `vaeaudio/__init__.py` (the version and the Python API) is outside the order.
LAYERS = ("util", "settings", "sound", "formats", "corpus", "models", "training", "exporting", "judging", "listening",
          "demo", "cli")


def _imports() -> dict[str, set[str]]:
    """Module (dotted, below vaeaudio) -> the vaeaudio modules it imports, at any depth of its code."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{name}: relative import (the house imports absolutely)"
                if node.module and node.module.startswith("vaeaudio"):
                    base = node.module.removeprefix("vaeaudio").lstrip(".")
                    for alias in node.names:  # `from vaeaudio.x import y` may import module y
                        sub = f"{base}.{alias.name}" if base else alias.name
                        targets.add(sub if (PACKAGE / sub.replace(".", "/")).with_suffix(".py").exists()
                                    or (PACKAGE / sub.replace(".", "/")).is_dir() else base)
            elif isinstance(node, ast.Import):
                targets |= {a.name.removeprefix("vaeaudio.") for a in node.names if a.name.startswith("vaeaudio.")}
        found[name] = {t for t in targets if t and t != "__init__"}
    return found


def _layer(module: str) -> int | None:
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


def test_every_package_has_a_layer():
    tops = {p.name if p.is_dir() else p.stem for p in PACKAGE.iterdir()
            if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and p.stem != "__init__")}
    assert tops == set(LAYERS)


def test_imports_run_down_the_layers():
    upward = [f"{m} -> {t}" for m, targets in _imports().items() for t in targets
              if _layer(m) is not None and _layer(t) is not None and _layer(t) > _layer(m)]
    assert upward == []


def test_no_import_cycles():
    graph = _imports()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            nxt = nxt if nxt in graph else f"{nxt}.__init__"
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*stack[stack.index(nxt):], nxt]))
            elif nxt in graph and not state.get(nxt):
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if not state.get(node):
            visit(node, [node])
    assert cycles == []
