# SPDX-License-Identifier: MIT
"""Several people per frame: MediaPipe's Tasks `PoseLandmarker` with `num_poses` > 1, the same BlazePose
models as the single-person `blazepose.BlazePose` (bundled by `bundle.py`), the same 33 landmarks.

In video mode it tracks each person from the previous frame's landmarks and runs the person
detector whenever fewer people are tracked than it may find, so its cost grows with the people in
view (measured by `stride-ros bench --estimator`). MediaPipe's own landmark smoothing exists only
for a single person: with several, the landmarks come unsmoothed (the refiner smooths).

What it gets wrong, and what is done about it:
- It finds a person afresh by the head (the detector descends from MediaPipe's face detector; its
  model's metadata still says so); once found, a person is tracked from frame to frame by the
  landmark model, also while turned away. Measured, a fresh detection per frame (no tracking): on
  the Sports2D clip, every person facing the camera or in profile was found (61 of 61 frames); the
  man turned away with his head down, or upside down mid-flip, in none (0 of 5), though tracking
  kept him through those frames. A back view as such is not the problem: on Pose2Sim's two-person
  demo (4 views, 100 frames each) people seen from behind, the back of the head in view, were found
  in 75 % of the frames (62 of 80 fresh), those facing the camera in 50 % (39 of 80; one of the two
  has his face blurred in that recording, which the head-keyed detector suffers from too).
- The detector sees the whole frame shrunk to 224 px: someone a third of a 1768x994 frame's height
  is ~45 px there, and missed. Tiles (`tile_spans`) double that: on the Sports2D clip both people were
  found in 29 of the 32 frames (every 5th) where both are in view, against 23 without (31 and 22 at
  1280x720), for about 1.2 x the CPU time per frame (`stride-ros bench --estimator`). A person in
  the tiles' overlap is found in both and counted once (below).
- Now and then it reports one person twice (its tracking and its detector disagree by a few
  pixels), a second skeleton squeezed into part of one body, or one skeleton drawn across two
  people (on the Sports2D clip, without tiles: 22 such skeletons in 230 frames). `distinct_people`
  removes them: a skeleton whose image box lies mostly inside another's (intersection over the
  smaller box >= OVERLAP) is one of these; one overlapping two others spans two people and goes
  first, otherwise the less visible of the two goes. Two real people overlap this much only when
  one hides most of the other, and then BlazePose cannot fit the hidden one either.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.errors import InputError
from .blazepose import Landmarks, import_mediapipe
from .bundle import pose_bundle
from .landmarks import NUM_LANDMARKS
from .quiet import native_notices_filtered

OVERLAP = 0.6  # intersection over the smaller image box at which two skeletons are one person's
MAX_PEOPLE = 16  # what one frame may ask for: beyond this the detector's own limits dominate
TILE_ASPECT = 1.5  # a frame wider than this (width / height) is split into square tiles when tiling


def tile_spans(width: int, height: int) -> list[tuple[int, int]]:
    """Column ranges [x0, x1) of square tiles that cover a wide frame with even overlaps (16:9: two
    tiles overlapping by 2 H - W); the whole frame when it is not wider than TILE_ASPECT x its height."""
    if width <= TILE_ASPECT * height:
        return [(0, width)]
    k = math.ceil(width / height)
    step = (width - height) / (k - 1)
    return [(round(i * step), round(i * step) + height) for i in range(k)]


def _box(lm: Landmarks) -> np.ndarray:
    return np.r_[lm.image.min(0), lm.image.max(0)]


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller of two [x0, y0, x1, y1] boxes (1: one inside the other)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(w * h / max(smaller, 1e-9))


def distinct_people(found: list[Landmarks], keep: int) -> tuple[list[Landmarks], int]:
    """The skeletons that are distinct people, at most `keep` of them (the most visible first), and
    how many were dropped as duplicates (module docstring)."""
    n = len(found)
    boxes = [_box(lm) for lm in found]
    same = np.zeros((n, n), bool)
    for i in range(n):
        for j in range(i + 1, n):
            same[i, j] = same[j, i] = overlap(boxes[i], boxes[j]) >= OVERLAP
    score = np.array([float(lm.visibility.mean()) for lm in found])
    alive = np.ones(n, bool)
    while True:
        links = (same & alive[:, None] & alive[None, :]).sum(1)
        if not links.any():
            break
        spanning = np.flatnonzero(links >= 2)
        if len(spanning):  # drawn across two people: the widest-reaching one first
            alive[spanning[np.argmax(links[spanning])]] = False
            continue
        i, j = np.argwhere(np.triu(same & alive[:, None] & alive[None, :]))[0]
        alive[i if score[i] < score[j] else j] = False
    order = sorted(np.flatnonzero(alive), key=lambda k: -score[k])
    return [found[k] for k in order[:keep]], int(n - alive.sum())


class MultiPose:
    """The Tasks PoseLandmarker. `video=True` tracks across frames (frames in order, each with a later
    time than the one before); otherwise every frame is detected afresh. `tiles=True` runs one
    landmarker per square tile of a wide frame (`tile_spans`): people far from the camera are seen
    at up to twice the scale by the detector, for about twice the detector's cost."""

    def __init__(self, max_people: int, video: bool = True, min_detection: float = 0.5,
                 min_tracking: float = 0.5, tiles: bool = True, cache=None):
        if not 1 <= max_people <= MAX_PEOPLE:
            raise InputError(f"max_people {max_people}: must be 1..{MAX_PEOPLE}")
        self._mp = import_mediapipe()
        self._bundle = str(pose_bundle(cache))
        self.max_people = max_people
        self.video = video
        self.tiles = tiles
        self._thresholds = (min_detection, min_tracking)
        self.duplicates = 0  # skeletons dropped by distinct_people, all frames
        self._tasks: list = []  # one landmarker per tile
        self._spans: list[tuple[int, int]] = []
        self._size: tuple[int, int] | None = None
        self._last_ms = -1
        self._settled = False

    def _landmarker(self):
        from mediapipe.tasks.python import BaseOptions, vision
        det, track = self._thresholds
        opts = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=self._bundle),
            running_mode=vision.RunningMode.VIDEO if self.video else vision.RunningMode.IMAGE,
            num_poses=self.max_people + 1,  # one spare: a duplicate must not take a real person's place
            min_pose_detection_confidence=det, min_tracking_confidence=track)
        with native_notices_filtered():
            return vision.PoseLandmarker.create_from_options(opts)

    def _layout(self, width: int, height: int) -> None:
        """Landmarkers for this frame size (built once; again only if the size changes)."""
        if self._size == (width, height):
            return
        self.close()
        self._spans = tile_spans(width, height) if self.tiles else [(0, width)]
        self._tasks = [self._landmarker() for _ in self._spans]
        self._size = (width, height)
        self._settled = False

    def _timestamp_ms(self, stamp: float | None) -> int:
        """Strictly increasing milliseconds (the video mode refuses anything else)."""
        ms = self._last_ms + 33 if stamp is None else int(round(stamp * 1000.0))
        self._last_ms = max(ms, self._last_ms + 1)
        return self._last_ms

    def __call__(self, rgb: np.ndarray, stamp: float | None = None) -> list[Landmarks]:
        """rgb: [H, W, 3] uint8 RGB; stamp: capture time (s), for video mode. Every distinct person found,
        the most visible first (at most max_people)."""
        h, w = rgb.shape[:2]
        self._layout(w, h)
        ms = self._timestamp_ms(stamp)
        found = []
        for task, (x0, x1) in zip(self._tasks, self._spans):
            tile = rgb if (x0, x1) == (0, w) else rgb[:, x0:x1]
            image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(tile))
            if self._settled:
                res = task.detect_for_video(image, ms) if self.video else task.detect(image)
            else:
                with native_notices_filtered():
                    res = task.detect_for_video(image, ms) if self.video else task.detect(image)
            found += _landmarks_of(res, x0, x1 - x0, h)
        self._settled = self._settled or bool(found)
        people, dropped = distinct_people(found, self.max_people)
        self.duplicates += dropped
        return people

    def close(self) -> None:
        for task in self._tasks:
            task.close()
        self._tasks = []
        self._size = None


def _landmarks_of(res, x0: int, width: int, height: int) -> list[Landmarks]:
    """A Tasks result's people as Landmarks in the whole frame's pixels (a tile starts at column x0)."""
    out = []
    for world, img in zip(res.pose_world_landmarks, res.pose_landmarks):
        wl = np.array([[p.x, p.y, p.z] for p in world], np.float64)
        il = np.array([[x0 + p.x * width, p.y * height, p.visibility if p.visibility is not None else 0.0]
                       for p in img], np.float64)
        if wl.shape != (NUM_LANDMARKS, 3) or not np.isfinite(wl).all() or not np.isfinite(il).all():
            continue
        out.append(Landmarks(wl, il[:, :2], il[:, 2].clip(0.0, 1.0)))
    return out
