# SPDX-License-Identifier: MIT
"""Which way is up when nobody gave us a floor: a fitted map from a pose's shape to gravity.

The canonical frame (`canonical.py`) needs an up direction. Without a floor the only measurement is
the body, and its own pelvis-to-thorax line is a poor plumb line: people lean when they walk, bend and
reach, and a real estimator's mid-hip and mid-shoulder sit on the body's surface, not on its spine (on
the real BlazePose views of the development set that line, averaged as the canonical frame averages
it, is 14 degrees off the floor's normal; this map's, 8). How far the torso leans is written in the
rest of the pose (legs in stride, arms forward, the head ahead of the chest), so a linear map from the
pose, expressed in the body's own frame, to the gravity direction in that frame removes most of it.

Everything is expressed in a frame built from the pose itself (x: right hip to left hip made orthogonal
to up, y: pelvis to thorax, z: their cross product), so the answer rotates with the input: the
canonical frame stays independent of how the input frame is oriented. Joints the estimator did not
give are replaced by their mean position in that frame (the fit's), so one hidden wrist does not
discard the frame. Fitted on simulated estimator output from the training motion capture only
(`python -m stride_ros.model.fit_up`); the fitted numbers ship in `up_regressor.json`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).with_name("up_regressor.json")
FRAME_JOINTS = (0, 8, 1, 4)  # pelvis, thorax, right hip, left hip: what the body frame is built from


def body_frame(pose: np.ndarray) -> np.ndarray | None:
    """Rows x (right to left hip), y (pelvis to thorax), z (x cross y) of the pose's own frame [3, 3]."""
    y = pose[8] - pose[0]
    ny = float(np.sqrt(y @ y))
    if not np.isfinite(ny) or ny < 1e-6:
        return None
    y = y / ny
    x = pose[4] - pose[1]
    x = x - y * float(x @ y)
    nx = float(np.sqrt(x @ x))
    if not np.isfinite(nx) or nx < 1e-6:
        return None
    x = x / nx
    z = np.array([x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]])
    return np.stack([x, y, z])


def body_coordinates(pose: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The pose [17, 3] relative to its pelvis, in the body frame B."""
    return (pose - pose[0]) @ B.T


@dataclass(frozen=True)
class UpRegressor:
    """up_body = [1, q_1 .. q_16] @ weights, q the pose in its body frame (pelvis dropped: always 0)."""
    weights: np.ndarray  # [1 + 16 * 3, 3]
    mean: np.ndarray  # [17, 3]: each joint's mean position in the body frame (fills missing joints)

    def predict(self, pose: np.ndarray, present: np.ndarray) -> np.ndarray | None:
        """Unit up in the pose's frame from one pose [17, 3] (present [17]); None without the frame joints."""
        if not all(present[j] for j in FRAME_JOINTS):
            return None
        pose = np.asarray(pose, np.float64)
        B = body_frame(pose)
        if B is None:
            return None
        q = body_coordinates(pose, B)
        if not present.all():
            q = np.where(present[:, None], q, self.mean)
        up = B.T @ (self.weights[0] + q[1:].reshape(48) @ self.weights[1:])  # = features(q) @ weights
        n = float(np.sqrt(up @ up))
        return up / n if np.isfinite(n) and n > 1e-9 else None

    def to_json(self) -> dict:
        return {"weights": np.round(self.weights, 7).tolist(), "mean": np.round(self.mean, 7).tolist()}

    @classmethod
    def from_json(cls, d: dict) -> "UpRegressor":
        w, m = np.asarray(d["weights"], np.float64), np.asarray(d["mean"], np.float64)
        if w.shape != (1 + 16 * 3, 3) or m.shape != (17, 3):
            raise ValueError(f"up regressor: weights {w.shape}, mean {m.shape} (expected (49, 3), (17, 3))")
        return cls(w, m)


def features(q: np.ndarray) -> np.ndarray:
    """Regression features of body-frame poses [..., 17, 3] -> [..., 49]: a constant and joints 1-16."""
    flat = q[..., 1:, :].reshape(*q.shape[:-2], 48)
    return np.concatenate([np.ones((*q.shape[:-2], 1)), flat], -1)


def fit(poses: np.ndarray, ups: np.ndarray, ridge: float = 1.0, joints: np.ndarray | None = None) -> UpRegressor:
    """Least squares (ridge) from complete poses [N, 17, 3] to their true up [N, 3], both in one frame.
    `joints` [17] bool: the joints the map may use (the others sit at their mean place and carry no
    weight, as a joint the estimator does not give would); None: all."""
    Q, Y = [], []
    for p, u in zip(poses.astype(np.float64), ups.astype(np.float64)):
        B = body_frame(p)
        if B is not None and np.isfinite(p).all():
            Q.append(body_coordinates(p, B))
            Y.append(B @ u)
    if len(Q) < 49:
        raise ValueError(f"up regressor: {len(Q)} usable poses, need at least 49")
    Q, Y = np.array(Q), np.array(Y)
    mean = Q.mean(0)
    X = features(Q)
    if joints is not None:
        X[:, 1:] = np.where(np.repeat(np.asarray(joints, bool)[1:], 3)[None], X[:, 1:], 0.0)
    W = np.linalg.solve(X.T @ X + ridge * np.eye(X.shape[1]), X.T @ Y)
    return UpRegressor(W, mean)


@lru_cache(maxsize=1)
def default_regressor() -> UpRegressor:
    """The shipped fit (`up_regressor.json`, installed with the package)."""
    return UpRegressor.from_json(json.loads(MODEL_PATH.read_text()))
