# SPDX-License-Identifier: MIT
"""What a robotics engineer tries first: hold-last, linear interpolation, One Euro, Savitzky-Golay.

Each baseline maps an estimator stream (poses [T, 17, 3] with NaN, confidence [T, 17]) to complete
poses. Joints below the confidence threshold count as missing. The One Euro and Savitzky-Golay
parameters were tuned on the training subjects only (`stride-ros tune-baselines`, grid and
objective in `tune`), never on validation; the chosen values are the defaults below.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.signal import savgol_filter

from ..core.timeseries import interpolate_missing


@dataclass(frozen=True)
class OneEuroParams:
    min_cutoff: float = 1.0  # Hz
    beta: float = 1.0
    d_cutoff: float = 1.0  # Hz
    threshold: float = 0.3  # confidence below which a joint is treated as missing




# Tuned on the training subjects with `stride-ros tune-baselines` (grids in tune.py; objective:
# MPJPE + Abs + Accel in mm, simulator seed 1). Scores of the winners on the training subjects:
# hold-last 504.7, linear 343.5, One Euro 476.9, Savitzky-Golay 314.6. One Euro lands on a light
# jitter filter (4 Hz cutoff, small beta): heavier smoothing buys Accel but loses more in MPJPE and
# Abs through lag; most of the estimator's error is slow bias no causal filter can remove.
ONE_EURO_TUNED = OneEuroParams(min_cutoff=4.0, beta=0.1, d_cutoff=1.0, threshold=0.5)
SAVGOL_TUNED = {"window_s": 0.3, "order": 1, "threshold": 0.5}
GATE_TUNED = 0.5  # hold-last and linear interpolation


def valid_mask(poses: np.ndarray, confidence: np.ndarray | None, threshold: float) -> np.ndarray:
    """Finite joints at or above the confidence threshold. An estimator whose confidences never reach
    the threshold (another scale) would leave nothing: then every finite joint counts, as a user
    would set the threshold for that estimator."""
    finite = ~np.isnan(poses).any(-1)
    valid = finite
    if confidence is not None and threshold > 0:
        valid = finite & (confidence >= threshold)
        if finite.any() and not valid.any():
            valid = finite
    return valid


def hold_last(poses: np.ndarray, confidence: np.ndarray | None = None, fps: float = 30.0,
              threshold: float = GATE_TUNED) -> np.ndarray:
    """Causal: each joint keeps its last valid value (the first valid one before it appears)."""
    valid = valid_mask(poses, confidence, threshold)
    T = poses.shape[0]
    idx = np.where(valid, np.arange(T)[:, None], -1)
    last = np.maximum.accumulate(idx, axis=0)
    first = np.argmax(valid, axis=0)
    last = np.where(last < 0, first[None, :], last)
    out = poses[last, np.arange(poses.shape[1])[None, :]].astype(np.float64)
    out[:, ~valid.any(0)] = np.nan
    return _backfill(out).astype(np.float32)


def linear_interpolation(poses: np.ndarray, confidence: np.ndarray | None = None, fps: float = 30.0,
                         threshold: float = GATE_TUNED) -> np.ndarray:
    """Offline: gaps bridged linearly between the valid frames on both sides."""
    return interpolate_missing(poses, valid_mask(poses, confidence, threshold))


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Casiez et al. 2012, vectorised over joints and axes; holds its value through gaps.

    Streaming use: `update(frame, valid)` per frame. A missing joint keeps its last filtered
    position (no update, no velocity decay), which is what a deployed filter does.
    """

    def __init__(self, params: OneEuroParams = ONE_EURO_TUNED, fps: float = 30.0, shape=(17, 3)):
        self.p = params
        self.dt = 1.0 / fps
        self.x = np.full(shape, np.nan)
        self.dx = np.zeros(shape)

    def update(self, frame: np.ndarray, valid: np.ndarray) -> np.ndarray:
        fresh = valid & np.isnan(self.x).any(-1)
        self.x[fresh] = frame[fresh]
        self.dx[fresh] = 0.0
        upd = valid & ~fresh
        if upd.any():
            x, prev, dxp = frame[upd], self.x[upd], self.dx[upd]
            dx = (x - prev) / self.dt
            a_d = _alpha(self.p.d_cutoff, self.dt)
            dx_hat = a_d * dx + (1 - a_d) * dxp
            cutoff = self.p.min_cutoff + self.p.beta * np.abs(dx_hat)
            a = _alpha(cutoff, self.dt)
            self.x[upd] = a * x + (1 - a) * prev
            self.dx[upd] = dx_hat
        return self.x.copy()


def one_euro(poses: np.ndarray, confidence: np.ndarray | None = None, fps: float = 30.0,
             params: OneEuroParams = ONE_EURO_TUNED) -> np.ndarray:
    """Causal One Euro filter per joint coordinate; gaps held; the start back-filled."""
    valid = valid_mask(poses, confidence, params.threshold)
    f = OneEuroFilter(params, fps, poses.shape[1:])
    out = np.empty(poses.shape, np.float64)
    for t in range(poses.shape[0]):
        out[t] = f.update(poses[t].astype(np.float64), valid[t])
    return _backfill(out).astype(np.float32)


def _backfill(out: np.ndarray) -> np.ndarray:
    """Before a joint is first seen a causal filter has nothing: use its first output."""
    if not np.isnan(out).any():
        return out
    seen = ~np.isnan(out).any(-1)
    return interpolate_missing(out, seen)


def savitzky_golay(poses: np.ndarray, confidence: np.ndarray | None = None, fps: float = 30.0,
                   window_s: float = SAVGOL_TUNED["window_s"], order: int = SAVGOL_TUNED["order"],
                   threshold: float = SAVGOL_TUNED["threshold"]) -> np.ndarray:
    """Offline: gaps filled linearly, then a Savitzky-Golay smoother along time."""
    filled = interpolate_missing(poses, valid_mask(poses, confidence, threshold))
    win = max(order + 2, int(round(window_s * fps)) | 1)
    if filled.shape[0] < win:
        return filled
    return savgol_filter(filled, win, order, axis=0, mode="interp").astype(np.float32)


def raw_held(poses: np.ndarray, confidence: np.ndarray | None = None, fps: float = 30.0) -> np.ndarray:
    """The estimator's output as a consumer holds it: every published joint kept, whatever its
    confidence, each gap held at the last value (the reference "raw input" row)."""
    return hold_last(poses, None, fps, threshold=0.0)


def one_euro_interp(poses: np.ndarray, confidence: np.ndarray | None = None, fps: float = 30.0,
                    params: OneEuroParams = ONE_EURO_TUNED) -> np.ndarray:
    """Offline One Euro: gaps first bridged by linear interpolation (which needs the frames after
    them), then the filter (the real data README's reference row, with this project's parameters)."""
    filled = linear_interpolation(poses, confidence, fps, threshold=params.threshold)
    return one_euro(filled, None, fps, replace(params, threshold=0.0))


BASELINES = {
    "raw": raw_held,
    "hold_last": hold_last,
    "linear_interp": linear_interpolation,
    "one_euro": one_euro,
    "one_euro_interp": one_euro_interp,
    "savgol": savitzky_golay,
}
