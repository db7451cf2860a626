"""Latency-compensation rows: forecasts are scored at the time they describe, and the simple
extrapolations are what they say."""
import numpy as np
import pytest

from stride_ros.eval.leads import describe_time, extrapolate, frames_ahead


def test_a_forecast_is_scored_at_the_frame_it_describes():
    pred = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 17, 3), np.float32)
    out = describe_time(pred, 3)
    assert out[3, 0, 0] == 0 and out[9, 0, 0] == 6  # row j: what was predicted at j - 3
    assert (out[:3] == pred[0]).all()


def test_constant_velocity_extrapolation_is_exact_on_constant_velocity():
    t = np.arange(20, dtype=np.float64)
    poses = (t[:, None, None] * 0.05) * np.ones((1, 17, 3))
    fut = extrapolate(poses, 6)
    np.testing.assert_allclose(fut[5:], poses[5:] + 6 * 0.05)
    assert frames_ahead(200, 30.0) == 6 and frames_ahead(500, 30.0) == 15


def test_lead_rows_build_and_run(prior_model):
    from stride_ros.data.simulator import simulate
    from stride_ros.data.synthetic import synthetic_walk
    from stride_ros.eval.methods import build_methods
    if not prior_model.cfg.max_lead:
        pytest.skip("the model under test has no forecast heads")
    sim = simulate(synthetic_walk(seconds=4.0, fps=30.0, seed=2), 30.0, seed=3)
    rows = build_methods("lead200,lead200_hold,lead200_cv_one_euro,lead200_cv_lag0")
    for name, fn in rows.items():
        out = fn(sim.poses, sim.confidence, 30.0)
        assert out.shape == sim.gt.shape and np.isfinite(out).all(), name
