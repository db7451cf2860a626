# SPDX-License-Identifier: MIT
"""Baseline trackers that give a multi-person stream its ids, to measure association against.

- `BoxTracker`: SORT-style (Bewley et al. 2016) IoU matching of 2D image boxes, the way the ROS
  peers' trackers (BoT-SORT, ByteTrack) hand out ids, without their appearance features: each
  track's box is its last one (`motion="none"`) or moved by its last velocity (`"velocity"`),
  assigned by the Hungarian method on IoU, a new id for a box that overlaps no track. Where two
  people cross, their boxes overlap and the ids can swap; a person hidden longer than `max_age`
  comes back with a new id.
- `NearestTracker`: the nearest 3D pelvis without prediction: each track's last known pelvis,
  Hungarian on distance within a gate. What a tracker without a motion or body model does.

Both take one frame at a time (`step`) and return one id per detection (-1: none).
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .tracking import locate


def box_of(keypoints_px: np.ndarray, pad: float = 0.1) -> np.ndarray:
    """[17, 2] image joints -> [x0, y0, x1, y1] around the finite ones, padded by `pad` of each side;
    NaN with fewer than 4 joints (no detection box)."""
    k = keypoints_px[np.isfinite(keypoints_px).all(-1)]
    if len(k) < 4:
        return np.full(4, np.nan)
    lo, hi = k.min(0), k.max(0)
    return np.r_[lo - pad * (hi - lo), hi + pad * (hi - lo)]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[A, 4] x [B, 4] boxes -> [A, B] intersection over union."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2:] - x[:, :2], 0, None).prod(-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


class BoxTracker:
    """IoU tracking of 2D boxes (module docstring). `step(boxes [N, 4], NaN = none) -> ids [N]`."""

    def __init__(self, iou_min: float = 0.3, max_age: int = 30, motion: str = "none"):
        if motion not in ("none", "velocity"):
            raise ValueError(f"motion {motion!r}: expected none or velocity")
        self.iou_min = iou_min  # SORT's threshold
        self.max_age = max_age  # frames a track lives unseen (ByteTrack's default buffer: 30)
        self.motion = motion
        self.tracks: dict[int, dict] = {}  # id -> {box, vel, age}
        self._next = 0

    def _predicted(self, t: dict) -> np.ndarray:
        return t["box"] + (t["vel"] * (t["age"] + 1) if self.motion == "velocity" else 0.0)

    def step(self, boxes: np.ndarray) -> np.ndarray:
        ids = np.full(len(boxes), -1, np.int64)
        det = [i for i in range(len(boxes)) if np.isfinite(boxes[i]).all()]
        keys = list(self.tracks)
        matched: set[int] = set()
        if det and keys:
            pred = np.stack([self._predicted(self.tracks[k]) for k in keys])
            iou = iou_matrix(pred, boxes[det])
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= self.iou_min:
                    t = self.tracks[keys[r]]
                    t["vel"] = (boxes[det[c]] - t["box"]) / (t["age"] + 1)
                    t["box"], t["age"] = boxes[det[c]].copy(), 0
                    ids[det[c]] = keys[r]
                    matched.add(keys[r])
        for k in keys:
            if k not in matched:
                self.tracks[k]["age"] += 1
                if self.tracks[k]["age"] > self.max_age:
                    del self.tracks[k]
        for i in det:
            if ids[i] < 0:
                self.tracks[self._next] = {"box": boxes[i].copy(), "vel": np.zeros(4), "age": 0}
                ids[i] = self._next
                self._next += 1
        return ids


class NearestTracker:
    """Nearest last-known pelvis (module docstring). `step(poses [N, 17, 3]) -> ids [N]`."""

    def __init__(self, gate_m: float = 1.0, max_age: int = 90):
        self.gate_m = gate_m  # a person moves less than this between sightings
        self.max_age = max_age  # frames a track lives unseen (3 s at 30 fps: the refiner's timeout)
        self.tracks: dict[int, dict] = {}  # id -> {pos, age}
        self._next = 0

    def step(self, poses: np.ndarray) -> np.ndarray:
        loc = locate(poses)
        ids = np.full(len(poses), -1, np.int64)
        det = [i for i in range(len(poses)) if np.isfinite(loc[i]).all()]
        keys = list(self.tracks)
        matched: set[int] = set()
        if det and keys:
            last = np.stack([self.tracks[k]["pos"] for k in keys])
            d = np.linalg.norm(last[:, None] - loc[det][None], axis=-1)
            rows, cols = linear_sum_assignment(np.where(d <= self.gate_m, d, 1e6))
            for r, c in zip(rows, cols):
                if d[r, c] <= self.gate_m:
                    self.tracks[keys[r]].update(pos=loc[det[c]], age=0)
                    ids[det[c]] = keys[r]
                    matched.add(keys[r])
        for k in keys:
            if k not in matched:
                self.tracks[k]["age"] += 1
                if self.tracks[k]["age"] > self.max_age:
                    del self.tracks[k]
        for i in det:
            if ids[i] < 0:
                self.tracks[self._next] = {"pos": loc[i], "age": 0}
                ids[i] = self._next
                self._next += 1
        return ids


def track(tracker: BoxTracker | NearestTracker, poses: np.ndarray,
          keypoints_px: np.ndarray | None = None) -> np.ndarray:
    """Run a tracker over a whole multi-person stream: poses [T, N, 17, 3] (NaN slot = empty), image
    joints [T, N, 17, 2] for a box tracker -> ids [T, N] (-1 = empty slot)."""
    T, N = poses.shape[:2]
    ids = np.full((T, N), -1, np.int64)
    for t in range(T):
        present = np.isfinite(poses[t]).all(-1).any(-1)
        if isinstance(tracker, BoxTracker):
            boxes = np.stack([box_of(keypoints_px[t, s]) if present[s] else np.full(4, np.nan) for s in range(N)])
            ids[t] = tracker.step(boxes)
        else:
            ids[t] = tracker.step(np.where(present[:, None, None], poses[t], np.nan))
    return ids
