# SPDX-License-Identifier: MIT
"""Time-series helpers every layer shares: the model's frame rate, resampling, gap filling.

MODEL_FPS is the one place the prior's rate is defined: it was trained on 30 fps motion, offline
refinement resamples to it, evaluation and the simulators produce it.
"""
from __future__ import annotations

import numpy as np

MODEL_FPS = 30.0


def resample(poses: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear resampling in time of [T, ...] positions."""
    if abs(fps_in - fps_out) < 1e-9:
        return poses
    T = poses.shape[0]
    duration = (T - 1) / fps_in
    n_out = int(np.floor(duration * fps_out + 1e-9)) + 1
    t = np.arange(n_out) * (fps_in / fps_out)
    i0 = np.clip(np.floor(t).astype(int), 0, T - 1)
    i1 = np.clip(i0 + 1, 0, T - 1)
    w = (t - i0).reshape(-1, *([1] * (poses.ndim - 1)))
    return ((1 - w) * poses[i0] + w * poses[i1]).astype(poses.dtype)


def resample_nan(poses: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Resample with NaN kept NaN (a sample touching a missing frame is missing)."""
    filled = np.nan_to_num(poses)
    out = resample(filled, fps_in, fps_out)
    miss = resample(np.isnan(poses).astype(np.float32), fps_in, fps_out) > 0
    out[miss] = np.nan
    return out


def interpolate_missing(poses: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """STRIDE's pseudo-label rule, per joint: linear between valid frames, ends held.

    Nothing is known about a joint never valid in the clip: it is put at the pelvis (or the first
    joint that was seen), so outputs never hold NaN.
    """
    T = poses.shape[0]
    out = np.array(poses, dtype=np.float64)
    t = np.arange(T)
    for j in range(poses.shape[1]):
        v = valid[:, j]
        if v.all():
            continue
        if not v.any():
            out[:, j] = np.nan
            continue
        for c in range(3):
            out[:, j, c] = np.interp(t, t[v], poses[v, j, c])
    if np.isnan(out).any():  # joints never seen: put them at the pelvis (or any seen joint)
        seen = ~np.isnan(out[0]).any(-1)
        if not seen.any():
            raise ValueError("no valid joint in the whole sequence: nothing to refine")
        anchor = out[:, 0] if seen[0] else out[:, np.flatnonzero(seen)[0]]
        out[:, ~seen] = anchor[:, None]
    return out.astype(np.float32)
