"""The layout is the architecture: layers import downward only, no cycles, a lean node."""
import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "stride_ros"
LAYERS = ["core", "data", "vision", "model", "offline", "stream", "eval", "ros", "cli"]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(absolute stride_ros module imported, at module level?) for every import in a file."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    pkg_parts = list(rel.parts[:-1]) if rel.name != "__init__" else list(rel.parts[:-1])
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                if not node.module:  # from . import x
                    out += [(f"{mod}.{a.name}", id(node) in top) for a in node.names]
                    continue
            else:
                mod = node.module or ""
            if mod.startswith("stride_ros"):
                out.append((mod, id(node) in top))
        elif isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names if a.name.startswith("stride_ros")]
    return out


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_module_lives_in_a_layer():
    stray = [p.name for p in PKG.glob("*.py") if p.name != "__init__.py"]
    assert not stray, f"modules outside the layers: {stray}"


def test_nothing_imports_upward():
    bad = []
    for path in PKG.rglob("*.py"):
        me = _layer(".".join(path.relative_to(PKG.parent).with_suffix("").parts))
        for mod, _ in _imports(path):
            other = _layer(mod)
            if me is not None and other is not None and other > me:
                bad.append(f"{path.relative_to(PKG.parent)} -> {mod}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {}
    for path in PKG.rglob("*.py"):
        me = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
        graph[me] = {m for m, _ in _imports(path)}
    state: dict[str, int] = {}

    def visit(n: str, stack: list[str]) -> None:
        state[n] = 1
        for m in graph.get(n, ()):
            if m not in graph:
                continue
            if state.get(m) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack + [n, m]))
            if m not in state:
                visit(m, stack + [n])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [])


def test_the_node_does_not_pull_in_bvh_parsing_or_the_baselines():
    code = ("import sys, stride_ros.ros.node; "
            "print(sorted(m for m in sys.modules if m.startswith('stride_ros')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    loaded = res.stdout
    for heavy in ("stride_ros.data.bvh", "stride_ros.eval.baselines", "stride_ros.data.mocap", "stride_ros.eval"):
        assert f"'{heavy}'" not in loaded, f"the node imports {heavy}"


def test_the_demo_verbs_import_without_ros():
    """`stride-ros demo` / `soak` say how to install rclpy when it is missing: their modules must load without it."""
    code = ("import sys, stride_ros.ros.demo, stride_ros.ros.soak, stride_ros.ros.video_demo; "
            "print('rclpy' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "False"
