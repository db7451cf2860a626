# SPDX-License-Identifier: MIT
"""Offline refinement of a whole clip: the prior (and optionally STRIDE's test-time adaptation).

A clip of any length is cut into windows of the model's length that overlap by half; each
frame's output is the weighted mean of the windows holding it, with weights that fall to near
zero at a window's borders, so there are no seams. The pelvis trajectory comes from the RTS
smoother (rootpath.py); the prior supplies the pelvis-relative pose.
"""
from __future__ import annotations

import numpy as np
import torch

from ..core.representation import decode, encode_track, rezero
from ..core.rootpath import smooth_root
from ..core.skeleton import MIRROR
from ..core.timeseries import MODEL_FPS, resample, resample_nan
from ..model.dstformer import DSTformer


def window_starts(T: int, W: int, hop: int) -> list[int]:
    if T <= W:
        return [0]
    starts = list(range(0, T - W + 1, hop))
    if starts[-1] != T - W:
        starts.append(T - W)
    return starts


def blend_weights(W: int) -> np.ndarray:
    """Triangular weights, never exactly zero (a frame near the clip's ends has one window)."""
    t = np.arange(W)
    return np.minimum(t + 1, W - t).astype(np.float32)


def mirror_input(x: torch.Tensor) -> torch.Tensor:
    """Left/right mirror of encoded input [..., 17, 4] (camera x flips, joints swap)."""
    x = x[..., MIRROR, :].clone()
    x[..., 0] = -x[..., 0]
    return x


def mirror_output(y: torch.Tensor) -> torch.Tensor:
    """Undo the mirror on pelvis-relative output [..., 17, 3]."""
    y = y[..., MIRROR, :].clone()
    y[..., 0] = -y[..., 0]
    return y


def windows(x: np.ndarray, W: int, hop: int) -> tuple[torch.Tensor, list[int]]:
    starts = window_starts(len(x), W, hop)
    length = min(W, len(x))
    return torch.from_numpy(np.stack([x[s:s + length] for s in starts])), starts


def blend(outputs: np.ndarray, starts: list[int], T: int, hard: bool = False) -> np.ndarray:
    """outputs [N, W', 17, 3] at starts -> [T, 17, 3] weighted mean (hard: later windows win)."""
    Wl = outputs.shape[1]
    if hard:
        out = np.empty((T, *outputs.shape[2:]), np.float32)
        for o, s in zip(outputs, starts):
            out[s:s + Wl] = o
        return out
    w = blend_weights(Wl)[:, None, None]
    acc = np.zeros((T, *outputs.shape[2:]), np.float64)
    norm = np.zeros((T, 1, 1), np.float64)
    for o, s in zip(outputs, starts):
        acc[s:s + Wl] += w * o
        norm[s:s + Wl] += w
    return (acc / norm).astype(np.float32)


@torch.no_grad()
def predict_windows(model: DSTformer, xw: torch.Tensor, flip: bool = True, batch: int = 16) -> torch.Tensor:
    """Full-mode, lag-0 pelvis-relative predictions for a stack of windows [N, W, 17, 4]."""
    model.eval()
    outs = []
    for xb in xw.split(batch):
        y = model(xb, causal=False)[..., 0, :]
        if flip:
            y = 0.5 * (y + mirror_output(model(mirror_input(xb), causal=False)[..., 0, :]))
        outs.append(rezero(y))
    return torch.cat(outs)


def prepare(poses: np.ndarray, confidence: np.ndarray | None, fps: float, canonical: bool = False,
            up: np.ndarray | None = None):
    """Resample to the model's rate, encode (in the track's canonical frames for a model trained
    with them; `up`: the floor's normal as their up), and track the root. Returns (x [T, 17, 4],
    root [T, 3], rot [T, 3, 3] or None)."""
    if confidence is None:
        confidence = (~np.isnan(poses).any(-1)).astype(np.float32)
    if abs(fps - MODEL_FPS) > 1e-6:
        poses = resample_nan(poses, fps, MODEL_FPS)
        confidence = resample(confidence[..., None], fps, MODEL_FPS)[..., 0]
    x, ref, rot = encode_track(poses, confidence, canonical, MODEL_FPS, up)
    root_conf = np.where(x[:, 0, 3] > 0, x[:, 0, 3], np.minimum(x[:, 1, 3], x[:, 4, 3]))
    root = smooth_root(ref, root_conf, MODEL_FPS)
    return x, root, rot


def refine_window_lag(model: DSTformer, poses: np.ndarray, confidence: np.ndarray | None, fps: float,
                      lag: int) -> np.ndarray:
    """Each frame from its own full (bidirectional) window ending `lag` frames after it: the most a
    lag-`lag` refiner could get from this model, at one whole window (~71 ms on 2 CPU cores) per
    frame. An accuracy bound for the streaming refiner, not a method that fits 30 Hz."""
    T0 = len(poses)
    x, root, rot = prepare(poses, confidence, fps, model.cfg.canonical)
    T, W = len(x), model.cfg.window
    starts = [min(max(t + lag - W + 1, 0), max(T - W, 0)) for t in range(T)]
    xw = torch.from_numpy(np.stack([x[s:s + min(W, T)] for s in starts]))
    y = predict_windows(model, xw, flip=False, batch=32).numpy()
    rel = y[np.arange(T), np.arange(T) - np.array(starts)]
    return finish(decode(rel, root, rot), fps, T0)


def finish(out: np.ndarray, fps: float, T0: int) -> np.ndarray:
    if abs(fps - MODEL_FPS) > 1e-6:
        out = resample(out, MODEL_FPS, fps)
        if len(out) < T0:
            out = np.concatenate([out, np.repeat(out[-1:], T0 - len(out), 0)])
    return out[:T0].astype(np.float32)
