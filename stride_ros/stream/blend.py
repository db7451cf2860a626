# SPDX-License-Identifier: MIT
"""How far a stream follows the estimator over the prior, learned per person in the background.

A causal prior publishes its guess of the newest frame without the frames that would confirm it, so
at small lags it smooths away some of what the estimator saw correctly; the estimator alone is
noisier. Their errors are partly independent, so a mix of the two beats either. How much of the
estimator to take depends on the estimator and the person (a prior trained on the simulator's noise
should keep almost all of its own output there; on real BlazePose it should not), so it is learned,
per person, from the only label a running node has: the prior's own bidirectional refinement of the
person's buffered frames (what `refine --mode offline` would publish), which sees the frames after
each one and is better than both.

The published pose (pelvis-relative, the model's frame) is
    rel = prior + share * C,    C = the estimator's correction (x - prior), smoothed over `tau_s`,
updated on the joints the estimator reports and decaying toward 0 on missing ones (a hidden joint is the
prior's). The smoothing keeps the estimator's frame-to-frame jitter out. `share` starts at 0 (the
prior alone) and is fitted in the adaptation worker (`fit_share`, a one-parameter least squares
against the teacher); a fit that does not bring the stream closer to its teacher is rejected.

Not on the viewing rays with a floor: the rays already take what the share took from BlazePose (where
each joint is seen sideways) and the contacts the distance; there the share lost on real video (Abs seen
127.0 -> 128.2 mm on the camera chain; without a floor it still wins, 261.8 -> 260.6: docs/results.md),
so the refiner neither fits nor applies it for a person on a floor with camera rays.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..model.dstformer import DSTformer


@dataclass(frozen=True)
class BlendParams:
    tau_s: float = 0.1  # the correction's causal smoothing (0: each frame's own; jitter comes through)
    # a joint's correction follows the estimator wherever its confidence is above this (measured on the
    # design cases: following only joints seen at >= 0.5 lost to not blending at all)
    conf: float = 0.0
    skip_start: int = 30  # fit frames: not the first second of the buffer (the replayed stream starts cold) ...
    skip_end: int = 15  # ... nor its newest half second (the teacher has no future there: it is a stream too)
    min_gain: float = 0.02  # a fit must bring the stream this much (relative) closer to its teacher
    max_share: float = 1.0


class EstimatorBlend:
    """One track's correction state and share (module docstring)."""

    def __init__(self, fps: float, params: BlendParams = BlendParams()):
        self.p = params
        self.k = 1.0 if params.tau_s <= 0 else 1.0 - float(np.exp(-1.0 / (fps * params.tau_s)))
        self.share = 0.0
        self.fits = 0
        self.c = np.zeros((17, 3), np.float64)

    def update(self, rel: np.ndarray, x: np.ndarray | None) -> np.ndarray:
        """Advance the correction with one published frame: rel [17, 3] the prior's pose, x [17, 4] the
        model's input row for the same frame (None: not seen). Returns the correction [17, 3]."""
        seen = np.zeros(len(rel), bool) if x is None else x[:, 3] > self.p.conf
        target = np.where(seen[:, None], (x[:, :3] - rel) if x is not None else 0.0, 0.0)
        self.c += self.k * (target - self.c)  # seen: toward the correction; hidden: toward 0
        return self.c

    def apply(self, rel: np.ndarray, x: np.ndarray | None) -> np.ndarray:
        c = self.update(rel, x)
        return rel if self.share <= 0 else (rel + self.share * c).astype(rel.dtype)

    def status(self) -> dict:
        return {"estimator_share": round(self.share, 3), "share_fits": self.fits}


def corrections(prior: np.ndarray, xs: np.ndarray, fps: float, params: BlendParams) -> np.ndarray:
    """The correction C the stream would carry at each frame, prior [T, 17, 3], xs [T, 17, 4]."""
    b = EstimatorBlend(fps, params)
    return np.stack([b.update(prior[t], xs[t]).copy() for t in range(len(prior))])


@dataclass
class ShareFit:
    ok: bool
    share: float
    before_mm: float  # the stream's distance to its teacher over the fitted frames, as it is ...
    after_mm: float  # ... and with the fitted share
    reason: str = ""

    def message(self) -> str:
        if not self.ok:
            return self.reason
        return (f"estimator share {self.share:.2f}: {self.before_mm:.1f} -> {self.after_mm:.1f} mm from the "
                "person's own offline refinement")


def fit_share(model: DSTformer, xs: np.ndarray, lag: int, fps: float, params: BlendParams = BlendParams()) -> ShareFit:
    """The share of the estimator's correction that brings the lag-`lag` stream over frames xs [n, 17, 4]
    closest to the prior's bidirectional refinement of the same frames (least squares, clipped)."""
    from ..offline.adapt import teacher_labels
    n = len(xs) - lag
    lo, hi = params.skip_start, n - params.skip_end
    if hi - lo < 30:
        return ShareFit(False, 0.0, float("nan"), float("nan"), f"too few frames to fit a share ({len(xs)})")
    with torch.no_grad():
        prior = model.stream_output(torch.from_numpy(xs[None]), lag)[0].numpy().astype(np.float64)
        teacher = teacher_labels(model, xs)[:n].astype(np.float64)
    c = corrections(prior, xs[:n], fps, params)
    seen = (xs[:n, 0, 3] > 0)[lo:hi]  # frames where the person was seen
    if seen.sum() < 30:
        return ShareFit(False, 0.0, float("nan"), float("nan"), "too few seen frames to fit a share")
    C, R = c[lo:hi][seen], (teacher - prior)[lo:hi][seen]
    den = float((C * C).sum())
    share = float(np.clip((C * R).sum() / den, 0.0, params.max_share)) if den > 0 else 0.0
    before = float(np.linalg.norm(R, axis=-1).mean() * 1000)
    after = float(np.linalg.norm(R - share * C, axis=-1).mean() * 1000)
    if not after < (1 - params.min_gain) * before:
        return ShareFit(False, 0.0, before, after, f"estimator share {share:.2f} rejected: {before:.1f} -> "
                        f"{after:.1f} mm from the offline refinement (needs {100 * params.min_gain:.0f} % closer)")
    return ShareFit(True, share, before, after)
