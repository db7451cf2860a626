"""The estimator simulator (reproducible, realistic in shape) and the baselines."""
import numpy as np
import pytest

from stride_ros.data.simulator import SimulatorConfig, simulate
from stride_ros.eval import metrics
from stride_ros.eval.baselines import (
    BASELINES,
    OneEuroFilter,
    OneEuroParams,
    hold_last,
    interpolate_missing,
    linear_interpolation,
    one_euro,
)


def test_reproducible_by_seed(synthetic_clip):
    a = simulate(synthetic_clip, 30.0, seed=7)
    b = simulate(synthetic_clip, 30.0, seed=7)
    c = simulate(synthetic_clip, 30.0, seed=8)
    np.testing.assert_array_equal(a.poses, b.poses)
    np.testing.assert_array_equal(a.confidence, b.confidence)
    assert not np.array_equal(np.nan_to_num(a.poses), np.nan_to_num(c.poses))


def test_occlusion_schedule_and_camera_frame(synthetic_clip):
    sim = simulate(synthetic_clip, 30.0, seed=1)
    full = sim.occluded.all(-1)
    # 1.6 s within every 3.2 s: about half the frames fully or partly hidden
    assert 0.35 < full.mean() < 0.55
    for c0 in range(0, len(full) - 96, 96):
        assert full[c0:c0 + 96].sum() >= 30
    # optical frame: the person is in front of the camera, a few metres away
    depth = sim.gt[:, 0, 2]
    assert (depth > 1.5).all() and np.median(depth) < 7
    # missing joints are NaN with zero confidence; garbage has low confidence
    missing = np.isnan(sim.poses).any(-1)
    assert (sim.confidence[missing] == 0).all()
    assert (missing <= sim.occluded).all()


def test_depth_error_dominates(synthetic_clip):
    cfg = SimulatorConfig(occlusion_s=0.0, partial_rate_per_s=0.0, swap_hazard=0.0, outlier_hazard=0.0)
    sim = simulate(synthetic_clip, 30.0, seed=3, cfg=cfg)
    err = np.abs(sim.poses - sim.gt).reshape(-1, 3).mean(0)
    assert err[2] > 1.5 * max(err[0], err[1])
    assert not np.isnan(sim.poses).any()


def test_baselines_output_complete_poses(synthetic_clip):
    sim = simulate(synthetic_clip, 30.0, seed=2)
    for name, fn in BASELINES.items():
        out = fn(sim.poses, sim.confidence, 30.0)
        assert out.shape == sim.gt.shape and not np.isnan(out).any(), name


def test_linear_interpolation_is_exact_on_linear_motion():
    T = 30
    t = np.arange(T, dtype=np.float32)[:, None, None]
    gt = np.ones((T, 17, 3), np.float32) * 0.01 * t
    noisy = gt.copy()
    noisy[10:20] = np.nan
    out = linear_interpolation(noisy)
    np.testing.assert_allclose(out, gt, atol=1e-6)


def test_hold_last_is_causal_and_holds():
    p = np.arange(6, dtype=np.float32)[:, None, None] * np.ones((1, 17, 3), np.float32)
    p[2:5] = np.nan
    out = hold_last(p)
    np.testing.assert_allclose(out[:, 0, 0], [0, 1, 1, 1, 1, 5])


def test_low_confidence_counts_as_missing():
    p = np.zeros((5, 17, 3), np.float32)
    conf = np.ones((5, 17), np.float32)
    p[2] = 9.0
    conf[2] = 0.1
    out = linear_interpolation(p, conf, threshold=0.3)
    assert np.abs(out).max() == 0


def test_one_euro_converges_on_constant_input_and_holds_gaps():
    f = OneEuroFilter(OneEuroParams(min_cutoff=1.0, beta=0.0, threshold=0.0), fps=30.0)
    target = np.ones((17, 3))
    valid = np.ones(17, bool)
    f.update(np.zeros((17, 3)), valid)
    for _ in range(200):
        x = f.update(target, valid)
    np.testing.assert_allclose(x, target, atol=1e-6)
    held = f.update(np.full((17, 3), 5.0), np.zeros(17, bool))
    np.testing.assert_allclose(held, target, atol=1e-6)


def test_one_euro_smooths_jitter(synthetic_clip):
    cfg = SimulatorConfig(occlusion_s=0.0, partial_rate_per_s=0.0)
    sim = simulate(synthetic_clip, 30.0, seed=4, cfg=cfg)
    out = one_euro(sim.poses, sim.confidence, 30.0, params=OneEuroParams(min_cutoff=1.0, beta=0.0, threshold=0.0))
    raw_acc = np.nanmean(metrics.accel_error_per_frame(sim.poses, sim.gt))
    assert np.nanmean(metrics.accel_error_per_frame(out, sim.gt)) < 0.5 * raw_acc


def test_interpolate_never_seen_joint_goes_to_pelvis():
    p = np.random.default_rng(0).normal(size=(8, 17, 3)).astype(np.float32)
    p[:, 13] = np.nan
    out = interpolate_missing(p, ~np.isnan(p).any(-1))
    np.testing.assert_allclose(out[:, 13], out[:, 0])
    with pytest.raises(ValueError):
        interpolate_missing(np.full((4, 17, 3), np.nan, np.float32), np.zeros((4, 17), bool))
