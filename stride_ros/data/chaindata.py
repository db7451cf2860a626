# SPDX-License-Identifier: MIT
"""The camera chain's development cases: real landmarks files with absolute truth in metres.

Each case is a `<case>.in.npz` landmarks file (BlazePose's raw output on one camera's video, the
intrinsics, the floor) and a `<case>.gt.npz` with the truth as absolute joints in that camera's
optical frame and the frames the detector missed (the data's README: `shared/data/real_chain/`).
Found by `--chain DIR` or `STRIDE_ROS_CHAIN`, never by a path in the code. Scores use the 15 joints
both sides define the same way (realdata.COMPARABLE). Never train on the truth.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.skeleton import NUM_JOINTS
from .landmarkfile import LandmarkSequence, load_landmarks


@dataclass
class ChainCase:
    name: str
    landmarks: LandmarkSequence
    gt: np.ndarray  # [T, 17, 3] absolute, camera optical frame, metres
    missing: np.ndarray  # [T] bool: the detector found nobody

    @property
    def motion(self) -> str:
        parts = self.name.split("_")
        return parts[2] if len(parts) > 3 else self.name

    @property
    def first(self) -> int:
        """The first frame with a detection: scores start there (nothing can be known before it)."""
        seen = np.flatnonzero(~self.missing)
        return int(seen[0]) if seen.size else len(self.missing)


def find_chain_dir(explicit: str | os.PathLike | None = None) -> Path:
    """--chain DIR, else $STRIDE_ROS_CHAIN."""
    for given, what in ((explicit, "--chain"), (os.environ.get("STRIDE_ROS_CHAIN"), "STRIDE_ROS_CHAIN")):
        if not given:
            continue
        c = Path(given)
        if c.is_dir() and any(c.glob("*.in.npz")):
            return c
        raise InputError(f"{what} {c}: no chain cases there (expected <case>.in.npz landmarks files and "
                         "<case>.gt.npz truth)")
    raise InputError("camera-chain cases not found: pass --chain DIR or set STRIDE_ROS_CHAIN to a folder of "
                     "<case>.in.npz/<case>.gt.npz pairs (e.g. ../shared/data/real_chain)")


def load_chain_case(path_in: str | os.PathLike) -> ChainCase:
    pin = Path(path_in)
    pgt = pin.with_name(pin.name.replace(".in.npz", ".gt.npz"))
    if not pgt.exists():
        raise InputError(f"{pin}: no truth beside it ({pgt.name})")
    lm = load_landmarks(pin)
    try:
        with np.load(pgt) as b:
            gt, missing = b["poses"].astype(np.float32), b["missing"].astype(bool)
    except (KeyError, ValueError, OSError) as e:
        raise InputError(f"{pgt}: not a chain case's truth ({type(e).__name__}: {e})") from None
    if lm.several or gt.shape != (len(lm), NUM_JOINTS, 3) or missing.shape != (len(lm),):
        raise InputError(f"{pin}: landmarks {lm.world.shape}, truth {gt.shape} and missing {missing.shape} "
                         "do not agree")
    return ChainCase(pin.name[: -len(".in.npz")], lm, gt, missing)


def load_chain_cases(folder: str | os.PathLike | None = None, motions: list[str] | None = None) -> list[ChainCase]:
    d = find_chain_dir(folder)
    cases = [load_chain_case(p) for p in sorted(d.glob("*.in.npz"))]
    if motions:
        cases = [c for c in cases if c.motion in motions]
    if not cases:
        raise InputError(f"{d}: no chain cases{' for motions ' + ','.join(motions) if motions else ''}")
    return cases
