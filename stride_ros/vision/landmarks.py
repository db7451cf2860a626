# SPDX-License-Identifier: MIT
"""BlazePose's 33 landmarks -> the contract's 17 joints (Human3.6M order, core/skeleton.py).

Made exactly as the project's real development data was (shared/data/real/README.md, "Joints"), so
the refiner sees on a live camera what it was measured on:

- pelvis (0) = mid-hip: the mean of BlazePose's left and right hip (23, 24);
- hips, knees, ankles, shoulders, elbows, wrists = the landmark of that name (BlazePose's "left"
  is the person's left, as in Human3.6M);
- thorax (8) = mid-shoulder: the mean of the shoulders (11, 12);
- spine (7) = midway pelvis-thorax: the mean of both hips and both shoulders;
- neck (9) = the nose (0): BlazePose has no neck point (the contract: "nose in some exports");
- head (10) = mid-ear: the mean of the ears (7, 8).

The same weights map 3D world landmarks and 2D image landmarks alike. A joint's confidence is the
smallest visibility among the landmarks it is made of (one hidden hip makes the pelvis uncertain).
"""
from __future__ import annotations

import numpy as np

from ..core.skeleton import NUM_JOINTS

NUM_LANDMARKS = 33

# BlazePose landmark indices used here (mediapipe.solutions.pose.PoseLandmark)
NOSE, L_EAR, R_EAR = 0, 7, 8
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 23, 24, 25, 26, 27, 28

# joint -> the landmarks averaged into it, in the contract's joint order
SOURCES: tuple[tuple[int, ...], ...] = (
    (L_HIP, R_HIP),                            # 0 pelvis: mid-hip
    (R_HIP,), (R_KNEE,), (R_ANKLE,),           # 1-3 right leg
    (L_HIP,), (L_KNEE,), (L_ANKLE,),           # 4-6 left leg
    (L_HIP, R_HIP, L_SHOULDER, R_SHOULDER),    # 7 spine: midway pelvis-thorax
    (L_SHOULDER, R_SHOULDER),                  # 8 thorax: mid-shoulder
    (NOSE,),                                   # 9 neck: the nose
    (L_EAR, R_EAR),                            # 10 head: mid-ear
    (L_SHOULDER,), (L_ELBOW,), (L_WRIST,),     # 11-13 left arm
    (R_SHOULDER,), (R_ELBOW,), (R_WRIST,),     # 14-16 right arm
)
assert len(SOURCES) == NUM_JOINTS


def _weights() -> np.ndarray:
    w = np.zeros((NUM_JOINTS, NUM_LANDMARKS))
    for j, src in enumerate(SOURCES):
        w[j, list(src)] = 1.0 / len(src)
    return w


WEIGHTS = _weights()  # [17, 33]: joints = WEIGHTS @ landmarks


def to_joints(landmarks: np.ndarray) -> np.ndarray:
    """[..., 33, D] landmarks (D = 2 pixels or 3 metres) -> [..., 17, D] joints."""
    return np.einsum("jl,...ld->...jd", WEIGHTS, landmarks)


def joint_confidence(visibility: np.ndarray) -> np.ndarray:
    """[..., 33] landmark visibility -> [..., 17]: the minimum over each joint's landmarks, in [0, 1]."""
    vis = np.clip(np.nan_to_num(visibility, nan=0.0), 0.0, 1.0)
    return np.stack([vis[..., list(src)].min(-1) for src in SOURCES], -1).astype(np.float32)
