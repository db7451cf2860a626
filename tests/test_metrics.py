"""Metrics against cases whose answers are known by construction."""
import numpy as np
import pytest

from stride_ros.eval import metrics


def rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * K + (1 - np.cos(angle)) * K @ K


@pytest.fixture
def seq():
    rng = np.random.default_rng(0)
    return rng.normal(0, 0.3, size=(20, 17, 3))


def test_identical_sequences_have_zero_error(seq):
    errs = metrics.per_frame_errors(seq, seq)
    for name, e in errs.items():
        assert np.nanmax(np.abs(e)) < 1e-9, name


def test_rotated_scaled_translated_copy_has_zero_pa_mpjpe_but_nonzero_mpjpe(seq):
    R = rotation([0.3, 1.0, -0.2], 0.7)
    pred = 1.3 * seq @ R.T + np.array([0.5, -1.0, 2.0])
    assert metrics.pa_mpjpe_per_frame(pred, seq).max() < 1e-6
    assert metrics.mpjpe_per_frame(pred, seq).min() > 10.0


def test_pa_mpjpe_does_not_undo_a_reflection(seq):
    mirrored = seq * np.array([-1.0, 1.0, 1.0])
    assert metrics.pa_mpjpe_per_frame(mirrored, seq).mean() > 1.0


def test_scaled_copy_has_zero_n_mpjpe(seq):
    root = seq[:, :1]
    pred = root + 0.8 * (seq - root)
    assert metrics.n_mpjpe_per_frame(pred, seq).max() < 1e-6
    assert metrics.mpjpe_per_frame(pred, seq).mean() > 10.0


def test_translation_changes_only_absolute_error(seq):
    pred = seq + np.array([0.1, 0.0, 0.0])
    assert metrics.mpjpe_per_frame(pred, seq).max() < 1e-9
    np.testing.assert_allclose(metrics.abs_error_per_frame(pred, seq), 100.0, rtol=1e-9)


def test_constant_velocity_path_has_zero_accel_error(seq):
    t = np.arange(20)[:, None, None]
    still = np.repeat(seq[:1], 20, axis=0)
    moving = still + t * np.array([0.01, 0.02, -0.03]) * np.linspace(0.5, 1.5, 17)[None, :, None]
    e = metrics.accel_error_per_frame(moving, still)
    assert np.isnan(e[0]) and np.isnan(e[-1])
    assert np.nanmax(e) < 1e-9


def test_accel_error_known_value():
    gt = np.zeros((5, 17, 3))
    pred = gt.copy()
    pred[2, 5:, 0] = 0.001  # one frame bumped by 1 mm on joints 5.. (root unchanged)
    e = metrics.accel_error_per_frame(pred, gt)
    # frame 2: second difference -2 mm on 12 of 17 joints; frames 1 and 3: +1 mm
    np.testing.assert_allclose(e[1:4], [12 / 17, 24 / 17, 12 / 17], rtol=1e-9)


def test_mpjpe_known_value():
    gt = np.zeros((1, 17, 3))
    pred = gt.copy()
    pred[0, 1:, 1] = 0.017  # every non-root joint 17 mm off, root exact
    assert metrics.mpjpe_per_frame(pred, gt)[0] == pytest.approx(16.0)


def test_nan_prediction_is_refused(seq):
    bad = seq.copy()
    bad[3, 4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.per_frame_errors(bad, seq)


def test_summarize_weights_frames_not_clips():
    e1 = {k: np.full(10, 1.0) for k in metrics.PER_FRAME}
    e2 = {k: np.full(30, 3.0) for k in metrics.PER_FRAME}
    s = metrics.summarize([e1, e2], [np.ones(10, bool), np.ones(30, bool)])
    assert s["mpjpe"] == pytest.approx(2.5)
