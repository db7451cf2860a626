# SPDX-License-Identifier: MIT
"""`stride-ros node`: the ROS 2 node (the same entry point as `ros2 run stride_ros refine_node`)."""
from __future__ import annotations

import sys

HELP = "the ROS 2 node (same as `ros2 run stride_ros refine_node`); takes --ros-args"
USAGE = """usage: stride-ros node [--ros-args ...]
Run the stride_refiner ROS 2 node (the same as `ros2 run stride_ros refine_node`), e.g.
  stride-ros node --ros-args --params-file config/refine.yaml -p lag_frames:=8
Parameters: see config/refine.yaml and the README's parameter table."""


def run_node(argv: list[str]) -> int:
    """ROS arguments pass through untouched (argparse would mangle --ros-args)."""
    if any(a in ("-h", "--help") for a in argv) and "--ros-args" not in argv:
        print(USAGE)
        return 0
    try:
        from ..ros.node import main as node_main
    except ImportError as e:
        print(f"stride-ros node: error: ROS 2 Python packages missing ({e}); install the 'ros' extra "
              "(pip install 'stride_ros[ros]') or source a ROS 2 installation", file=sys.stderr)
        return 2
    return node_main(["stride-ros", *argv])
