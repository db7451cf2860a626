# SPDX-License-Identifier: MIT
"""Drawing on video frames for a person to look at: skeletons, a caption that stays readable on any
background, each person's id in their own colour, and an optional live window.

The caption and the id labels sit on a dark translucent box (white text alone vanished against a
bright sky). Each track id has one colour for as long as it lives (`id_colour`: golden-ratio hues,
the same hues as the RViz markers), so a person keeps their colour and an id that passes to
someone else shows as a colour that moves. The window is OpenCV's own (`cv2.imshow`); where there
is no display (no DISPLAY/WAYLAND_DISPLAY, a headless OpenCV build) `Preview.open` says so in one
line and the run goes on without it.
"""
from __future__ import annotations

import colorsys
import os
import sys

import numpy as np

from ..core.skeleton import BONES

INFERRED_BGR = (235, 235, 235)  # the ring around a joint the refiner inferred
CAPTION_BOX_ALPHA = 0.6  # how dark the box behind the caption is (0: none, 1: opaque black)


def draw_skeleton(img: np.ndarray, uv: np.ndarray, colour, width: int, inferred: np.ndarray | None = None) -> None:
    """Bones and joints of one skeleton (uv [17, 2] pixels, NaN = not drawn) in place; joints flagged in
    `inferred` get a light ring instead of a dot."""
    import cv2
    pt = lambda j: (int(round(uv[j, 0])), int(round(uv[j, 1])))  # noqa: E731
    for a, b in BONES:
        if np.isfinite(uv[[a, b]]).all():
            cv2.line(img, pt(a), pt(b), colour, width, cv2.LINE_AA)
    for j in range(len(uv)):
        if not np.isfinite(uv[j]).all():
            continue
        if inferred is not None and inferred[j]:
            cv2.circle(img, pt(j), 3 * width, INFERRED_BGR, max(1, width // 2), cv2.LINE_AA)
        else:
            cv2.circle(img, pt(j), width + 1, colour, -1, cv2.LINE_AA)


def caption_size(width: int) -> int:
    """Line width of a refined skeleton and of the caption, for a frame this wide."""
    return max(2, round(width / 400))


def put_caption(img: np.ndarray, text: str, scale: float, thickness: int, origin: tuple[int, int] = (10, 10),
                colour=(255, 255, 255)) -> int:
    """Text (white unless told) on a dark translucent box at `origin`, its top left corner (in place):
    readable on sky, snow or shadow. A box past the frame's edge is clipped. Returns the box's bottom row."""
    import cv2
    font = cv2.FONT_HERSHEY_SIMPLEX
    (w, h), base = cv2.getTextSize(text, font, scale, thickness)
    pad = max(3, h // 3)
    x0, y0 = max(0, origin[0]), max(0, origin[1])
    x1, y1 = min(img.shape[1], x0 + w + 2 * pad), min(img.shape[0], y0 + h + base + 2 * pad)
    if x1 > x0 and y1 > y0:
        roi = img[y0:y1, x0:x1]
        roi[:] = (roi * (1.0 - CAPTION_BOX_ALPHA)).astype(img.dtype)
    cv2.putText(img, text, (x0 + pad, y0 + pad + h), font, scale, colour, thickness, cv2.LINE_AA)
    return y1


def id_colour_rgb(track_id: int) -> tuple[float, float, float]:
    """The colour of a track id, RGB in [0, 1] (for plots): golden-ratio hues, so neighbouring ids differ."""
    h = (int(track_id) * 0.61803398875) % 1.0
    return colorsys.hsv_to_rgb(h, 0.85, 0.95)


def id_colour(track_id: int) -> tuple[int, int, int]:
    """The colour of a track id, BGR 0-255 (for OpenCV): the same as `id_colour_rgb`."""
    r, g, b = id_colour_rgb(track_id)
    return int(round(255 * b)), int(round(255 * g)), int(round(255 * r))


def put_id_label(img: np.ndarray, text: str, uv: np.ndarray, colour, scale: float, thickness: int,
                 below: int = 0) -> None:
    """A person's label (e.g. "id 3") in their colour, on a dark box centred just above the highest of
    their drawn joints (uv [17, 2] pixels, NaN = not drawn), kept inside the frame and below row
    `below` (the caption's box): a head too near the top gets it at its side. Nothing when no joint
    is drawn."""
    import cv2
    ok = np.isfinite(uv).all(-1)
    if not ok.any():
        return
    top = uv[ok][np.argmin(uv[ok, 1])]
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(3, h // 3)
    bw, bh = w + 2 * pad, h + base + 2 * pad
    x, y = top[0] - bw / 2, top[1] - bh - 2 * pad
    if y < below:  # no room above the head: beside it
        x, y = top[0] + 3 * pad, max(below + pad, top[1] - bh / 2)
    x = int(np.clip(x, 0, max(0, img.shape[1] - bw)))
    y = int(np.clip(y, 0, max(0, img.shape[0] - bh)))
    put_caption(img, text, scale, thickness, (x, y), colour)


class Preview:
    """A live window (`--show`). `closed` turns true when the user presses q or Esc, or closes it."""

    TITLE = "stride-ros: raw thin, refined thick (q or Esc: stop)"

    def __init__(self, cv2):
        self.cv2 = cv2
        self.closed = False
        cv2.namedWindow(self.TITLE, cv2.WINDOW_NORMAL)

    @staticmethod
    def unavailable() -> str | None:
        """Why no window can open here, when that is known before trying (no display on Linux)."""
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return "no display (DISPLAY is not set)"
        return None

    @classmethod
    def open(cls, wanted: bool) -> "Preview | None":
        """A window, or None with one line on stderr saying why not (the run goes on without it)."""
        if not wanted:
            return None
        reason = cls.unavailable()
        if reason is None:
            try:
                import cv2
                return cls(cv2)
            except ImportError:
                reason = "OpenCV is not installed"
            except Exception as e:  # noqa: BLE001 - cv2.error: a headless build, a display that refuses
                reason = f"OpenCV cannot open a window here ({str(e).strip().splitlines()[-1][:100]})"
        print(f"--show: {reason}: no window", file=sys.stderr)
        return None

    def show(self, img: np.ndarray) -> None:
        if self.closed:
            return
        cv2 = self.cv2
        try:
            cv2.imshow(self.TITLE, img)
            key = cv2.waitKey(1) & 0xFF
            gone = cv2.getWindowProperty(self.TITLE, cv2.WND_PROP_VISIBLE) < 1
        except Exception:  # noqa: BLE001 - the display went away mid-run: stop showing, keep running
            gone, key = True, 0
        self.closed = gone or key in (ord("q"), 27)

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.TITLE)
            self.cv2.waitKey(1)
        except Exception:  # noqa: BLE001 - already gone
            pass
