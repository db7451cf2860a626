# SPDX-License-Identifier: MIT
"""The camera's viewing rays: the image says where each joint is seen, the prior says how far.

A monocular estimator knows a joint's direction from the camera far better than its depth: BlazePose's
image landmarks are a few pixels off, its 3D pose ~100 mm (MPJPE), and the placement that puts the
pose in the camera frame keeps each joint on the ray through its image landmark
(`vision.placement.on_rays`). The prior refines the whole 3D pose, and at lag 0, without the frames
that confirm it, moves joints sideways off those rays as much as along them. When the input is the
camera chain's (the frame's origin is the camera centre and every observed joint lies on its ray:
`StreamConfig.rays`, the node's `camera_rays`), each refined joint is moved to the nearest point of
the ray through its observed position: the image decides where it is seen, the prior decides the
depth along the ray, the joints the image did not see, and the pose through gaps.

The move is smoothed per joint over `tau_s` (the landmarks' pixel noise is frame to frame: moved
each frame exactly onto its ray, the output's acceleration error doubled) and decays to none
while a joint is not observed; a move longer than `max_m` is cut to it (a wild landmark must not
drag the body). Measured on the camera chain (docs/results.md, "The viewing rays").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.skeleton import BODY_JOINTS, NUM_JOINTS
from ..vision.camera import ray_moves


@dataclass
class RayParams:
    tau_s: float = 0.07  # the move onto the ray is smoothed over this time constant (0: each frame's own)
    max_m: float = 0.3  # no joint is moved further than this onto its ray
    # without a floor: the body is scaled about the camera to lie on the placement's distance, the
    # scale smoothed over this time constant (negative: off). See DistanceKeeper.
    keep_distance_tau_s: float = 1.0
    # ... and each seen frame follows its own placement's scale where it is within this log-ratio of the
    # smoothed one (0: the smoothed scale alone). See DistanceKeeper.
    keep_distance_follow: float = 0.03


class RaySnap:
    """One person's smoothed moves onto their viewing rays (the refiner keeps one per track)."""

    def __init__(self, fps: float, params: RayParams = RayParams()):
        self.p = params
        self.k = 1.0 if params.tau_s <= 0 else 1.0 - float(np.exp(-1.0 / (fps * params.tau_s)))
        self.move = np.zeros((NUM_JOINTS, 3))

    def apply(self, pose: np.ndarray, observed: np.ndarray | None, confidence: np.ndarray | None) -> np.ndarray:
        """pose [17, 3] absolute (input frame) -> the same pose, each joint moved toward the ray through
        its observed position [17, 3] (None: nothing seen this frame); confidence [17] (None: every
        finite joint counts as seen)."""
        if observed is None:  # nobody seen: every move fades
            self.move *= 1.0 - self.k
        else:
            seen = np.ones(NUM_JOINTS, bool) if confidence is None else np.asarray(confidence) > 0
            moves, seen = ray_moves(pose, observed, seen)
            n = np.linalg.norm(moves, axis=-1, keepdims=True)
            moves = moves * np.minimum(1.0, self.p.max_m / np.maximum(n, 1e-12))
            self.move = np.where(seen[:, None], self.move + self.k * (moves - self.move), (1.0 - self.k) * self.move)
        return (pose + self.move).astype(pose.dtype)


def snap_sequence(poses: np.ndarray, observed: np.ndarray, confidence: np.ndarray | None, fps: float,
                  params: RayParams = RayParams()) -> np.ndarray:
    """A whole track [T, 17, 3] kept on the rays of its observations [T, 17, 3] (NaN: not seen), frame by
    frame as the stream does (`refine --mode offline` on the camera chain)."""
    snap = RaySnap(fps, params)
    out = np.asarray(poses).copy()
    for t in range(len(out)):  # a joint without a finite observation is unseen (ray_moves)
        out[t] = snap.apply(out[t], observed[t], None if confidence is None else confidence[t])
    return out


_BODY = np.isin(np.arange(NUM_JOINTS), BODY_JOINTS)


class DistanceKeeper:
    """Without a floor, how far a person is rests on one measurement only: the placement's, from the
    estimator's idea of the body's size. The prior has no better evidence of distance, yet its pose,
    hung on the placement's pelvis, moves the joints' distances by the estimator's offsets about that
    pelvis, which in the placement partly cancel its distance error (measured: docs/results.md, "Where
    the refined body sits"). Scaling the refined body about the camera centre changes no joint's
    image, only its distance along the ray: each frame's scale is the one that brings the refined
    joints closest to the placement's (least squares over the placed joints of the body, `BODY_JOINTS`:
    the placement's nose and head are BlazePose's face landmarks, the prior's are the mocap skeleton's,
    and counted, their offset moved the whole body), smoothed over `tau_s` in log scale, and fading back
    to none while nobody is seen (held, it moved the frames the detector missed further off).

    In the stream a seen frame then takes its own scale where it departs from the smoothed one by no more
    than `follow` (3 %), and the cut beyond: the refined body at lag 0 wobbles along the rays frame to
    frame, a wobble the placement does not have (on the camera chain's design views the scale the truth
    asks for departs from the smoothed one as the frame's own does, regression slope 1.0), while a
    departure beyond the cut is the placement's size jumping (1 % of frames) and must not move the person.
    With a floor the contacts measure the distance: not used."""

    def __init__(self, fps: float, tau_s: float, follow: float = 0.0):
        self.k = 1.0 if tau_s <= 0 else 1.0 - float(np.exp(-1.0 / (fps * tau_s)))
        self.follow = float(follow)
        self.log_ratio: float | None = None  # the smoothed scale (log)
        self.frame_log: float | None = None  # the scale applied to the last frame (log)

    def apply(self, pose: np.ndarray, observed: np.ndarray | None) -> np.ndarray:
        """pose [17, 3] absolute (camera frame) -> scaled about the origin; observed [17, 3] the placement
        (NaN: a joint not placed; None: nobody seen this frame)."""
        r = None
        if observed is None:  # nothing seen: the scale fades (a held one moved the missed frames off)
            if self.log_ratio is not None:
                self.log_ratio *= 1.0 - self.k
        else:
            obs = np.asarray(observed, np.float64)
            ok = np.isfinite(obs).all(-1) & np.isfinite(pose).all(-1) & _BODY
            if ok.sum() >= 3:
                x = np.asarray(pose, np.float64)[ok]
                placed, refined = float((x * obs[ok]).sum()), float((x * x).sum())  # least squares
                if placed > 1e-6 and refined > 1e-6:
                    r = float(np.log(placed / refined))
                    self.log_ratio = r if self.log_ratio is None else self.log_ratio + self.k * (r - self.log_ratio)
        if self.log_ratio is None:
            self.frame_log = None
        else:  # this frame's own scale where it departs from the smoothed one by no more than `follow`
            departure = 0.0 if r is None else float(np.clip(r - self.log_ratio, -self.follow, self.follow))
            self.frame_log = self.log_ratio + departure
        return self.scale(pose)

    def scale(self, pose: np.ndarray) -> np.ndarray:
        """The last frame's scale about the camera, unchanged (a forecast sits where the lag-0 pose does)."""
        if self.frame_log is None:
            return pose
        return (pose * np.exp(self.frame_log)).astype(pose.dtype)


def keep_distance_sequence(poses: np.ndarray, observed: np.ndarray, fps: float,
                           params: RayParams = RayParams()) -> np.ndarray:
    """A whole track [T, 17, 3] at its placement's distance [T, 17, 3] (NaN: not seen), frame by frame with
    the stream's smoothed scale, without a floor (`refine --mode offline --no-floor` on the camera chain).
    No frame follows its own scale: that corrects the lag-0 stream's own wobble along the rays, which the
    offline refinement does not have (followed within 3 %, it was worse on all 29 views, docs/results.md)."""
    if params.keep_distance_tau_s < 0:
        return np.asarray(poses)
    keep = DistanceKeeper(fps, params.keep_distance_tau_s)
    out = np.asarray(poses).copy()
    for t in range(len(out)):
        seen = np.isfinite(observed[t]).all(-1).any()
        out[t] = keep.apply(out[t], observed[t] if seen else None)
    return out


def rays_sequence(poses: np.ndarray, observed: np.ndarray, confidence: np.ndarray | None, fps: float,
                  keep_distance: bool, params: RayParams = RayParams()) -> np.ndarray:
    """A whole track on its observations' rays and, with `keep_distance` (no floor), at their distance:
    what the stream does with camera rays, for `refine --mode offline`."""
    out = snap_sequence(poses, observed, confidence, fps, params)
    return keep_distance_sequence(out, observed, fps, params) if keep_distance else out
