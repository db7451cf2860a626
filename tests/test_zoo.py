# SPDX-License-Identifier: MIT
"""The estimator zoo's `blazepose` family: training draws a different person every clip (offsets,
size, rotation and error levels from spreads), evaluation keeps the fitted subject, and the fit still
recovers what it is given. A prior trained on one person's landmark offsets learns that person."""
from __future__ import annotations

import numpy as np
import pytest

from stride_ros.data import zoo
from stride_ros.data.realdata import RealCase
from stride_ros.data.zoo import blazepose_person, body_axes, fit_blazepose, load_fit, make_blazepose

FIT = load_fit()
PATTERN = np.asarray(FIT["offset_body_m"])


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a[1:].ravel(), b[1:].ravel())[0, 1])


def test_training_people_are_drawn_from_spreads():
    rng = np.random.default_rng(0)
    people = [blazepose_person(FIT, rng, train=True) for _ in range(400)]
    offs = np.stack([p.offset_body_m for p in people])
    corr = np.array([_corr(o, PATTERN) for o in offs])
    # the fitted pattern is one person's: across people it appears, vanishes and is reversed
    assert corr.max() > 0.7 and (corr < 0).mean() > 0.15
    # per joint, people differ by about the size of the fitted offset itself
    spread = offs.std(0).mean(-1)  # [17]
    size = np.linalg.norm(PATTERN, axis=-1) / np.sqrt(3)
    assert np.all(spread[1:] > 0.5 * np.maximum(size[1:], FIT["offset_case_sd_m"]))
    # the pelvis is the mid-hip on both sides: hip offsets cancel, the pelvis has none
    assert np.all(offs[:, 0] == 0) and np.allclose(offs[:, 1], -offs[:, 4])
    # sizes misjudged by several per cent, not by the one subject's 0.8 %
    scales = np.array([p.log_scale for p in people])
    assert scales.std() > 4 * FIT["log_scale_sd"] and scales.std() > 0.035
    # rotation and error levels vary from person to person, around the fitted values
    for key in ("rot_case_sd_rad", "rot_slow_sd_rad"):
        v = np.array([getattr(p, key) for p in people])
        assert v.min() < 0.7 * FIT[key] < FIT[key] < 1.4 * FIT[key] < v.max()
    lf = np.stack([p.lf_sd_m for p in people])[:, 1:]
    assert lf.std(0).min() > 0.1 * np.asarray(FIT["lf_sd_m"])[1:].min()
    assert len({p.lf_period_s for p in people}) == len(people)


def test_evaluation_keeps_the_fitted_subject():
    rng = np.random.default_rng(1)
    people = [blazepose_person(FIT, rng, train=False) for _ in range(50)]
    assert all(_corr(p.offset_body_m, PATTERN) > 0.8 for p in people)
    assert all(np.array_equal(p.lf_sd_m, np.asarray(FIT["lf_sd_m"])) and p.rot_slow_sd_rad == FIT["rot_slow_sd_rad"]
               for p in people)
    assert np.std([p.log_scale for p in people]) < 2 * FIT["log_scale_sd"]


def _offsets_only() -> dict:
    """The fit with every error but the landmark offsets (and size) switched off."""
    f = dict(FIT, rot_case_sd_rad=0.0, rot_slow_sd_rad=0.0, gap_rate_per_frame=0.0)
    f["lf_sd_m"] = np.zeros_like(PATTERN).tolist()
    f["hf_sd_m"] = np.zeros_like(PATTERN).tolist()
    return f


def _clip_offset(sim) -> np.ndarray:
    """Mean offset of the published joints from the truth's, in the body's own frame [17, 3]."""
    est = sim.poses - sim.poses[:, :1]
    gt = sim.gt - sim.gt[:, :1]
    return np.einsum("tij,tkj->tki", body_axes(gt.astype(np.float64)), est - gt).mean(0)


def test_training_clips_carry_different_offset_patterns(synthetic_clip):
    f = _offsets_only()
    evals = [_clip_offset(make_blazepose(synthetic_clip, 30.0, np.random.default_rng(s), fit=f)) for s in range(8)]
    assert all(_corr(o, PATTERN) > 0.8 for o in evals)
    trains = [_clip_offset(make_blazepose(synthetic_clip, 30.0, np.random.default_rng(s), train=True, fit=f))
              for s in range(40)]
    corr = np.array([_corr(o, PATTERN) for o in trains])
    assert (corr < 0).any() and (corr > 0.6).any()
    assert np.std(trains, axis=0)[1:].mean() > 2 * np.std(evals, axis=0)[1:].mean()


def test_training_clips_stay_valid(synthetic_clip):
    for s in range(6):
        sim = zoo.corrupt("blazepose", synthetic_clip, 30.0, np.random.default_rng(s), train=True)
        seen = ~np.isnan(sim.poses).any((1, 2))
        assert np.isfinite(sim.poses[seen]).all() and np.all(sim.confidence[~seen] == 0)
        assert np.all((sim.confidence >= 0) & (sim.confidence <= 1))
        err = np.linalg.norm((sim.poses - sim.poses[:, :1] - (sim.gt - sim.gt[:, :1]))[seen], axis=-1).mean()
        assert 0.02 < err < 0.4  # metres: an estimator's error, not a broken pose


def test_fit_recovers_the_offsets_it_is_given(synthetic_clip):
    """fit-zoo on cases simulated from the packaged fit gives back its offset pattern and levels."""
    f = dict(FIT, gap_rate_per_frame=0.0)
    cases = []
    for s in range(8):
        sim = make_blazepose(synthetic_clip, 30.0, np.random.default_rng(100 + s), fit=f)
        cases.append(RealCase(f"tc_S9_walk_cam{s}", sim.poses - sim.poses[:, :1], sim.confidence,
                              sim.gt - sim.gt[:, :1], np.zeros(len(sim.poses), bool), 30.0))
    got = fit_blazepose(cases)
    off = np.asarray(got["offset_body_m"])
    assert _corr(off, PATTERN) > 0.9
    assert np.linalg.norm(off - PATTERN, axis=-1)[1:].mean() < 0.35 * np.linalg.norm(PATTERN, axis=-1)[1:].mean()
    assert np.asarray(got["hf_sd_m"])[1:].mean() == pytest.approx(np.asarray(FIT["hf_sd_m"])[1:].mean(), rel=0.35)
    # and what it writes drives the family
    sim = make_blazepose(synthetic_clip, 30.0, np.random.default_rng(0), train=True, fit=got)
    assert np.isfinite(sim.poses).any()
