# SPDX-License-Identifier: MIT
"""Put BlazePose's metric skeleton where the image says it is: absolute joints in the camera's optical
frame (x right, y down, z forward, metres).

BlazePose's world landmarks are metric but hip-centred, in a frame only roughly aligned with the
camera; its image landmarks are pixels. With the intrinsics K, the rigid motion (R, t) that
carries the world landmarks onto their image positions is the camera-frame pose of the body:
R @ X + t, projected with K, should land on the 2D landmarks. It is solved per frame by robust
nonlinear least squares on the reprojection error of all 33 landmarks, each weighted by its
visibility (a hidden landmark is BlazePose's guess in both outputs and must not pull the fit),
starting from no rotation and the distance at which the body's metric size matches its size in
pixels. The rotation has a weak prior towards none (BlazePose already turns the body as the camera
sees it): unregularised, the 2D landmarks' noise turned the body by ~3 degrees from frame to frame
and added 40 % to the skeleton's jitter on the Sports2D clip; this prior removed most of that for
0.2 px more reprojection error (ROTATION_PRIOR).

The body's shape and size are BlazePose's; the fit decides only where it is and how it is turned,
so the distance is as right as BlazePose's body size and the focal length. A rigid body cannot land
on every 2D joint (BlazePose's metric pose and its image landmarks disagree by a few pixels), and the
image is the better of the two sideways: each joint is then moved to the nearest point of the ray
through its 2D joint (`on_rays`), keeping about the fit's depth. On the camera chain's 14 design views
(acting3, freestyle1, floor) that moved Abs 140.6 -> 136.3 mm and MPJPE 100.1 -> 94.5, and it lets the
refiner keep its output on the same rays (stream/rays.py).

(On the Sports2D clip BlazePose's body grows from ~1.3 to ~1.6 m over its first ten frames after a
detection, and the distance with it, from ~4.5 to ~7.5 m: what the refiner receives at a track's start.)

The self-check that the node and the CLI report: the rigid fit's 17 joints, projected with K, land
on BlazePose's 2D joints (`reprojection_px`: how far its metric pose and its image disagree; the
published joints, on their rays, land exactly), and the person's height and distance are plausible.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.spatial.transform import Rotation

from .camera import project, ray_moves
from .landmarks import to_joints

HEIGHT_RANGE_M = (1.2, 2.2)  # a plausible standing adult or teenager
DISTANCE_RANGE_M = (0.5, 15.0)  # where a single camera still resolves a body
# height = leg (hip-ankle) + pelvis-thorax + thorax-ear line, plus what no landmark spans:
# ear line to the crown (~0.12 m) and ankle to the sole (~0.08 m), adult anthropometric means
HEIGHT_UNSPANNED_M = 0.20
MIN_WEIGHT = 0.05  # a landmark with visibility ~0 still counts this much (keeps the fit determined)
MIN_DEPTH_M = 0.1
# cost of a rotation: this many body-sizes (RMS spread in pixels) per radian, per landmark
ROTATION_PRIOR = 0.3


@dataclass
class Placement:
    R: np.ndarray  # [3, 3] BlazePose world frame -> camera optical frame
    t: np.ndarray  # [3] metres
    ok: bool  # converged in front of the camera

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ self.R.T + self.t


def _initial_translation(world: np.ndarray, image: np.ndarray, w: np.ndarray, K: np.ndarray) -> np.ndarray:
    """No rotation, and the depth at which the body's metric spread matches its spread in pixels."""
    c3 = (world * w[:, None]).sum(0) / w.sum()
    c2 = (image * w[:, None]).sum(0) / w.sum()
    s3 = np.sqrt((w * ((world[:, :2] - c3[:2]) ** 2).sum(1)).sum() / w.sum())
    s2 = np.sqrt((w * ((image - c2) ** 2).sum(1)).sum() / w.sum())
    f = 0.5 * (K[0, 0] + K[1, 1])
    z = max(f * s3 / max(s2, 1e-6), MIN_DEPTH_M)
    centre = np.array([(c2[0] - K[0, 2]) * z / K[0, 0], (c2[1] - K[1, 2]) * z / K[1, 1], z])
    return centre - c3


def place(world: np.ndarray, image: np.ndarray, visibility: np.ndarray, K: np.ndarray) -> Placement:
    """world [33, 3] metres (hip-centred), image [33, 2] pixels, visibility [33] -> the body's pose."""
    w = np.clip(np.nan_to_num(visibility, nan=0.0), MIN_WEIGHT, 1.0)
    sw = np.sqrt(w)[:, None]
    t0 = _initial_translation(world, image, w, K)
    spread = np.sqrt(((image - image.mean(0)) ** 2).sum(1).mean())
    f_scale = max(0.05 * spread, 1.0)  # residuals beyond ~5 % of the body's size in pixels count less

    prior = ROTATION_PRIOR * spread * np.sqrt(len(world))

    def residuals(x: np.ndarray) -> np.ndarray:
        cam = world @ Rotation.from_rotvec(x[:3]).as_matrix().T + x[3:]
        cam[:, 2] = np.maximum(cam[:, 2], 1e-3)  # the solver may try a step behind the camera
        return np.r_[((project(cam, K) - image) * sw).ravel(), prior * x[:3]]

    sol = least_squares(residuals, np.r_[np.zeros(3), t0], loss="soft_l1", f_scale=f_scale, max_nfev=200)
    R = Rotation.from_rotvec(sol.x[:3]).as_matrix()
    t = sol.x[3:]
    ok = bool(np.isfinite(sol.x).all() and (world @ R.T + t)[:, 2].min() > MIN_DEPTH_M)
    return Placement(R, t, ok)


def on_rays(joints: np.ndarray, keypoints_px: np.ndarray, K: np.ndarray) -> np.ndarray:
    """joints [17, 3] (optical frame) -> each moved to the nearest point of the viewing ray through its
    2D joint [17, 2] px; a joint without a finite 2D joint, or behind the camera, stays where it is."""
    kp = np.asarray(keypoints_px, np.float64)
    rays = np.concatenate([kp, np.ones((*kp.shape[:-1], 1))], -1) @ np.linalg.inv(K).T
    moves, _ = ray_moves(joints, rays, np.ones(len(joints), bool))
    return (joints + moves).astype(joints.dtype)


def reprojection_px(joints: np.ndarray, keypoints_px: np.ndarray, confidence: np.ndarray, K: np.ndarray,
                    min_conf: float = 0.5) -> float:
    """Mean pixel distance between the projected 3D joints and BlazePose's 2D joints, over joints seen
    with confidence >= min_conf (all joints when none is)."""
    err = np.linalg.norm(project(joints, K) - keypoints_px, axis=-1)
    seen = confidence >= min_conf
    return float(np.nanmean(err[seen] if seen.any() else err))


def body_height(joints: np.ndarray) -> float:
    """Standing height (m) from one frame's 17 joints: the mean leg, pelvis-thorax, thorax-head, plus
    the head top and the foot (HEIGHT_UNSPANNED_M). Posture-independent (segment lengths)."""
    seg = lambda a, b: float(np.linalg.norm(joints[a] - joints[b]))  # noqa: E731
    leg = 0.5 * (seg(1, 2) + seg(2, 3) + seg(4, 5) + seg(5, 6))
    return leg + seg(0, 8) + seg(8, 10) + HEIGHT_UNSPANNED_M


def plausibility_issues(height_m: float, distance_m: float) -> list[str]:
    """What is implausible about a placed person (empty: nothing)."""
    out = []
    if not HEIGHT_RANGE_M[0] <= height_m <= HEIGHT_RANGE_M[1]:
        out.append(f"height {height_m:.2f} m outside {HEIGHT_RANGE_M[0]}-{HEIGHT_RANGE_M[1]} m")
    if not DISTANCE_RANGE_M[0] <= distance_m <= DISTANCE_RANGE_M[1]:
        out.append(f"distance {distance_m:.2f} m outside {DISTANCE_RANGE_M[0]}-{DISTANCE_RANGE_M[1]} m")
    return out


def keypoints_of(image_landmarks: np.ndarray) -> np.ndarray:
    """BlazePose's 2D joints [17, 2] px, made from the image landmarks exactly as the 3D joints are."""
    return to_joints(image_landmarks)
