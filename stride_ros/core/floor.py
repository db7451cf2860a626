# SPDX-License-Identifier: MIT
"""The floor, as a plane in the frame of the data: the one measurement of distance every mounted
camera has.

A monocular estimator knows the distance to a person only as well as it knows the person's size
(BlazePose: several per cent off, per person and per frame). A robot knows where its camera is
mounted, so it knows the floor: a foot resting on it fixes the person's distance along the viewing
ray. The plane is given as (n, d): a point X lies n.X - d metres above the floor, n the unit "up"
vector, in the frame of the data (a camera's optical frame, or `base_link`).

Three ways to state it, each checked the same way: the plane itself (`--floor nx,ny,nz,d`, a
landmarks file's `floor`, node parameters), a camera's height and pitch (optical frame), or a
transform into a frame whose z = 0 plane is the floor (TF, e.g. `base_footprint`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import InputError

UNIT_TOL = 1e-3  # |n| must be 1 within this: a normal that is not unit means the plane was mis-stated


@dataclass(frozen=True)
class Floor:
    normal: np.ndarray  # [3] unit "up" in the data's frame
    d: float  # a point X lies normal.X - d metres above the floor
    source: str = "given"

    def height(self, points: np.ndarray) -> np.ndarray:
        """[..., 3] -> [...] metres above the floor (negative: under it)."""
        return np.asarray(points, np.float64) @ self.normal - self.d

    @property
    def origin_height(self) -> float:
        """How high the frame's origin (the camera, for an optical frame) is above the floor."""
        return -self.d

    def as_array(self) -> np.ndarray:
        return np.r_[self.normal, self.d].astype(np.float64)

    def describe(self) -> str:
        n = self.normal
        return f"n ({n[0]:.3f}, {n[1]:.3f}, {n[2]:.3f}), d {self.d:.3f} m ({self.source})"

    @classmethod
    def from_values(cls, values, what: str = "floor", origin_is_camera: bool = False) -> "Floor":
        """(nx, ny, nz, d) -> a checked Floor; InputError naming `what` for anything that cannot be one.
        origin_is_camera: the frame's origin is the camera (an optical frame), which must be above it."""
        try:
            v = np.asarray(values, np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InputError(f"{what}: expected 4 numbers nx,ny,nz,d") from None
        if v.size != 4:
            raise InputError(f"{what}: expected 4 numbers nx,ny,nz,d, got {v.size}")
        if not np.isfinite(v).all():
            raise InputError(f"{what}: {v.tolist()} is not all finite")
        n = v[:3]
        norm = float(np.linalg.norm(n))
        if abs(norm - 1.0) > UNIT_TOL:
            raise InputError(f"{what}: the normal ({n[0]:g}, {n[1]:g}, {n[2]:g}) has length {norm:.4g}, expected a "
                             "unit 'up' vector")
        floor = cls(n / norm, float(v[3]), what)
        if origin_is_camera and floor.origin_height <= 0:
            raise InputError(f"{what}: the camera would be {-floor.origin_height:.2f} m below its own floor "
                             "(d must be negative: a point X lies n.X - d above the floor)")
        return floor

    @classmethod
    def from_camera(cls, height_m: float, pitch_deg: float, what: str = "camera") -> "Floor":
        """A camera `height_m` above the floor, looking `pitch_deg` below the horizon (no roll), in its
        optical frame (x right, y down, z forward)."""
        if not (math.isfinite(height_m) and math.isfinite(pitch_deg)):
            raise InputError(f"{what}: height {height_m} and pitch {pitch_deg} must be finite")
        if height_m <= 0:
            raise InputError(f"{what}: height {height_m:g} m: the camera must be above the floor")
        if not -90.0 < pitch_deg < 90.0:
            raise InputError(f"{what}: pitch {pitch_deg:g} deg outside (-90, 90)")
        a = math.radians(pitch_deg)
        return cls(np.array([0.0, -math.cos(a), -math.sin(a)]), -float(height_m), f"{what} height/pitch")

    @classmethod
    def from_transform(cls, rotation: np.ndarray, translation: np.ndarray, what: str = "tf") -> "Floor":
        """From the transform taking the data's frame into a frame whose z = 0 plane is the floor
        (z up): p_floor = R p + t, so the height of p is R[2].p + t[2]."""
        R = np.asarray(rotation, np.float64).reshape(3, 3)
        t = np.asarray(translation, np.float64).reshape(3)
        return cls.from_values(np.r_[R[2], -t[2]], what)


def parse_floor(text: str, what: str = "--floor", origin_is_camera: bool = True) -> Floor:
    """`nx,ny,nz,d` (the command line's form)."""
    try:
        vals = [float(x) for x in text.split(",")]
    except ValueError:
        raise InputError(f"{what} {text!r}: expected nx,ny,nz,d as numbers") from None
    return Floor.from_values(vals, what, origin_is_camera)
