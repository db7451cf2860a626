"""The camera launch files and their documentation, as far as this machine allows (launch_ros has no
wheel: the files are read with `ast`, as tests/test_launch.py reads refine.launch.py).

`camera.launch.py` defaults to JPEG images (the transport that meets the latency goal at 720p);
one launch file per common driver points it at that driver's default topics, which must be the
topics docs/camera.md lists; the docs' tables of launch arguments and node parameters are the
ones generated from the code.
"""
from __future__ import annotations

import ast
import importlib.util

import pytest
from conftest import REPO

from stride_ros.ros import tables

LAUNCH = REPO / "launch"
DOC = REPO / "docs" / "camera.md"
# driver launch file -> (package, executable, its documented row in docs/camera.md's driver table)
DRIVERS = {
    "usb_cam.launch.py": ("usb_cam", "usb_cam_node_exe", "usb_cam"),
    "v4l2_camera.launch.py": ("v4l2_camera", "v4l2_camera_node", "v4l2_camera"),
    "realsense.launch.py": ("realsense2_camera", "realsense2_camera_node", "realsense2_camera (4.54 and later)"),
}


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == name]


def _doc_driver_rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 5 and cells[1].endswith(".launch.py`"):
            rows[cells[0]] = [c.strip("`") for c in cells[1:]]
    return rows


def test_camera_launch_defaults_to_compressed_images():
    args = tables.launch_arguments(LAUNCH / "camera.launch.py")
    assert args["image_transport"][0] == "compressed"
    assert args["image_topic"][0] == "/image_raw" and args["camera_info_topic"][0] == "/camera_info"


@pytest.mark.parametrize("name", list(DRIVERS))
def test_driver_launch_file_points_the_chain_at_the_drivers_documented_topics(name):
    package, executable, doc_name = DRIVERS[name]
    tree = ast.parse((LAUNCH / name).read_text())
    assert ast.get_docstring(tree) and name in ast.get_docstring(tree)
    topics = next(ast.literal_eval(n.value) for n in tree.body
                  if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "TOPICS")
    camera_args = tables.launch_arguments(LAUNCH / "camera.launch.py")
    assert set(topics) == {"image_topic", "camera_info_topic"} and set(topics) <= set(camera_args)
    # the driver node it starts (unless start_driver:=false), and the chain it includes
    node = {k.arg: k.value for k in _calls(tree, "Node")[0].keywords}
    assert (node["package"].value, node["executable"].value) == (package, executable)
    assert "condition" in node and "start_driver" in ast.dump(node["condition"])
    declared = {c.args[0].value: {k.arg: k.value for k in c.keywords} for c in _calls(tree, "DeclareLaunchArgument")}
    assert declared["start_driver"]["default_value"].value == "true"
    assert declared["image_transport"]["default_value"].value == "compressed"
    assert all("description" in kw for kw in declared.values())
    include = _calls(tree, "IncludeLaunchDescription")
    assert len(include) == 1 and "TOPICS" in ast.dump(include[0]) and "image_transport" in ast.dump(include[0])
    assert '"camera.launch.py"' in (LAUNCH / name).read_text()
    # docs/camera.md names the same topics for this driver, and the same launch file
    row = _doc_driver_rows()[doc_name]
    assert row == [name, topics["image_topic"], topics["camera_info_topic"], topics["image_topic"] + "/compressed"]


def _estimator_parameters(tree: ast.AST) -> dict[str, ast.AST]:
    """The pose_estimator Node's parameter dict in camera.launch.py: {name: value expression}."""
    node = next(c for c in _calls(tree, "Node")
                if any(k.arg == "executable" and k.value.value == "pose_estimator" for k in c.keywords))
    params = next(k.value for k in node.keywords if k.arg == "parameters").elts[0]
    return {k.value: v for k, v in zip(params.keys, params.values)}


def test_max_people_reaches_the_estimator_from_every_launch_file():
    """max_people:=N on any of the launch files sets the pose_estimator's max_people (an integer
    parameter: a string would be refused by the node), default 1 as the node's own default."""
    pytest.importorskip("rclpy")  # EstimatorParams lives in the node's module
    from stride_ros.ros.estimator_node import EstimatorParams
    tree = ast.parse((LAUNCH / "camera.launch.py").read_text())
    assert tables.launch_arguments(LAUNCH / "camera.launch.py")["max_people"][0] == str(
        EstimatorParams.specs()["max_people"][0])
    value = _estimator_parameters(tree)["max_people"]
    assert isinstance(value, ast.Call) and value.func.id == "ParameterValue"
    assert "LaunchConfiguration" in ast.dump(value.args[0]) and "'max_people'" in ast.dump(value.args[0])
    assert {k.arg: k.value.id for k in value.keywords} == {"value_type": "int"}
    for name in DRIVERS:
        drv = ast.parse((LAUNCH / name).read_text())
        declared = {c.args[0].value: {k.arg: k.value for k in c.keywords} for c in _calls(drv, "DeclareLaunchArgument")}
        assert declared["max_people"]["default_value"].value == "1", name
        include = _calls(drv, "IncludeLaunchDescription")[0]
        passed = next(k.value for k in include.keywords if k.arg == "launch_arguments").func.value
        given = {k.value: v for k, v in zip(passed.keys, passed.values) if k is not None}  # beside **TOPICS
        assert "max_people" in given and "'max_people'" in ast.dump(given["max_people"]), name


def test_launch_files_with_launch_ros_build_their_descriptions():
    if importlib.util.find_spec("launch_ros") is None:
        pytest.skip("launch_ros not installed (PyPI has no wheel); structure checked in the tests above")
    for name in ("camera.launch.py", *DRIVERS):  # pragma: no cover - needs a ROS installation
        spec = importlib.util.spec_from_file_location(name.replace(".", "_"), LAUNCH / name)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        assert mod.generate_launch_description().entities


def test_setup_installs_every_launch_file_and_the_doc_links_them():
    assert '"launch/*.py"' in (REPO / "setup.py").read_text()
    text = DOC.read_text()
    for name in ("camera.launch.py", *DRIVERS):
        assert name in text, name


def test_docs_tables_are_the_ones_the_code_generates():
    """docs/camera.md's launch-argument and pose_estimator tables equal what tables.py makes from the code
    (regenerate with `python -m stride_ros.ros.tables docs/camera.md`)."""
    pytest.importorskip("rclpy")  # EstimatorParams lives in the node's module
    text = DOC.read_text()
    for name in ("camera.launch.py", "pose_estimator"):
        assert f"<!-- table:{name} -->" in text, name
    assert tables.render(text) == text, "stale: python -m stride_ros.ros.tables docs/camera.md"
    assert tables.main(["--check", str(DOC)]) == 0
    from stride_ros.ros.estimator_node import EstimatorParams
    for name, (default, *_) in EstimatorParams.specs().items():
        assert f"| `{name}` | `{tables._value(default)}` |" in text, name


def test_tables_render_replaces_only_between_markers(tmp_path):
    specs = {"a_topic": ("/x", "where | it goes"), "rate": (2.5, "Hz"), "on": (True, "switch")}
    table = tables.params_table(specs)
    assert table.splitlines()[2:] == ['| `a_topic` | `"/x"` | where \\| it goes |', "| `rate` | `2.5` | Hz |",
                                      "| `on` | `true` | switch |"]
    doc = tmp_path / "d.md"
    doc.write_text("intro\n<!-- table:camera.launch.py -->\nold\n<!-- /table:camera.launch.py -->\noutro\n")
    assert tables.main(["--check", str(doc)]) == 1 and "old" in doc.read_text()
    assert tables.main([str(doc)]) == 0
    new = doc.read_text()
    assert new.startswith("intro\n") and new.endswith("outro\n") and "old" not in new and "| `image_transport` |" in new
    assert tables.main(["--check", str(doc)]) == 0  # idempotent
