"""Where the refined body sits on the observation (`StreamConfig.anchor`).

An estimator's pelvis (BlazePose: the hip midpoint) is not the joint centre a motion prior learned, so
its root and its pelvis-relative joints carry the same offset with opposite signs, which cancel in
absolute positions. The prior corrects the relative pose but not the root; anchored at its pelvis the
refined body keeps the root's offset in every joint. Anchored at the centroid of its confidently seen
joints it sits where those joints were seen (the shift smoothed over `anchor_tau_s`). Checked as a
property on a simulated walk, and as a gain on a real camera-chain case (absolute truth)."""
from __future__ import annotations

import numpy as np
import pytest
from test_chain import CASE, chain_dir, needs_chain

from stride_ros.data.simulator import SimulatorConfig, simulate
from stride_ros.data.synthetic import synthetic_walk
from stride_ros.stream.association import Person
from stride_ros.stream.refiner import StreamConfig, StreamingRefiner

FPS = 30.0


def _stream(model, poses, conf, anchor: str, tau: float = 0.0) -> np.ndarray:
    r = StreamingRefiner(model, StreamConfig(anchor=anchor, anchor_tau_s=tau, fps=FPS))
    out = np.full(poses.shape, np.nan, np.float32)
    try:
        for t in range(len(poses)):
            for fr in r.push(t / FPS, [Person(poses[t], conf[t], 0)], meta=t).frames:
                for tp in fr.tracks.values():
                    out[fr.meta] = tp.poses
    finally:
        r.close()
    return out


def test_an_unknown_anchor_is_refused(prior_model):
    with pytest.raises(ValueError, match="anchor"):
        StreamingRefiner(prior_model, StreamConfig(anchor="feet"))


def test_the_centroid_anchor_moves_the_body_rigidly_onto_its_seen_joints(prior_model):
    sim = simulate(synthetic_walk(seconds=4.0, fps=FPS, seed=3), FPS, seed=4,
                   cfg=SimulatorConfig(occlusion_s=0.0, partial_rate_per_s=0.0, swap_hazard=0.0, outlier_hazard=0.0))
    poses, conf = sim.poses.astype(np.float32), sim.confidence.astype(np.float32)
    pelvis = _stream(prior_model, poses, conf, "pelvis")
    centroid = _stream(prior_model, poses, conf, "centroid")
    both = ~np.isnan(pelvis).any((1, 2)) & ~np.isnan(centroid).any((1, 2))
    assert both.sum() > 0.8 * len(poses)
    shift = (centroid - pelvis)[both]  # [T, 17, 3]
    # the same body, moved: every joint by the same amount
    assert np.abs(shift - shift[:, :1]).max() < 1e-4
    assert np.linalg.norm(shift[:, 0], axis=-1).max() > 1e-3  # and moved it is (the prior changed the pose)
    # where it is moved to: the confidently seen joints' weighted centroid sits on the observed one,
    # up to the pelvis filter's own correction of the observed pelvis (which both anchors share)
    seen = np.isfinite(poses).all(-1) & (conf >= 0.5)
    use = both & seen[:, 0] & (seen.sum(1) >= 8)
    assert use.sum() > 0.5 * len(poses)
    w = np.where(seen, conf, 0.0)[use][..., None]
    seen_c = (w * (centroid[use] - np.nan_to_num(poses[use]))).sum(1) / w.sum(1)
    filt = pelvis[use][:, 0] - poses[use][:, 0]
    assert np.abs(seen_c - filt).max() < 2e-3
    # smoothed (the default), the shift is the same in the mean and moves less from frame to frame
    smoothed = _stream(prior_model, poses, conf, "centroid", tau=StreamConfig().anchor_tau_s)
    s2 = (smoothed - pelvis)[both][:, 0]
    step = np.abs(np.diff(s2, axis=0)).mean()
    assert 0 < step < 0.7 * np.abs(np.diff(shift[:, 0], axis=0)).mean()
    assert np.linalg.norm(s2.mean(0) - shift[:, 0].mean(0)) < 0.01


@needs_chain
def test_on_real_video_the_centroid_anchor_places_the_person_closer_to_the_truth(prior_model):
    """BlazePose's own hip-midpoint offset, on one whole real case without a floor, as the camera chain
    runs it on the viewing rays, the body where its pose puts it (with the floor the contacts fix most
    of it: 127.6 -> 127.0 mm pooled; without one the distance keeper sets the distance whatever the
    anchor, stream/rays.py)."""
    from stride_ros.data.chaindata import load_chain_case
    from stride_ros.eval.chain import Inputs, case_errors, stream_row
    from stride_ros.stream.rays import RayParams
    case = load_chain_case(chain_dir() / f"{CASE}.in.npz")
    abs_seen = {}
    for anchor in ("pelvis", "centroid"):
        err = case_errors(stream_row(prior_model, Inputs(case), 0, False, anchor=anchor,
                                     ray=RayParams(keep_distance_tau_s=-1.0)), case)
        seen = ~case.missing[case.first:]
        abs_seen[anchor] = float(np.nanmean(err["abs"][seen]))
    assert abs_seen["centroid"] < 0.99 * abs_seen["pelvis"], abs_seen


def test_offline_the_centroid_anchor_is_a_rigid_move_onto_the_seen_joints(prior_model):
    """`refine --mode offline` anchors the same way (`AdaptConfig.anchor`), its shift smoothed both ways."""
    from stride_ros.offline.adapt import AdaptConfig, refine_offline
    sim = simulate(synthetic_walk(seconds=4.0, fps=FPS, seed=3), FPS, seed=4,
                   cfg=SimulatorConfig(occlusion_s=0.0, partial_rate_per_s=0.0, swap_hazard=0.0, outlier_hazard=0.0))
    poses, conf = sim.poses.astype(np.float32), sim.confidence.astype(np.float32)
    with pytest.raises(ValueError, match="anchor"):
        refine_offline(prior_model, poses, conf, FPS, AdaptConfig(epochs=0, anchor="feet"))
    out = {a: refine_offline(prior_model, poses, conf, FPS, AdaptConfig(epochs=0, anchor=a, anchor_tau_s=tau)).poses
           for a, tau in (("pelvis", 0.0), ("centroid", 0.0))}
    smoothed = refine_offline(prior_model, poses, conf, FPS, AdaptConfig(epochs=0)).poses
    shift = out["centroid"] - out["pelvis"]
    assert np.abs(shift - shift[:, :1]).max() < 1e-4 and np.linalg.norm(shift[:, 0], axis=-1).max() > 1e-3
    # unsmoothed, the confidently seen joints' weighted centroid lands on the observed one, up to the
    # pelvis smoother's own correction of the observed pelvis (which both anchors share)
    seen = np.isfinite(poses).all(-1) & (conf >= 0.5)
    use = seen[:, 0] & (seen.sum(1) >= 8)
    w = np.where(seen, conf, 0.0)[use][..., None]
    seen_c = (w * (out["centroid"][use] - np.nan_to_num(poses[use]))).sum(1) / w.sum(1)
    filt = out["pelvis"][use][:, 0] - poses[use][:, 0]
    assert np.abs(seen_c - filt).max() < 2e-3
    # smoothed, the same shift on average, moving less from frame to frame
    s2 = (smoothed - out["pelvis"])[:, 0]
    assert np.abs(np.diff(s2, axis=0)).mean() < 0.7 * np.abs(np.diff(shift[:, 0], axis=0)).mean()
    assert np.linalg.norm(s2.mean(0) - shift[:, 0].mean(0)) < 0.01
