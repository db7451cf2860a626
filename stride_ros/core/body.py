# SPDX-License-Identifier: MIT
"""A person's body as a small parameter set: the 16 bone lengths, estimated per track and imposed.

A real person's bones do not change length; an estimator's (and a prior's) do, frame to frame. The
body model keeps a running median of each bone's length over the frames where the person was well
seen (left and right averaged: one body is symmetric), and rebuilds each published pose from the
pelvis outward with those lengths, keeping every bone's direction. It is the cheapest form of
adapting to the person in front of the camera: 16 numbers, no gradient.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from .skeleton import BONES, MIRROR, bone_lengths

_INDEX = {b: i for i, b in enumerate(BONES)}
PARTNER = np.array([_INDEX[(int(MIRROR[p]), int(MIRROR[c]))] for p, c in BONES])  # the mirror bone


class BodyModel:
    """Causal per-track bone lengths: `observe` well-seen poses, `impose` on any pose once warm."""

    def __init__(self, memory: int = 300, warmup: int = 30):
        self.samples: deque[np.ndarray] = deque(maxlen=memory)
        self.warmup = warmup
        self._lengths: np.ndarray | None = None

    def observe(self, pose: np.ndarray) -> None:
        b = bone_lengths(pose)
        if np.isfinite(b).all():
            self.samples.append(b)
            self._lengths = None

    @property
    def ready(self) -> bool:
        return len(self.samples) >= self.warmup

    def lengths(self) -> np.ndarray:
        if self._lengths is None:
            med = np.median(np.stack(self.samples), axis=0)
            self._lengths = 0.5 * (med + med[PARTNER])
        return self._lengths

    def impose(self, pose: np.ndarray) -> np.ndarray:
        """pose [17, 3] -> the same bone directions with this body's lengths (the pelvis stays)."""
        if not self.ready:
            return pose
        out = pose.astype(np.float64).copy()
        for (p, c), length in zip(BONES, self.lengths()):
            d = pose[c] - pose[p]
            n = float(np.linalg.norm(d))
            out[c] = out[p] + (d / n * length if n > 1e-9 else d)
        return out.astype(pose.dtype)
