# SPDX-License-Identifier: MIT
"""What the motion prior sees, and how its output becomes absolute positions again.

Choices (and why):
- Per-frame pelvis-relative joints. The pose's shape is what the prior knows about; where the
  person stands is tracked separately (rootpath.py). A per-frame reference also keeps each frame's
  input independent of the window it falls in, which the cached causal inference needs.
- The frame's reference is the observed pelvis, else the midpoint of both observed hips; with
  neither, the frame has no trustworthy reference and is fed as fully missing.
- A missing joint is position 0 with confidence 0 (MotionBERT's convention for masked input), so
  the model never sees NaN and learns "absent" from the confidence channel.
- Confidence is the 4th input channel, unchanged in [0, 1]: the model learns how far to trust a
  joint (the simulator's garbage answers arrive at low confidence). Inputs without confidence get
  1 for every present joint.
- Metres, no normalisation by body size: outputs must be metric, and training augments scale.
- Orientation: a prior trained with `canonical` sees each track in its own canonical frame
  (canonical.py: up from the body, forward along the viewing ray), so its output does not depend
  on how the input frame is oriented; the output is rotated back into the input frame.
"""
from __future__ import annotations

import numpy as np

from .canonical import sequence_rotations
from .skeleton import NUM_JOINTS


def frame_reference(poses: np.ndarray, present: np.ndarray) -> np.ndarray:
    """[T, 17, 3], [T, 17] bool -> [T, 3] pelvis (or hip midpoint), NaN where neither is present."""
    ref = np.full((poses.shape[0], 3), np.nan, dtype=np.float64)
    hips = present[:, 1] & present[:, 4]
    ref[hips] = 0.5 * (poses[hips, 1] + poses[hips, 4])
    ref[present[:, 0]] = poses[present[:, 0], 0]
    return ref


def usable(poses: np.ndarray, confidence: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(present [..., 17] bool, confidence [..., 17] in [0, 1]): a joint counts when it is finite and
    its confidence is above 0 (inputs without confidence trust every finite joint)."""
    present = ~np.isnan(poses).any(-1)
    conf = (present.astype(np.float32) if confidence is None
            else np.nan_to_num(confidence, nan=0.0).clip(0, 1).astype(np.float32))
    return present & (conf > 0), conf


def frame_weight(present: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """[..., 17] -> [...]: how much a frame may move the canonical frame (mean confidence of its joints)."""
    n = present.sum(-1)
    return np.where(n > 0, (conf * present).sum(-1) / np.maximum(n, 1), 0.0)


def encode(poses: np.ndarray, confidence: np.ndarray | None = None,
           rot: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """poses [..., T, 17, 3] (NaN missing), confidence [..., T, 17], canonical rotations [..., T, 3, 3]
    (None: the input frame) -> (x [..., T, 17, 4], ref [..., T, 3])."""
    lead = poses.shape[:-2]
    P = poses.reshape(-1, NUM_JOINTS, 3)
    present, conf = usable(P, None if confidence is None else confidence.reshape(-1, NUM_JOINTS))
    ref = frame_reference(P, present)
    present &= ~np.isnan(ref).any(-1, keepdims=True)
    rel = np.where(present[..., None], P - np.nan_to_num(ref)[:, None], 0.0)
    if rot is not None:
        rel = np.einsum("tij,tkj->tki", rot.reshape(-1, 3, 3), rel)
    x = np.concatenate([rel, np.where(present, conf, 0.0)[..., None]], axis=-1).astype(np.float32)
    return x.reshape(*lead, NUM_JOINTS, 4), ref.reshape(*lead, 3)


def track_rotations(poses: np.ndarray, confidence: np.ndarray | None, fps: float = 30.0,
                    up: np.ndarray | None = None) -> np.ndarray:
    """One track's causal canonical rotations [T, 3, 3] (canonical.py), from what `encode` would use;
    `up`: a known up (the floor's normal) instead of the body's."""
    present, conf = usable(poses, confidence)
    return sequence_rotations(poses, present, frame_weight(present, conf), fps, up)


def encode_track(poses: np.ndarray, confidence: np.ndarray | None, canonical: bool,
                 fps: float = 30.0, up: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One track [T, 17, 3] as a model trained with or without `canonical` sees it: (x, ref, rot or None).
    Exactly what the streaming refiner feeds, frame by frame (`up`: its floor's normal, when it has one)."""
    rot = track_rotations(poses, confidence, fps, up) if canonical else None
    x, ref = encode(poses, confidence, rot)
    return x, ref, rot


def rezero(rel):
    """Pelvis-relative model output [..., 17, 3] (numpy or torch) with the pelvis exactly at the origin:
    the prior's pelvis row is only close to zero. The one place this is done."""
    return rel - rel[..., :1, :]


def decode(rel: np.ndarray, root: np.ndarray, rot: np.ndarray | None = None) -> np.ndarray:
    """Model output [..., 17, 3] (pelvis-relative, canonical when rot [..., 3, 3] is given) + root
    [..., 3] -> absolute positions in the input frame."""
    rel = rezero(rel)
    if rot is not None:
        rel = to_input_frame(rel, rot)
    return (rel + root[..., None, :]).astype(np.float32)


def to_input_frame(rel: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Canonical-frame vectors [..., 17, 3] back into the input frame (R^T v per joint)."""
    return np.einsum("...ji,...kj->...ki", rot, rel)


ANCHORS = ("pelvis", "centroid")  # where a refined body sits on its observation (stream and offline)


def seen_centroid_shift(x: np.ndarray, rel: np.ndarray, conf_min: float) -> np.ndarray:
    """x [..., 17, 4] the model's input rows, rel [..., 17, 3] the refined pose (both pelvis-relative, in
    the model's frame) -> [..., 3]: observed minus refined, averaged over the joints seen with at least
    `conf_min` confidence, weighted by it; NaN where none is. The `centroid` anchor moves the refined
    body by this: the estimator's hip midpoint is not a joint centre, and the prior corrects the pose
    but not the root, so the offset cancels only where the body sits on its seen joints."""
    w = np.where(x[..., 3] >= conf_min, x[..., 3], 0.0)
    total = w.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w[..., None] * (x[..., :3] - rel)).sum(-2) / np.where(total > 0, total, np.nan)[..., None]
