# SPDX-License-Identifier: MIT
"""A recorded landmarks file placed exactly as the `pose_estimator` node places a live camera's
landmarks: per frame and person, BlazePose's metric skeleton put where the image says it is
(placement.py), then, with a floor, scaled about the camera centre to stand on it (grounding.py).

The result is what the node would publish on `/human_pose`: absolute 17-joint skeletons in the
camera's optical frame, the refiner's input. `stride-ros refine L.npz` and `evaluate --chain` start
here.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.floor import Floor
from ..core.skeleton import NUM_JOINTS
from ..data.landmarkfile import LandmarkSequence


@dataclass
class PlacedSequence:
    """What the estimator node would publish, frame by frame (one or several people)."""
    poses: np.ndarray  # [T, 17, 3] or [T, N, 17, 3] float32, NaN where nobody / not placeable
    confidence: np.ndarray  # [T, (N,) 17]
    keypoints_px: np.ndarray  # [T, (N,) 17, 2] BlazePose's 2D joints
    scale: np.ndarray  # [T, (N,)] the floor's scale applied (1 without a floor; NaN where not placed)
    fps: float
    track_ids: np.ndarray | None = None  # [T, N] as recorded (several people)


def place_frame(world: np.ndarray, image: np.ndarray, visibility: np.ndarray, K: np.ndarray,
                floor: Floor | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """One person's landmarks -> (joints [17, 3], confidence [17], keypoints [17, 2], scale) or None:
    `estimator.place_landmarks`, the node's own placement."""
    if not (np.isfinite(world).all() and np.isfinite(image).all()):
        return None
    from .blazepose import Landmarks
    from .camera import from_matrix
    from .estimator import place_landmarks
    est = place_landmarks(Landmarks(world.astype(np.float64), image.astype(np.float64), visibility),
                          from_matrix(K, "landmarks file"), floor)
    if not est.found:
        return None
    return est.poses, est.confidence, est.keypoints_px, est.ground_scale


def place_sequence(seq: LandmarkSequence, floor: Floor | None = None, progress=None) -> PlacedSequence:
    """Every frame (and person) of a landmarks file placed; `floor` None: no floor (distance rests on
    BlazePose's body size). `progress`: called once per frame (a progress bar's update)."""
    lead = seq.world.shape[:-2]
    poses = np.full((*lead, NUM_JOINTS, 3), np.nan, np.float32)
    conf = np.zeros((*lead, NUM_JOINTS), np.float32)
    kp = np.full((*lead, NUM_JOINTS, 2), np.nan, np.float32)
    scale = np.full(lead, np.nan, np.float32)
    for idx in np.ndindex(*lead):
        got = place_frame(seq.world[idx], seq.image[idx], seq.visibility[idx], seq.K, floor)
        if got is not None:
            poses[idx], conf[idx], kp[idx], scale[idx] = got
        if progress is not None and (len(idx) == 1 or idx[1] == lead[1] - 1):
            progress()
    return PlacedSequence(poses, conf, kp, scale, seq.fps, seq.track_ids)
