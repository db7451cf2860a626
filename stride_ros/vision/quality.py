# SPDX-License-Identifier: MIT
"""How steady a pose sequence is, measured without ground truth: what a camera user can check.

- `accel_mm`: the field's Accel measured against a body at rest, i.e. the mean magnitude of each
  root-relative joint's second difference (mm/frame^2), per frame. Real motion has some; jitter
  has much more. Frames whose neighbours are missing are NaN.
- `bone_variation_mm`: the standard deviation over time of each of the 16 bone lengths, averaged
  over bones (mm). A real body's bones do not change length, so all of it is error.
"""
from __future__ import annotations

import numpy as np

from ..core.skeleton import bone_lengths

MM = 1000.0


def accel_mm(poses: np.ndarray) -> np.ndarray:
    """[T, 17, 3] (NaN missing) -> [T] mean |root-relative acceleration| per frame (ends NaN)."""
    rel = poses - poses[:, :1]
    out = np.full(len(poses), np.nan)
    if len(poses) >= 3:
        a = rel[2:] - 2 * rel[1:-1] + rel[:-2]
        out[1:-1] = np.linalg.norm(a, axis=-1).mean(-1) * MM
    return out


def bone_lengths_mm(poses: np.ndarray) -> np.ndarray:
    """[T, 17, 3] -> [T, 16] bone lengths in mm (NaN where a joint is missing)."""
    return bone_lengths(poses) * MM


def bone_variation_mm(poses: np.ndarray, frames: np.ndarray | None = None) -> float:
    """Mean over bones of the standard deviation of its length over time (frames: a mask to use)."""
    L = bone_lengths_mm(poses if frames is None else poses[frames])
    return float(np.nanmean(np.nanstd(L, axis=0)))


def compare(raw: np.ndarray, refined: np.ndarray) -> dict[str, float]:
    """Raw vs refined on the frames where the raw sequence exists (and its neighbours, for Accel)."""
    seen = ~np.isnan(raw).any((1, 2))
    acc_raw, acc_ref = accel_mm(raw), accel_mm(refined)
    both = ~np.isnan(acc_raw)
    return {
        "accel_raw": float(np.mean(acc_raw[both])) if both.any() else float("nan"),
        "accel_refined": float(np.mean(acc_ref[both])) if both.any() else float("nan"),
        "bones_raw": bone_variation_mm(raw, seen),
        "bones_refined": bone_variation_mm(refined, seen),
    }
