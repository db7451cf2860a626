# SPDX-License-Identifier: MIT
"""Video files in, frames out, with every problem an InputError naming the file (the CLI's one line).

OpenCV decodes (it comes with mediapipe), with FFmpeg's own console messages off (the reason is
ours to give, in one line). Before any work `probe` decodes the first frame and one near the end
the container announces, so a corrupt or truncated file is refused up front rather than after
minutes of estimation; a file that still ends early is read as far as it decodes, and the caller
reports how many frames it got of how many the header promised.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..core.errors import InputError

DEFAULT_FPS = 30.0  # when the container states none


@dataclass
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    frames: int  # as the header claims (0: unknown)
    fps_guessed: bool = False


def _cv2():
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # FFmpeg quiet ("moov atom not found", ...)
    try:
        import cv2
    except ImportError:
        raise InputError("reading video needs OpenCV: pip install 'stride_ros[estimator]'") from None
    try:  # OpenCV's own warnings too ("can't open camera by index", "backend ... can't be used")
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # pragma: no cover - a build without the logging utilities
        pass
    return cv2


def check_video_path(path: str | Path) -> Path:
    """Cheap checks before anything is loaded: exists, a file, not empty."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, expected a video file")
    if p.stat().st_size == 0:
        raise InputError(f"{p}: empty file")
    return p


def probe(path: str | Path, upto: int | None = None) -> VideoInfo:
    """Open the file, decode its first frame and one near its announced end (or frame `upto` - 1, when
    only that many are wanted): a corrupt, non-video or truncated file fails here, in one line."""
    p = check_video_path(path)
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(p))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise InputError(f"{p}: not a readable video (OpenCV could not decode a frame)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        # a header's frame count is sometimes an estimate: check near the end, not the very last
        late = min(upto, n) - 1 if upto else n - 1 - max(2, n // 50)
        if late > 0 and not (cap.set(cv2.CAP_PROP_POS_FRAMES, late) and cap.read()[0]):
            raise InputError(f"{p}: truncated or corrupt (frame {late} of the {n} its header announces does not "
                             "decode; --max-frames N uses the frames before the damage)")
    finally:
        cap.release()
    guessed = not (np.isfinite(fps) and 1.0 <= fps <= 1000.0)
    h, w = frame.shape[:2]
    return VideoInfo(p, w, h, DEFAULT_FPS if guessed else fps, max(n, 0), guessed)


def read_frames(info: VideoInfo, limit: int | None = None) -> Iterator[np.ndarray]:
    """BGR frames [H, W, 3] uint8, in order, until the decoder stops (or `limit` frames)."""
    cv2 = _cv2()
    cap = cv2.VideoCapture(str(info.path))
    try:
        k = 0
        while limit is None or k < limit:
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            k += 1
            yield frame
    finally:
        cap.release()


def to_rgb(bgr: np.ndarray) -> np.ndarray:
    cv2 = _cv2()
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
