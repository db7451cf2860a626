# SPDX-License-Identifier: MIT
"""The 17-joint Human3.6M skeleton of the public contract (README, Skeleton)."""
from __future__ import annotations

import numpy as np

NUM_JOINTS = 17

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
    "neck", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
)

# parent -> child, in the contract's order
BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8),
    (8, 9), (9, 10), (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
)
BONE_PARENTS = np.array([b[0] for b in BONES])
BONE_CHILDREN = np.array([b[1] for b in BONES])

# index of each joint's mirror partner (left <-> right), used for flips and swap errors
MIRROR = np.array([0, 4, 5, 6, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 11, 12, 13])

LEGS = np.array([1, 2, 3, 4, 5, 6])
LOWER_LEGS = np.array([2, 3, 5, 6])
LEFT_ARM = np.array([11, 12, 13])
RIGHT_ARM = np.array([14, 15, 16])
ARMS = np.concatenate([LEFT_ARM, RIGHT_ARM])
TORSO = np.array([0, 7, 8, 9, 10])
# the joints an estimator and the motion-capture skeleton the prior learnt define alike: not the neck/nose
# (9) and head (10), which face-landmark estimators (BlazePose: nose, ears) put elsewhere than mocap does
BODY_JOINTS = np.array([j for j in range(NUM_JOINTS) if j not in (9, 10)])


def bone_lengths(poses: np.ndarray) -> np.ndarray:
    """[..., 17, 3] -> [..., 16] bone lengths."""
    return np.linalg.norm(poses[..., BONE_CHILDREN, :] - poses[..., BONE_PARENTS, :], axis=-1)


def rescale_bones(poses: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """poses [T, 17, 3], factors [16] -> each bone scaled, the tree rebuilt from the pelvis out."""
    out = poses.copy()
    for (p, c), f in zip(BONES, factors):
        out[:, c] = out[:, p] + f * (poses[:, c] - poses[:, p])
    return out
