# SPDX-License-Identifier: MIT
"""A per-track canonical frame, so the refined pose does not depend on how the input frame is oriented.

Users send camera optical frames (y down, z forward) as often as `base_link` (z up, x forward) or
a Y-up world. The prior would otherwise learn "y is down" and bend everyone else's poses. Instead,
each track gets a rotation R_t built from the data itself, and the model sees R_t (p - pelvis):

- up: the floor's normal when one is known; else an exponential moving average (time constant
  `tau_s`) of each frame's estimate of gravity from the pose's shape (`gravity.py`: a fitted map
  that removes the torso's lean), or, where the pose lacks the joints it needs, of the body's own up
  direction (pelvis to thorax, else hip midpoint to shoulder midpoint);
- forward: the horizontal part (orthogonal to up) of the direction from the frame's origin to the
  person (the viewing ray, when the origin is a camera or a robot: it keeps the estimator's depth
  axis on the model's z axis), or, when the person sits at the origin (pelvis-relative input),
  the horizontal part of the body's facing direction, averaged the same way.

Both are built from vectors that rotate with the input, so for any rotation Q of the input frame
R'_t = R_t Q^T and the model's input R'_t Q p = R_t p is unchanged: the output, rotated back, is the
same pose in the new frame (tested to float precision). Canonical axes follow the optical
convention the prior was first trained in: x right, y down (against up), z forward.

Causal by construction (the streaming refiner runs it frame by frame); sequences use the same
recursion, so a stream, a file and training all see identical inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .gravity import UpRegressor, default_regressor

RAY_MIN_M = 0.5  # below this horizontal distance from the origin the viewing ray is not defined


def _unit(v: np.ndarray) -> np.ndarray | None:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 and np.isfinite(n) else None


def _blend(old: np.ndarray, new: np.ndarray, k: float) -> np.ndarray:
    """One exponential-moving-average step between unit vectors (the old one if they cancel)."""
    m = _unit((1 - k) * old + k * new)
    return old if m is None else m


def body_up(pose: np.ndarray, present: np.ndarray) -> np.ndarray | None:
    """Unit up vector of one pose [17, 3]: pelvis->thorax, else hip midpoint->shoulder midpoint."""
    if present[0] and present[8]:
        return _unit(pose[8] - pose[0])
    if present[1] and present[4] and present[11] and present[14]:
        return _unit(0.5 * (pose[11] + pose[14]) - 0.5 * (pose[1] + pose[4]))
    return None


def body_facing(pose: np.ndarray, present: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """Unit facing direction (horizontal): right-to-left hip (or shoulder) vector crossed with up."""
    for a, b in ((1, 4), (14, 11)):
        if present[a] and present[b]:
            return _unit(np.cross(pose[b] - pose[a], up))
    return None


@dataclass
class Canonicaliser:
    """Causal per-track estimate of the canonical rotation. `update` once per frame (observed or not)."""
    fps: float = 30.0
    tau_s: float = 2.0
    fixed_up: np.ndarray | None = None  # a known "up" (the floor's normal): used instead of the body's
    up_model: UpRegressor | None = field(default_factory=default_regressor)  # None: the body's own up
    up: np.ndarray | None = None
    forward: np.ndarray | None = None
    R: np.ndarray | None = None

    def update(self, pose: np.ndarray | None, present: np.ndarray | None, weight: float = 1.0) -> np.ndarray:
        """Fold in one frame (pose [17, 3] absolute; present [17] marks usable joints; weight in
        [0, 1], the frame's confidence: low-confidence answers barely move the frame) and return
        R [3, 3] (rows: canonical x, y, z in input coordinates; identity before any data)."""
        k = (1.0 - float(np.exp(-1.0 / (self.tau_s * self.fps)))) * float(np.clip(weight, 0.0, 1.0))
        if self.fixed_up is not None:
            self.up = self.fixed_up
        if pose is not None and present is not None and k > 0:
            u = self._up_sample(pose, present) if self.fixed_up is None else None
            if u is not None:
                self.up = u if self.up is None else _blend(self.up, u, k)
            if self.up is not None:
                f = self._forward_sample(pose, present)
                if f is not None:
                    self.forward = f if self.forward is None else _blend(self.forward, f, k)
        if self.up is not None and self.forward is not None:
            self.R = rotation_from(self.up, self.forward)
        return self.R if self.R is not None else np.eye(3)

    def _up_sample(self, pose: np.ndarray, present: np.ndarray) -> np.ndarray | None:
        u = self.up_model.predict(pose, present) if self.up_model is not None else None
        return u if u is not None else body_up(pose, present)

    def _forward_sample(self, pose: np.ndarray, present: np.ndarray) -> np.ndarray | None:
        root = pose[0] if present[0] else (0.5 * (pose[1] + pose[4]) if present[1] and present[4] else None)
        if root is not None and np.isfinite(root).all():
            h = root - self.up * float(root @ self.up)
            if np.linalg.norm(h) >= RAY_MIN_M:
                return _unit(h)
        f = body_facing(pose, present, self.up)
        return None if f is None else _unit(f - self.up * float(f @ self.up))


def rotation_from(up: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Rows x, y, z of the canonical frame: y = -up, z = forward made orthogonal to up, x = y x z."""
    y = -up
    z = forward - y * float(forward @ y)
    z = z / max(float(np.linalg.norm(z)), 1e-9)
    x = np.cross(y, z)
    return np.stack([x, y, z]).astype(np.float64)


def sequence_rotations(poses: np.ndarray, present: np.ndarray, weight: np.ndarray | None = None,
                       fps: float = 30.0, fixed_up: np.ndarray | None = None) -> np.ndarray:
    """The causal canonical rotation of every frame of one track: poses [T, 17, 3] (NaN missing),
    present [T, 17], weight [T] -> R [T, 3, 3]. Frames before the first usable one take the first estimate, so a
    sequence's start is not left in the raw frame (a stream would not publish them either). `fixed_up`:
    a known up in the input's frame (the floor's normal), as the streaming refiner uses with a floor."""
    c = Canonicaliser(fps=fps, fixed_up=fixed_up)
    out = np.empty((len(poses), 3, 3))
    first = None
    for t in range(len(poses)):
        out[t] = c.update(poses[t], present[t], 1.0 if weight is None else float(weight[t]))
        if first is None and c.R is not None:
            first = t
    if first is not None and first > 0:
        out[:first] = out[first]
    return out
