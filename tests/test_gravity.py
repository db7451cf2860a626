"""The up direction without a floor (`core/gravity.py`): the fitted pose-to-gravity map rotates with
its input, learns a lean the torso line misses, copes with hidden joints, and the shipped fit is
closer to gravity than the torso line on held-out motion and on real BlazePose views."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_data, run_cli
from scipy.spatial.transform import Rotation

from stride_ros.core.canonical import Canonicaliser, body_up
from stride_ros.core.gravity import UpRegressor, default_regressor, fit
from stride_ros.data.synthetic import synthetic_walk

ALL = np.ones(17, bool)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def _leaning(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Walk poses (Y up) whose upper body is bent forward by a random angle about the hip axis, with the
    head and arms carried along: the torso line leans, gravity does not."""
    rng = np.random.default_rng(seed)
    walk = synthetic_walk(seconds=n / 30.0, fps=30.0, seed=seed)[:n].astype(np.float64)
    upper = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    out = walk.copy()
    for t in range(n):
        p = walk[t]
        axis = p[4] - p[1]
        lean = Rotation.from_rotvec(axis / np.linalg.norm(axis) * rng.uniform(-0.05, 0.45)).as_matrix()
        out[t, upper] = (p[upper] - p[0]) @ lean.T + p[0]
    return out.astype(np.float32), np.tile([0.0, 1.0, 0.0], (n, 1))


def test_the_fit_learns_a_lean_that_the_torso_line_misses():
    poses, ups = _leaning(0, 600)
    model = fit(poses, ups)
    test, _ = _leaning(1, 200)
    fitted = np.mean([_angle_deg(model.predict(p, ALL), np.array([0, 1.0, 0])) for p in test])
    torso = np.mean([_angle_deg(body_up(p, ALL), np.array([0, 1.0, 0])) for p in test])
    assert torso > 8.0, f"the test's lean is too small to tell anything: {torso:.1f} deg"
    assert fitted < 0.25 * torso, f"fitted {fitted:.1f} deg, torso line {torso:.1f} deg"


def test_the_shipped_fit_rotates_with_its_input_and_copes_with_hidden_joints():
    model = default_regressor()
    pose = synthetic_walk(seconds=1.0, fps=30.0, seed=3)[10].astype(np.float64)
    Q = Rotation.from_euler("xyz", [30, -70, 110], degrees=True).as_matrix()
    up = model.predict(pose, ALL)
    assert np.isclose(np.linalg.norm(up), 1.0)
    np.testing.assert_allclose(model.predict(pose @ Q.T, ALL), Q @ up, atol=1e-9)
    hidden = ALL.copy()
    hidden[[13, 16, 3]] = False  # both wrists and an ankle: filled with their mean place
    wrists_hidden = pose.copy()
    wrists_hidden[~hidden] = np.nan
    partial = model.predict(wrists_hidden, hidden)
    assert partial is not None and np.isfinite(partial).all() and _angle_deg(partial, up) < 15.0
    no_thorax = ALL.copy()
    no_thorax[8] = False
    assert model.predict(pose, no_thorax) is None  # the canonical frame falls back to the body's line


def test_a_saved_fit_round_trips_and_a_wrong_one_is_refused(tmp_path):
    model = default_regressor()
    again = UpRegressor.from_json(json.loads(json.dumps(model.to_json())))
    np.testing.assert_allclose(again.weights, model.weights, atol=1e-6)
    with pytest.raises(ValueError, match="expected"):
        UpRegressor.from_json({"weights": [[0.0, 1.0, 0.0]], "mean": model.mean.tolist()})


def _mean_angle(poses: np.ndarray, conf: np.ndarray, up: np.ndarray, model) -> float:
    c = Canonicaliser(fps=30.0, up_model=model)
    errs = []
    for p, w in zip(poses, conf):
        present = np.isfinite(p).all(-1) & (w > 0)
        c.update(np.nan_to_num(p), present, float(w[present].mean()) if present.any() else 0.0)
        if c.up is not None:
            errs.append(_angle_deg(c.up, up))
    return float(np.mean(errs))


@needs_data
def test_the_shipped_fit_is_closer_to_gravity_than_the_torso_on_held_out_motion():
    """Validation clips (never fitted on), through the simulated estimator, as the canonical frame runs."""
    from stride_ros.eval.benchmark import clips_from_split, simulated_cases
    fitted, torso = [], []
    for case in simulated_cases(clips_from_split("val", max_clips=4), "sim", seed=5):
        s = case.sim
        fitted.append(_mean_angle(s.poses, s.confidence, s.floor().normal, default_regressor()))
        torso.append(_mean_angle(s.poses, s.confidence, s.floor().normal, None))
    assert np.mean(fitted) < 0.75 * np.mean(torso), f"fitted {fitted}, torso {torso}"


def test_the_shipped_fit_is_closer_to_gravity_than_the_torso_on_real_blazepose():
    """Real BlazePose output (`real/`) against the floor of the same camera (`real_chain/`)."""
    real, chain = os.environ.get("STRIDE_ROS_REAL"), os.environ.get("STRIDE_ROS_CHAIN")
    if not (real and chain and Path(real).is_dir() and Path(chain).is_dir()):
        pytest.skip("the real cases are not here (set STRIDE_ROS_REAL and STRIDE_ROS_CHAIN)")
    from stride_ros.data.landmarkfile import load_landmarks
    fitted, torso = [], []
    for name in ("tc_S1_acting3_cam3", "tc_S1_freestyle2_cam7"):
        with np.load(Path(real) / f"{name}.in.npz") as d:
            poses, conf = d["poses"].astype(np.float64), d["confidence"]
        up = load_landmarks(Path(chain) / f"{name}.in.npz").floor.normal
        fitted.append(_mean_angle(poses, conf, up, default_regressor()))
        torso.append(_mean_angle(poses, conf, up, None))
    assert np.mean(fitted) < 0.75 * np.mean(torso), f"fitted {fitted}, torso {torso}"


def test_fit_up_cli_refuses_an_unknown_family():
    r = run_cli("fit-up", "--families", "sim,nope", "-o", "/tmp/never.json")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "nope" in r.stderr


@needs_data
def test_fit_up_cli_writes_a_fit_that_loads_and_points_up(tmp_path):
    out = tmp_path / "up.json"
    r = run_cli("fit-up", "--max-clips", "3", "--families", "sim", "-o", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    model = UpRegressor.from_json(json.loads(out.read_text()))
    pose = synthetic_walk(seconds=1.0, fps=30.0, seed=2)[0].astype(np.float64)  # Y up
    assert _angle_deg(model.predict(pose, ALL), np.array([0.0, 1.0, 0.0])) < 20.0
