# SPDX-License-Identifier: MIT
"""Pinhole camera intrinsics: where they come from for a file (a flag, a YAML, or a stated guess) and
the projection the placement and its self-check share.

The image is taken as already rectified: distortion coefficients in a calibration file are read
only to say that they are ignored (BlazePose's landmarks come from the raw image; a lens with
strong distortion needs a rectified stream, e.g. image_proc's image_rect).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError

# With no calibration: focal length = image width (a horizontal field of view of 53 degrees, between
# a webcam's ~60 and a phone's main camera's ~70 narrowed by video cropping), principal point at the
# image centre. Absolute distance scales with the focal length: a wrong guess moves the person
# along the viewing ray (the body's size and shape do not change).
GUESS_NOTE = "guessed: focal length = image width, principal point = image centre"


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float
    source: str = "given"
    size: tuple[int, int] | None = None  # (width, height) it was calibrated for, when known
    distortion_ignored: bool = False  # the calibration has non-zero distortion we do not undo

    def __post_init__(self) -> None:
        vals = (self.fx, self.fy, self.cx, self.cy)
        if not all(np.isfinite(v) for v in vals):
            raise InputError(f"intrinsics {vals}: not all finite")
        if self.fx <= 0 or self.fy <= 0:
            raise InputError(f"intrinsics: focal lengths must be > 0 (fx {self.fx:g}, fy {self.fy:g})")

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def as_array(self) -> np.ndarray:
        return np.array([self.fx, self.fy, self.cx, self.cy], np.float64)

    def describe(self) -> str:
        return f"fx {self.fx:.1f} fy {self.fy:.1f} cx {self.cx:.1f} cy {self.cy:.1f} px ({self.source})"

    def check_size(self, width: int, height: int, what: str) -> None:
        """A calibration made for another resolution would misplace everyone: refuse it."""
        if self.size is not None and tuple(self.size) != (width, height):
            raise InputError(f"intrinsics are for {self.size[0]}x{self.size[1]} images, {what} is "
                             f"{width}x{height} (calibrate at this resolution or scale the matrix)")


def guess_intrinsics(width: int, height: int) -> Intrinsics:
    return Intrinsics(float(width), float(width), width / 2.0, height / 2.0, source=GUESS_NOTE)


def from_matrix(k, source: str, size: tuple[int, int] | None = None) -> Intrinsics:
    """A row-major 3x3 camera matrix (CameraInfo.k, a calibration YAML's camera_matrix.data)."""
    try:
        K = np.asarray(k, np.float64).reshape(3, 3)
    except (ValueError, TypeError):
        raise InputError(f"{source}: camera matrix must hold 9 numbers") from None
    return Intrinsics(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), source=source, size=size)


def parse_intrinsics(text: str) -> Intrinsics:
    """`fx,fy,cx,cy` (pixels) or the path of a YAML file (see `load_intrinsics_yaml`)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 4:
        try:
            fx, fy, cx, cy = (float(p) for p in parts)
        except ValueError:
            raise InputError(f"--intrinsics {text!r}: expected fx,fy,cx,cy as numbers or a YAML file") from None
        return Intrinsics(fx, fy, cx, cy, source="--intrinsics")
    return load_intrinsics_yaml(text)


def load_intrinsics_yaml(path: str | Path) -> Intrinsics:
    """A ROS camera_info YAML (camera_calibration's `camera_matrix: {data: [...]}`, with optional
    image_width/height and distortion_coefficients), a CameraInfo dump (`k: [...]`), or plain
    `fx`, `fy`, `cx`, `cy` keys."""
    import yaml
    p = Path(path)
    if not p.is_file():
        raise InputError(f"--intrinsics {path}: no such file (and not fx,fy,cx,cy)")
    try:
        doc = yaml.safe_load(p.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read ({e})") from None
    except yaml.YAMLError as e:
        raise InputError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise InputError(f"{p}: expected a mapping with camera_matrix or fx/fy/cx/cy")
    size = None
    if "image_width" in doc and "image_height" in doc:
        size = (int(doc["image_width"]), int(doc["image_height"]))
    if all(k in doc for k in ("fx", "fy", "cx", "cy")):
        try:
            intr = Intrinsics(*(float(doc[k]) for k in ("fx", "fy", "cx", "cy")), source=str(p), size=size)
        except (TypeError, ValueError):
            raise InputError(f"{p}: fx, fy, cx, cy must be numbers") from None
    elif isinstance(doc.get("camera_matrix"), dict) and "data" in doc["camera_matrix"]:
        intr = from_matrix(doc["camera_matrix"]["data"], str(p), size)
    elif "k" in doc or "K" in doc:
        intr = from_matrix(doc.get("k", doc.get("K")), str(p), size)
    else:
        raise InputError(f"{p}: no camera_matrix, k or fx/fy/cx/cy keys (keys: {sorted(map(str, doc))})")
    dist = doc.get("distortion_coefficients", {})
    coeffs = dist.get("data", []) if isinstance(dist, dict) else doc.get("d", [])
    if coeffs and np.any(np.abs(np.asarray(coeffs, np.float64)) > 1e-9):
        intr = Intrinsics(intr.fx, intr.fy, intr.cx, intr.cy, intr.source, intr.size, distortion_ignored=True)
    return intr


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """[..., 3] optical-frame points -> [..., 2] pixels (NaN at or behind the camera)."""
    z = points[..., 2:3]
    uvw = points @ K.T
    return uvw[..., :2] / np.where(z > 1e-6, z, np.nan)


def ray_moves(pose: np.ndarray, observed: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each joint's move onto the line from the origin through its observed position: [17, 3] moves
    and [17] bool where one is defined (seen, finite, and both points on the same side of the origin)."""
    d = np.asarray(observed, np.float64)
    x = np.asarray(pose, np.float64)
    dd = (d * d).sum(-1)
    ok = np.asarray(seen, bool) & np.isfinite(d).all(-1) & np.isfinite(x).all(-1) & (dd > 1e-12)
    along = np.where(ok, (d * x).sum(-1) / np.where(ok, dd, 1.0), 0.0)
    ok &= along > 0
    moves = np.where(ok[:, None], d * along[:, None] - x, 0.0)
    return moves, ok
