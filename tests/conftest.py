"""Shared fixtures: where the repo and the mocap data are, a small real clip, isolated ROS domains."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


def data_dir() -> Path | None:
    from stride_ros.core.errors import InputError
    from stride_ros.data.mocap import find_data_dir
    try:
        return find_data_dir()
    except InputError:
        return None


needs_data = pytest.mark.skipif(data_dir() is None, reason="shared mocap data not present "
                                "(set STRIDE_ROS_DATA to the folder holding train/MANIFEST.csv)")


@pytest.fixture(scope="session")
def walk_bvh() -> Path:
    d = data_dir()
    if d is None:
        pytest.skip("shared mocap data not present")
    return d / "train" / "cmu08" / "08_01.bvh"


@pytest.fixture(scope="session")
def walk_clip(walk_bvh) -> np.ndarray:
    """A real validation-subject walk, 30 fps, world frame (Y up)."""
    from stride_ros.data.bvh import load_h36m
    poses, _ = load_h36m(walk_bvh, fps_out=30.0)
    return poses


@pytest.fixture
def synthetic_clip() -> np.ndarray:
    """The built-in generated walk (no data needed)."""
    from stride_ros.data.synthetic import synthetic_walk
    return synthetic_walk(seconds=8.0, fps=30.0, seed=0)


def run_cli(*args: str, timeout: float = 300, env: dict | None = None):
    """Run `stride-ros` as a user would, in a child process."""
    import subprocess
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "stride_ros.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=e)


@pytest.fixture(scope="session")
def prior_model():
    """The shipped prior (models/), as the node loads it."""
    import torch

    from stride_ros.model.checkpoint import default_model_path, load_model
    torch.set_num_threads(1)  # tiny per-frame ops: threads only add contention
    path = Path(os.environ.get("STRIDE_TEST_MODEL", default_model_path()))
    return load_model(path)
