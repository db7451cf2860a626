"""The pelvis filter: the same in any orientation of the frame, blind to the confidence scale, and
following a person the estimator reports less and less confidently."""
import numpy as np
from scipy.spatial.transform import Rotation

from stride_ros.core.rootpath import RootFilter, smooth_root


def _track(T=150, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 30.0
    true = np.stack([1.5 * np.sin(0.4 * t), 0.2 * np.ones(T), 3.0 + 0.8 * t], -1)
    meas = true + rng.normal(0, 0.04, true.shape)
    conf = rng.uniform(0.6, 1.0, T)
    return true, meas, conf


def _run(meas, conf, lag=0):
    f = RootFilter(history=lag + 8)
    out = []
    for z, c in zip(meas, conf):
        f.update(z, float(c), 1 / 30)
        out.append(f.smoothed(lag))
    return np.array(out)


def test_rotating_the_frame_rotates_the_track():
    _, meas, conf = _track()
    Q = Rotation.from_euler("xyz", [90, 0, -90], degrees=True).as_matrix()  # optical -> base_link-like
    for lag in (0, 8):
        a, b = _run(meas, conf, lag), _run(meas @ Q.T, conf, lag)
        np.testing.assert_allclose(a @ Q.T, b, atol=1e-9)
    np.testing.assert_allclose(smooth_root(meas, conf, 30.0) @ Q.T, smooth_root(meas @ Q.T, conf, 30.0), atol=1e-5)


def test_the_confidence_scale_does_not_matter():
    _, meas, conf = _track()
    np.testing.assert_allclose(_run(meas, conf), _run(meas, conf * 0.4), atol=1e-9)


def test_follows_a_person_reported_ever_less_confidently():
    true, meas, _ = _track(T=300)
    conf = np.linspace(0.95, 0.35, len(true))  # walking away: the estimator's confidence sinks
    out = _run(meas, conf)
    err = np.linalg.norm(out - true, axis=-1)[-60:].mean()
    raw = np.linalg.norm(meas - true, axis=-1)[-60:].mean()
    assert err < raw, (err, raw)


def test_low_confidence_garbage_barely_pulls():
    true, meas, conf = _track(T=200)
    bad = meas.copy()
    bad[80:128] += np.array([0.6, 0.0, -0.5])  # 1.6 s of a wrong answer, reported at low confidence
    conf = conf.copy()
    conf[80:128] = 0.2
    missing = meas.copy()
    missing[80:128] = np.nan
    out, unseen = _run(bad, conf), _run(missing, conf)
    assert np.linalg.norm(out[80:128] - unseen[80:128], axis=-1).max() < 0.05  # as if nothing was reported


def test_reacquires_when_the_person_really_moved():
    """A first estimate that was off (or a real fast change in depth): confident answers outside the
    gate restart the filter within a few frames instead of coasting for a second."""
    true, meas, conf = _track(T=120)
    meas = meas.copy()
    meas[:10] += np.array([0.0, 0.0, -2.5])  # the estimator's first guesses put the person 2.5 m too near
    out = _run(meas, conf)
    err = np.linalg.norm(out - true, axis=-1)
    assert err[20:].max() < 0.3, err[10:25].round(2)
