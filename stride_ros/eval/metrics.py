# SPDX-License-Identifier: MIT
"""The field's pose-sequence metrics. Inputs in metres, [T, 17, 3]; results in millimetres.

Per-frame errors are returned as arrays so callers can average over any frame subset (all frames,
occluded frames) and plot them over time.
"""
from __future__ import annotations

import numpy as np

MM = 1000.0


def root_relative(p: np.ndarray) -> np.ndarray:
    return p - p[..., :1, :]


def mpjpe_per_frame(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Root-relative (pelvis-aligned) mean per-joint position error, per frame."""
    return np.linalg.norm(root_relative(pred) - root_relative(gt), axis=-1).mean(-1) * MM


def abs_error_per_frame(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Absolute position error (no alignment): where the person is, as a robot needs it."""
    return np.linalg.norm(pred - gt, axis=-1).mean(-1) * MM


def n_mpjpe_per_frame(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Root-relative error after the least-squares scale of the prediction."""
    p, g = root_relative(pred), root_relative(gt)
    s = (p * g).sum((-1, -2)) / np.maximum((p * p).sum((-1, -2)), 1e-12)
    return np.linalg.norm(s[..., None, None] * p - g, axis=-1).mean(-1) * MM


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity transform (rotation, translation, scale) of each frame of pred onto gt."""
    mp, mg = pred.mean(-2, keepdims=True), gt.mean(-2, keepdims=True)
    p, g = pred - mp, gt - mg
    H = np.swapaxes(p, -1, -2) @ g  # [T, 3, 3]
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.swapaxes(Vt, -1, -2) @ np.swapaxes(U, -1, -2)))
    D = np.zeros_like(H)
    D[..., 0, 0] = 1
    D[..., 1, 1] = 1
    D[..., 2, 2] = d
    R = np.swapaxes(Vt, -1, -2) @ D @ np.swapaxes(U, -1, -2)  # rotation taking p to g
    scale = (S * np.diagonal(D, axis1=-2, axis2=-1)).sum(-1) / np.maximum((p * p).sum((-1, -2)), 1e-12)
    return scale[..., None, None] * p @ np.swapaxes(R, -1, -2) + mg


def pa_mpjpe_per_frame(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.linalg.norm(procrustes_align(pred, gt) - gt, axis=-1).mean(-1) * MM


def accel_error_per_frame(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """|second finite difference of pred - of gt|, root-relative, mm/frame^2; frames 1..T-2.

    Returned with the length of the sequence: the two end frames (no acceleration defined) are NaN.
    """
    p, g = root_relative(pred), root_relative(gt)
    out = np.full(p.shape[0], np.nan)
    if p.shape[0] >= 3:
        ap = p[2:] - 2 * p[1:-1] + p[:-2]
        ag = g[2:] - 2 * g[1:-1] + g[:-2]
        out[1:-1] = np.linalg.norm(ap - ag, axis=-1).mean(-1) * MM
    return out


PER_FRAME = {
    "mpjpe": mpjpe_per_frame,
    "pa_mpjpe": pa_mpjpe_per_frame,
    "n_mpjpe": n_mpjpe_per_frame,
    "accel": accel_error_per_frame,
    "abs": abs_error_per_frame,
}


def per_frame_errors(pred: np.ndarray, gt: np.ndarray, joints: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every metric per frame; `joints` restricts scoring to those joints (the pelvis first: it is
    the root every root-relative metric aligns on)."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    if np.isnan(pred).any():
        raise ValueError("prediction contains NaN: every method must output complete poses")
    if joints is not None:
        if joints[0] != 0:
            raise ValueError("scored joints must start with the pelvis (joint 0)")
        pred, gt = pred[..., joints, :], gt[..., joints, :]
    return {name: fn(pred, gt) for name, fn in PER_FRAME.items()}


def summarize(errors: list[dict[str, np.ndarray]], masks: list[np.ndarray]) -> dict[str, float]:
    """Frame-weighted means over clips, restricted to frames where mask is true."""
    out = {}
    for name in PER_FRAME:
        vals = np.concatenate([e[name][m] for e, m in zip(errors, masks)]) if errors else np.array([])
        vals = vals[~np.isnan(vals)]
        out[name] = float(vals.mean()) if vals.size else float("nan")
    return out
