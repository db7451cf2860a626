# SPDX-License-Identifier: MIT
"""Latency compensation, measured: forecasts `lead` ahead of each frame, scored against the truth at
the time they describe, beside the simple extrapolations a robotics engineer would try first.

Every row maps an estimator stream to poses indexed by the frame they *describe*: row j is what was
predicted for frame j from frames up to j - h (h = the lead in frames). The first h frames have no
forecast yet and take the earliest one, as a consumer would hold it.

- `leadN` (N in ms): the streaming refiner with a lead (its forecast heads + the pelvis filter's
  prediction), exactly what the node publishes with `lead_ms: N`.
- `leadN_hold`: the refiner's lag-0 output held (what a consumer of the plain output has).
- `leadN_cv_one_euro`: the causal One Euro output extrapolated at constant velocity.
- `leadN_cv_lag0`: the refiner's own lag-0 output extrapolated at constant velocity.
Velocities are backward differences over `CV_SPAN` frames (one frame is too noisy to extrapolate
15 frames with; measured on the training subjects).
"""
from __future__ import annotations

import numpy as np

CV_SPAN = 3
LEADS_MS = (100, 200, 300, 500)
VARIANTS = ("", "_hold", "_cv_one_euro", "_cv_lag0")


def frames_ahead(lead_ms: float, fps: float) -> int:
    return max(1, int(round(lead_ms / 1000 * fps)))


def describe_time(pred: np.ndarray, h: int) -> np.ndarray:
    """pred[t] forecasts frame t + h -> out[j] = pred[j - h] (the first h rows hold pred[0])."""
    out = np.empty_like(pred)
    out[h:] = pred[: len(pred) - h]
    out[:h] = pred[0]
    return out


def extrapolate(poses: np.ndarray, h: int, span: int = CV_SPAN) -> np.ndarray:
    """Constant-velocity forecast h frames ahead of every frame (velocity over `span` frames)."""
    prev = np.concatenate([np.repeat(poses[:1], span, 0), poses[:-span]])
    return poses + (poses - prev) * (h / span)


_LAG0: dict = {}  # the lag-0 stream of the case being scored, shared by the rows that need it


def _lag0(model, seq) -> np.ndarray:
    import hashlib

    from ..stream.refiner import StreamConfig
    from ..stream.sequence import stream_sequence
    # keyed by content: a freed case's arrays may leave their address to the next case's
    key = (id(model), hashlib.sha1(seq.poses.tobytes()).hexdigest(), seq.fps)
    if key not in _LAG0:
        _LAG0.clear()
        _LAG0[key] = stream_sequence(model, seq, StreamConfig(fps=seq.fps))[0]
    return _LAG0[key]


def lead_row(model, variant: str, lead_ms: float, poses: np.ndarray, confidence: np.ndarray, fps: float) -> np.ndarray:
    from ..data.posefile import PoseSequence
    from ..stream.refiner import StreamConfig
    from ..stream.sequence import stream_sequence
    from .baselines import one_euro

    h = frames_ahead(lead_ms, fps)
    seq = PoseSequence(poses, fps, confidence)
    if variant == "":
        pred, _, _ = stream_sequence(model, seq, StreamConfig(fps=fps, lead_s=h / fps))
        return describe_time(pred, h)
    if variant == "_cv_one_euro":
        return describe_time(extrapolate(one_euro(poses, confidence, fps).astype(np.float64), h), h).astype(np.float32)
    lag0 = _lag0(model, seq)
    if variant == "_hold":
        return describe_time(lag0, h)
    return describe_time(extrapolate(lag0.astype(np.float64), h), h).astype(np.float32)
