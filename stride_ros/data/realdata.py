# SPDX-License-Identifier: MIT
"""Real estimator output with motion-capture truth: the development set's cases, as the data's README
describes them (MediaPipe BlazePose on TotalCapture video; `<case>.in.npz` + `<case>.gt.npz`).

Both sides are pelvis-relative in the camera-aligned frame, at 30 fps. Joints 9 (neck/nose) and 10
(head) are defined differently by BlazePose and by the truth, so scores use the other 15
(`COMPARABLE`). Frames where BlazePose found nobody are NaN in the input and flagged `missing`.
Never train on the truth: it is for measuring, and for fitting a simulator's statistics.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.skeleton import BODY_JOINTS, NUM_JOINTS

COMPARABLE = BODY_JOINTS


@dataclass
class RealCase:
    name: str  # e.g. tc_S1_acting3_cam1
    poses: np.ndarray  # [T, 17, 3] estimator output, NaN where nobody was found
    confidence: np.ndarray  # [T, 17]
    gt: np.ndarray  # [T, 17, 3] truth, same frame
    missing: np.ndarray  # [T] bool: the detector found nobody
    fps: float

    @property
    def motion(self) -> str:
        parts = self.name.split("_")
        return parts[2] if len(parts) > 3 else self.name


def find_real_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The real cases: --real DIR, else $STRIDE_ROS_REAL; nothing else is guessed."""
    for given, what in ((explicit, "--real"), (os.environ.get("STRIDE_ROS_REAL"), "STRIDE_ROS_REAL")):
        if not given:
            continue
        c = Path(given)
        if c.is_dir() and any(c.glob("*.in.npz")):
            return c
        raise InputError(f"{what} {c}: no real cases there (expected <case>.in.npz and <case>.gt.npz pairs)")
    raise InputError("real estimator cases not found: pass --real DIR or set STRIDE_ROS_REAL to a folder of "
                     "<case>.in.npz/<case>.gt.npz pairs (e.g. ../shared/data/real)")


def is_real_dir(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and any(p.glob("*.in.npz"))


def load_case(path_in: str | os.PathLike) -> RealCase:
    """One case from its `.in.npz`; the `.gt.npz` beside it holds the truth."""
    pin = Path(path_in)
    pgt = pin.with_name(pin.name.replace(".in.npz", ".gt.npz"))
    if not pgt.exists():
        raise InputError(f"{pin}: no truth beside it ({pgt.name})")
    try:
        with np.load(pin) as a, np.load(pgt) as b:
            poses, conf, fps = a["poses"].astype(np.float32), a["confidence"].astype(np.float32), float(a["fps"])
            gt, missing = b["poses"].astype(np.float32), b["missing"].astype(bool)
    except (KeyError, ValueError, OSError) as e:
        raise InputError(f"{pin}: not a real case ({type(e).__name__}: {e})") from None
    if poses.shape != gt.shape or poses.shape[1:] != (NUM_JOINTS, 3) or missing.shape != poses.shape[:1]:
        raise InputError(f"{pin}: input {poses.shape}, truth {gt.shape} and missing {missing.shape} do not agree")
    return RealCase(pin.name[: -len(".in.npz")], poses, conf, gt, missing, fps)


def load_cases(folder: str | os.PathLike | None = None, motions: list[str] | None = None) -> list[RealCase]:
    d = find_real_dir(folder)
    cases = [load_case(p) for p in sorted(d.glob("*.in.npz"))]
    if motions:
        cases = [c for c in cases if c.motion in motions]
    if not cases:
        raise InputError(f"{d}: no real cases{' for motions ' + ','.join(motions) if motions else ''}")
    return cases
