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
"""
from __future__ import annotations

import numpy as np

from .skeleton import NUM_JOINTS


def frame_reference(poses: np.ndarray, present: np.ndarray) -> np.ndarray:
    """[T, 17, 3], [T, 17] bool -> [T, 3] pelvis (or hip midpoint), NaN where neither is present."""
    ref = np.full((poses.shape[0], 3), np.nan, dtype=np.float64)
    hips = present[:, 1] & present[:, 4]
    ref[hips] = 0.5 * (poses[hips, 1] + poses[hips, 4])
    ref[present[:, 0]] = poses[present[:, 0], 0]
    return ref


def encode(poses: np.ndarray, confidence: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """poses [..., T, 17, 3] (NaN missing), confidence [..., T, 17] -> (x [..., T, 17, 4], ref [..., T, 3])."""
    lead = poses.shape[:-2]
    P = poses.reshape(-1, NUM_JOINTS, 3)
    present = ~np.isnan(P).any(-1)
    conf = (present.astype(np.float32) if confidence is None
            else np.nan_to_num(confidence.reshape(-1, NUM_JOINTS), nan=0.0).clip(0, 1))
    present &= conf > 0
    ref = frame_reference(P, present)
    present &= ~np.isnan(ref).any(-1, keepdims=True)
    rel = np.where(present[..., None], P - np.nan_to_num(ref)[:, None], 0.0)
    x = np.concatenate([rel, np.where(present, conf, 0.0)[..., None]], axis=-1).astype(np.float32)
    return x.reshape(*lead, NUM_JOINTS, 4), ref.reshape(*lead, 3)


def decode(rel: np.ndarray, root: np.ndarray) -> np.ndarray:
    """Model output [..., 17, 3] (pelvis-relative) + root [..., 3] -> absolute positions."""
    rel = rel - rel[..., :1, :]
    return (rel + root[..., None, :]).astype(np.float32)
