# SPDX-License-Identifier: MIT
"""One frame in, one placed person (or nobody) out: BlazePose -> 17 joints -> absolute placement ->
self-check. Shared by `stride-ros estimate`/`video` and the `pose_estimator` node, so a file and a
live camera give the same numbers.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..core.skeleton import NUM_JOINTS
from .blazepose import BlazePose, Landmarks
from .camera import Intrinsics
from .landmarks import joint_confidence, to_joints
from .placement import body_height, place, plausibility_issues, reprojection_px


@dataclass
class Estimate:
    """What the estimator says about one frame. `poses` None: nobody found (or not placeable)."""
    poses: np.ndarray | None  # [17, 3] float32, camera optical frame, metres
    confidence: np.ndarray  # [17] float32 (zeros when nobody)
    keypoints_px: np.ndarray  # [17, 2] BlazePose's own 2D joints (NaN when nobody)
    reproj_px: float = float("nan")  # mean |projected 3D joint - 2D joint| over seen joints
    height_m: float = float("nan")
    distance_m: float = float("nan")  # camera to pelvis
    seconds: float = 0.0  # time spent on the frame
    issues: list[str] = field(default_factory=list)  # implausible height/distance, failed placement

    @property
    def found(self) -> bool:
        return self.poses is not None


def nobody(seconds: float = 0.0, issues: list[str] | None = None) -> Estimate:
    return Estimate(None, np.zeros(NUM_JOINTS, np.float32), np.full((NUM_JOINTS, 2), np.nan, np.float32),
                    seconds=seconds, issues=issues or [])


def place_landmarks(lm: Landmarks, intr: Intrinsics) -> Estimate:
    """The geometric half: landmarks -> absolute joints and their self-check (no model involved)."""
    K = intr.K
    placement = place(lm.world, lm.image, lm.visibility, K)
    if not placement.ok:
        return nobody(issues=["placement failed (no solution in front of the camera)"])
    joints = placement.apply(to_joints(lm.world))
    conf = joint_confidence(lm.visibility)
    kp = to_joints(lm.image)
    height, distance = body_height(joints), float(np.linalg.norm(joints[0]))
    return Estimate(joints.astype(np.float32), conf, kp.astype(np.float32), reprojection_px(joints, kp, conf, K),
                    height, distance, issues=plausibility_issues(height, distance))


class PoseEstimator:
    """BlazePose plus placement. Not thread-safe: one caller at a time (the node's worker thread)."""

    def __init__(self, video: bool = True, smooth: bool = True, min_detection: float = 0.5,
                 min_tracking: float = 0.5):
        self.model = BlazePose(video=video, smooth=smooth, min_detection=min_detection, min_tracking=min_tracking)

    def __call__(self, rgb: np.ndarray, intr: Intrinsics) -> Estimate:
        t0 = time.perf_counter()
        lm = self.model(rgb)
        est = nobody() if lm is None else place_landmarks(lm, intr)
        est.seconds = time.perf_counter() - t0
        return est

    def close(self) -> None:
        self.model.close()


@dataclass
class Series:
    """Per-frame estimates of a clip as arrays: the pose file's contract keys plus the self-check."""
    poses: np.ndarray  # [T, 17, 3] float32, NaN where nobody was found
    confidence: np.ndarray  # [T, 17] float32, 0 where nobody
    keypoints_px: np.ndarray  # [T, 17, 2] float32
    reproj_px: np.ndarray  # [T] float32 (NaN where nobody)
    height_m: np.ndarray  # [T]
    distance_m: np.ndarray  # [T]
    seconds: np.ndarray  # [T] estimator time per frame
    implausible: np.ndarray  # [T] bool: found, but height or distance implausible

    @classmethod
    def of(cls, estimates: list[Estimate]) -> "Series":
        T = len(estimates)
        poses = np.full((T, NUM_JOINTS, 3), np.nan, np.float32)
        for i, e in enumerate(estimates):
            if e.found:
                poses[i] = e.poses
        f32 = lambda vals: np.array(vals, np.float32)  # noqa: E731
        return cls(poses, np.stack([e.confidence for e in estimates]).astype(np.float32),
                   np.stack([e.keypoints_px for e in estimates]).astype(np.float32),
                   f32([e.reproj_px for e in estimates]), f32([e.height_m for e in estimates]),
                   f32([e.distance_m for e in estimates]), np.array([e.seconds for e in estimates]),
                   np.array([e.found and bool(e.issues) for e in estimates]))

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.poses).any((1, 2))

    def extras(self) -> dict[str, np.ndarray]:
        """The self-check arrays a pose file keeps beside the contract's keys."""
        return {"keypoints_px": self.keypoints_px, "reproj_px": self.reproj_px, "height_m": self.height_m,
                "distance_m": self.distance_m}

    def summary(self) -> dict[str, float]:
        f = self.found
        med = lambda x: float(np.median(x[f])) if f.any() else float("nan")  # noqa: E731
        return {"frames": int(len(f)), "found": int(f.sum()),
                "reproj_px_mean": float(np.mean(self.reproj_px[f])) if f.any() else float("nan"),
                "reproj_px_max": float(np.max(self.reproj_px[f])) if f.any() else float("nan"),
                "height_m_median": med(self.height_m), "distance_m_median": med(self.distance_m),
                "implausible": int(self.implausible.sum()),
                "fps": float(1.0 / np.mean(self.seconds)) if len(f) and np.mean(self.seconds) > 0 else float("nan")}

    def summary_line(self) -> str:
        s = self.summary()
        if not s["found"]:
            return f"nobody found in any of {s['frames']} frames"
        return (f"{s['found']} of {s['frames']} frames with a person ({100 * s['found'] / s['frames']:.0f}%); "
                f"reprojection {s['reproj_px_mean']:.1f} px mean (max {s['reproj_px_max']:.1f}); "
                f"height {s['height_m_median']:.2f} m, distance {s['distance_m_median']:.2f} m (medians); "
                f"{s['implausible']} frames implausible; estimator {s['fps']:.1f} frames/s")
