# SPDX-License-Identifier: MIT
"""The docs' tables of node parameters and launch arguments, made from the code that declares them.

A table typed by hand drifts from the defaults; these are generated: each node's parameters from
its dataclass (`EstimatorParams`, `NodeParams`), each launch file's arguments from its
`DeclareLaunchArgument` calls (read with `ast`, so no launch_ros is needed). Between a pair of
markers in a Markdown file (`<!-- table:NAME -->` ... `<!-- /table:NAME -->`) the generated table
replaces what was there:

    python -m stride_ros.ros.tables docs/camera.md          # rewrite the tables in place
    python -m stride_ros.ros.tables --check docs/camera.md  # exit 1 when one differs (the tests do this)
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from pathlib import Path
from typing import Callable

LAUNCH_DIR = Path(__file__).resolve().parents[2] / "launch"


def _value(v) -> str:
    """A default as it is written on a ROS command line or in a params YAML."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v)
    return repr(v)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def params_table(specs: dict[str, tuple]) -> str:
    """| parameter | default | meaning | from a node's `specs()` ({name: (default, meaning, ...)})."""
    rows = ["| parameter | default | meaning |", "|---|---|---|"]
    rows += [f"| `{name}` | `{_value(spec[0])}` | {_cell(spec[1])} |" for name, spec in specs.items()]
    return "\n".join(rows)


def launch_arguments(path: Path) -> dict[str, tuple[str, str]]:
    """{argument: (default, description)} of a launch file, in declaration order (literal values only)."""
    tree = ast.parse(Path(path).read_text())
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument":
            kw = {k.arg: k.value for k in node.keywords}
            default = kw.get("default_value")
            out[node.args[0].value] = (default.value if isinstance(default, ast.Constant) else "(computed)",
                                       kw["description"].value)
    return out


def launch_table(path: Path) -> str:
    rows = ["| argument | default | meaning |", "|---|---|---|"]
    for name, (default, doc) in launch_arguments(path).items():
        shown = ("the package's config/refine.yaml" if default == "(computed)" else f"`{default}`" if default
                 else '`""` (none)')
        rows.append(f"| `{name}` | {shown} | {_cell(doc)} |")
    return "\n".join(rows)


def _estimator_params() -> str:
    from .estimator_node import EstimatorParams
    return params_table(EstimatorParams.specs())


def _refiner_params() -> str:
    from .params import NodeParams
    return params_table(NodeParams.specs())


TABLES: dict[str, Callable[[], str]] = {
    "pose_estimator": _estimator_params,
    "stride_refiner": _refiner_params,
    "camera.launch.py": lambda: launch_table(LAUNCH_DIR / "camera.launch.py"),
}


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- table:{re.escape(name)} -->\n)(.*?)(<!-- /table:{re.escape(name)} -->)", re.S)


def render(text: str) -> str:
    """The Markdown text with every marked table regenerated."""
    for name, make in TABLES.items():
        pat = _block(name)
        if pat.search(text):
            table = make() + "\n"
            text = pat.sub(lambda m, t=table: m.group(1) + t + m.group(3), text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stride_ros.ros.tables", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path, help="Markdown files with table markers")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is out of date")
    a = p.parse_args(argv)
    stale = []
    for f in a.files:
        old = f.read_text()
        new = render(old)
        if new != old:
            stale.append(str(f))
            if not a.check:
                f.write_text(new)
    if stale:
        print(("out of date: " if a.check else "rewrote tables in: ") + ", ".join(stale))
    return 1 if stale and a.check else 0


if __name__ == "__main__":
    sys.exit(main())
