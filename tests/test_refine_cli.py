"""`stride-ros refine` on real motion: offline and stream, complete output in the input's frame."""
import os

import numpy as np
import pytest
from conftest import run_cli

from stride_ros.data.posefile import PoseSequence, load_poses, save_poses
from stride_ros.data.simulator import simulate
from stride_ros.eval import metrics


def model_args():
    return ["--model", os.environ["STRIDE_TEST_MODEL"]] if os.environ.get("STRIDE_TEST_MODEL") else []


@pytest.fixture
def noisy_file(tmp_path, walk_clip):
    sim = simulate(walk_clip[:200], 30.0, seed=9)
    path = tmp_path / "noisy.npz"
    save_poses(path, PoseSequence(sim.poses, 30.0, sim.confidence))
    return path, sim


@pytest.mark.parametrize("args", [["--mode", "offline", "--tta-steps", "0"],
                                  ["--mode", "offline", "--tta-steps", "3"],
                                  ["--mode", "stream", "--lag", "0"],
                                  ["--mode", "stream", "--lag", "8", "--backend", "onnx"]])
def test_refine_writes_complete_poses_in_the_same_frame(tmp_path, noisy_file, args):
    src, sim = noisy_file
    before = src.read_bytes()
    out = tmp_path / "out.npz"
    res = run_cli("refine", str(src), "-o", str(out), *args, *model_args())
    assert res.returncode == 0, res.stderr
    assert src.read_bytes() == before
    seq = load_poses(out)
    assert seq.poses.shape == sim.poses.shape and not np.isnan(seq.poses).any()
    assert seq.fps == 30.0
    # same frame, absolute positions: the person is where the ground truth is, about as well as
    # the estimator placed them where it saw them (this walk starts 6 m away: depth errors ~0.5 m)
    seen = ~np.isnan(sim.poses).any((1, 2))
    estimator = metrics.abs_error_per_frame(sim.poses[seen], sim.gt[seen]).mean()
    assert metrics.abs_error_per_frame(seq.poses, sim.gt).mean() < 1.2 * estimator


def test_offline_default_is_the_prior_alone(tmp_path, noisy_file):
    """Adaptation measured worse than the prior alone (README, Adaptation): the default spends no epochs."""
    src, _ = noisy_file
    res = run_cli("refine", str(src), "-o", str(tmp_path / "o.npz"), *model_args())
    assert res.returncode == 0, res.stderr
    assert "no adaptation requested" in res.stdout


def test_refine_handles_other_rates_and_refuses_bad_input(tmp_path, synthetic_clip):
    sim = simulate(synthetic_clip[:90], 30.0, seed=1)
    src = tmp_path / "in15.npz"
    save_poses(src, PoseSequence(sim.poses[::2], 15.0, sim.confidence[::2]))
    out = tmp_path / "o.npz"
    res = run_cli("refine", str(src), "-o", str(out), "--tta-steps", "0", *model_args())
    assert res.returncode == 0, res.stderr
    assert load_poses(out).poses.shape == (45, 17, 3)
    res = run_cli("refine", str(src), "-o", str(src))
    assert res.returncode == 2 and "overwrite" in res.stderr
    np.savez(tmp_path / "allnan.npz", poses=np.full((10, 17, 3), np.nan, np.float32), fps=30.0)
    res = run_cli("refine", str(tmp_path / "allnan.npz"), "-o", str(out))
    assert res.returncode == 2 and "nothing to refine" in res.stderr
    res = run_cli("refine", str(src), "-o", str(out), "--mode", "stream", "--lag", "99", *model_args())
    assert res.returncode == 2 and "lag" in res.stderr
