# SPDX-License-Identifier: MIT
"""Where frames come from: a video file, a camera (a V4L2/webcam device index) or a network stream
(an rtsp:// or http(s):// URL), behind one reader whose every wait is bounded.

OpenCV opens all three (its FFmpeg backend reads files and streams, V4L2 the cameras), but a call
into it can block for as long as a camera or a server keeps silent. So opening runs on a thread
and is waited for at most `open_s`, the first frame at most `first_frame_s`, each later frame at
most `frame_s`: a camera index that does not exist or a URL that does not answer is one line
before any work, a stream that stops mid-run ends the run cleanly with the reason said.

A file (or a stream that announces its length, such as an mp4 over HTTP) is read in order, every
frame, stamped index / fps. A live source (a camera, a stream of unknown length) is read as fast
as it delivers, and the consumer always gets the newest frame: one that a slow consumer did not
take in time is skipped and counted, so a camera faster than the estimator costs frames, never
latency (as in the pose_estimator node). Live frames are stamped with their arrival time.
"""
from __future__ import annotations

import queue
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..core.errors import InputError
from .video import DEFAULT_FPS, _cv2, check_video_path

URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https")
OPEN_S = 10.0  # opening a camera or a stream (an RTSP handshake, an HTTP request)
FIRST_FRAME_S = 10.0  # opened to the first frame (a camera's exposure settling, a stream's first key frame)
FRAME_S = 5.0  # between two frames: a source silent this long has stopped
_END = object()  # the reader's last message: the source said it has no more frames


def is_url(text: str) -> bool:
    return re.match(rf"^({'|'.join(URL_SCHEMES)})://", text, re.IGNORECASE) is not None


@dataclass(frozen=True)
class Source:
    """What the user named: kind "file" (a path), "camera" (a device index) or "url"."""
    kind: str
    target: str

    @property
    def name(self) -> str:
        """For messages: the path, "camera N", or the URL without its password."""
        if self.kind == "camera":
            return f"camera {self.target}"
        if self.kind == "url":
            return re.sub(r"//([^/@:]+):[^/@]*@", r"//\1:***@", self.target)
        return self.target

    def __str__(self) -> str:
        return self.name


def source_of(video: str | None, camera: int | None = None) -> Source:
    """The source from a command's VIDEO argument (a path or a URL) and --camera N: exactly one of them;
    a file is checked here (exists, a file, not empty), cameras and URLs when they are opened."""
    if video is not None and camera is not None:
        raise InputError(f"give a video ({video}) or --camera {camera}, not both")
    if camera is not None:
        if camera < 0:
            raise InputError(f"--camera {camera}: a device index is 0 or more (/dev/video0 is 0)")
        return Source("camera", str(camera))
    if not video:
        raise InputError("no source: give a video file, a URL (rtsp://, http://) or --camera N")
    if is_url(video):
        return Source("url", video)
    if "://" in video:
        scheme = video.split("://", 1)[0]
        raise InputError(f"{video}: {scheme}:// streams are not read here (URLs: {', '.join(URL_SCHEMES)})")
    check_video_path(video)
    return Source("file", video)


# --- opening: one function per kind, each returning an object with cv2.VideoCapture's methods ----------------

def open_file(source: Source, timeout_s: float):
    cv2 = _cv2()
    return cv2.VideoCapture(source.target)


def open_camera(source: Source, timeout_s: float):
    """A V4L2 device on Linux (its /dev/videoN must exist: the clear message for a wrong index), else
    whatever camera API OpenCV has on the platform."""
    cv2 = _cv2()
    index = int(source.target)
    if sys.platform.startswith("linux"):
        dev = Path(f"/dev/video{index}")
        if not dev.exists():
            have = sorted(Path("/dev").glob("video[0-9]*"), key=lambda p: int(p.name[5:]))
            found = ", ".join(str(p) for p in have) if have else "none (no camera connected, or no driver loaded)"
            raise InputError(f"camera {index}: no such device ({dev} does not exist; cameras here: {found})")
        return cv2.VideoCapture(index, cv2.CAP_V4L2)
    return cv2.VideoCapture(index)


def open_url(source: Source, timeout_s: float):
    """FFmpeg with its own timeouts too (so its thread does not outlive ours by long)."""
    cv2 = _cv2()
    ms = int(timeout_s * 1000)
    return cv2.VideoCapture(source.target, cv2.CAP_FFMPEG,
                            [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])


# kind -> opener(source, timeout_s). A test may stand a fake device in for "camera" here: everything after
# opening (the bounded waits, skipping, stopping) is the same code for every kind.
OPENERS: dict[str, Callable[[Source, float], Any]] = {"file": open_file, "camera": open_camera, "url": open_url}

_NOT_OPENED = {
    "file": "not a readable video (OpenCV could not open it)",
    "camera": "could not be opened (in use by another program, no permission, or not a capture device)",
    "url": "did not answer as a video stream (wrong address, server down, or a format FFmpeg does not read)",
}


def _bounded(fn: Callable[[], Any], timeout_s: float, what: str):
    """fn() on a daemon thread, waited for at most timeout_s: its result, its exception, or an InputError."""
    box: dict[str, Any] = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box["error"] = e

    t = threading.Thread(target=run, name="stride-capture-open", daemon=True)
    t.start()
    t.join(timeout_s)
    if t.is_alive():
        raise InputError(f"{what}: no answer within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass
class Frame:
    index: int  # the n-th frame delivered (0, 1, ...); skipped live frames are not numbered
    stamp: float  # seconds: index / fps for a file, arrival time (time.time()) for a live source
    bgr: np.ndarray  # [H, W, 3] uint8


class Capture:
    """An opened source, its first frame already read. Iterate `frames()`; `close()` when done (also a
    context manager). After the frames end, `stop_reason` says why when it was not the plain end of a file
    or the limit asked for."""

    def __init__(self, source: Source, *, open_s: float = OPEN_S, first_frame_s: float = FIRST_FRAME_S,
                 frame_s: float = FRAME_S, fps_hint: float | None = None):
        self.source = source
        self.frame_s = frame_s
        self.stop_reason = ""
        self.skipped = 0  # live frames replaced by a newer one before they were taken
        self.delivered = 0
        self.stamps: list[float] = []  # of the frames delivered so far
        cv2 = _cv2()
        opener = OPENERS[source.kind]
        cap = _bounded(lambda: opener(source, open_s), open_s, source.name)
        if cap is None or not cap.isOpened():
            raise InputError(f"{source}: {_NOT_OPENED[source.kind]}")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = float(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        self.frames_announced = int(count) if np.isfinite(count) and 0 < count < 1e9 else 0
        self.live = source.kind == "camera" or (source.kind == "url" and not self.frames_announced)
        self.fps_guessed = not (np.isfinite(fps) and 1.0 <= fps <= 1000.0)
        self.fps = fps_hint or (DEFAULT_FPS if self.fps_guessed else fps)
        self._cap = cap
        self._q: queue.Queue = queue.Queue(maxsize=1 if self.live else 8)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name="stride-capture", daemon=True)
        self._reader.start()
        first = self._take(first_frame_s)
        if first is None:
            self.close()
            raise InputError(f"{source}: opened, but no frame came within {first_frame_s:g} s")
        if first is _END:
            self.close()
            raise InputError(f"{source}: opened, but it gave no frame (empty, or not a video)")
        self._first = first
        self.height, self.width = first[0].shape[:2]
        self._t0 = first[1]

    # the reader thread: owns the OpenCV object (reads and releases it; never two threads at once)
    def _read(self) -> None:
        cap = self._cap
        try:
            while not self._stop.is_set():
                ok, frame = cap.read()
                now = time.time()
                if not ok or frame is None:
                    break
                self._put((frame, now))
        except Exception as e:  # noqa: BLE001 - a backend error ends the source like a closed stream
            self.stop_reason = f"{self.source}: the reader failed ({type(e).__name__}: {e})"
        finally:
            self._put(_END)
            try:
                cap.release()
            except Exception:  # noqa: BLE001 - releasing a broken device must not raise here
                pass

    def _put(self, item) -> None:
        if self.live and item is not _END:  # newest wins: a frame still waiting is replaced, and counted
            while True:
                try:
                    self._q.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        self._q.get_nowait()
                        self.skipped += 1
                    except queue.Empty:
                        pass
        while not self._stop.is_set():  # in order (and the end): wait for room (the consumer may be slow)
            try:
                self._q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _take(self, timeout_s: float):
        try:
            return self._q.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def frames(self, limit: int | None = None) -> Iterator[Frame]:
        """Frames in order until the source ends, stalls (longer than frame_s) or `limit` are delivered."""
        item = self._first
        while item is not None and item is not _END:
            frame, arrived = item
            stamp = arrived if self.live else self.delivered / self.fps
            self.stamps.append(stamp)
            self.delivered += 1
            yield Frame(self.delivered - 1, stamp, frame)
            if limit is not None and self.delivered >= limit:
                return
            item = self._take(self.frame_s)
        if item is None:
            self.stop_reason = (f"{self.source} stopped: no frame for {self.frame_s:g} s after frame "
                                f"{self.delivered - 1}")
        elif not self.stop_reason and self.source.kind == "file" and self.delivered < self.frames_announced:
            self.stop_reason = (f"{self.source} ended after {self.delivered} of the {self.frames_announced} frames "
                                "its header states")
        elif not self.stop_reason and (self.live or self.delivered < self.frames_announced):
            of = f" of the {self.frames_announced} announced" if self.frames_announced else ""
            self.stop_reason = f"{self.source} ended after {self.delivered} frames{of} (the source stopped sending)"

    def describe(self) -> str:
        rate = f"{self.fps:g} fps" + (" (not stated: assumed)" if self.fps_guessed else "")
        return f"{self.source}: {self.width}x{self.height} at {rate}" + (", live" if self.live else "")

    def close(self) -> None:
        """Stop the reader; a reader stuck inside OpenCV is left to finish on its own (it is a daemon)."""
        self._stop.set()
        while True:  # unblock a reader waiting for room
            try:
                self._q.get_nowait()
            except queue.Empty:
                break
        if self._reader.is_alive() and threading.current_thread() is not self._reader:
            self._reader.join(timeout=1.0)

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


