# SPDX-License-Identifier: MIT
"""Put a placed body on the floor: the distance a foot resting on the floor implies.

Placement (placement.py) leaves the body as large as BlazePose believes it is, and the distance with
it: scaling the placed body about the camera centre changes neither its shape nor where it lands in
the image, only how far and how large it is. The floor picks the one scale at which the body stands
on it: the scale that puts the lowest heel or toe landmark `SOLE_M` above the floor. On real video
with motion-capture truth this halves the absolute error of the placement (docs/results.md, where the person is).

A frame where no foot rests on the floor (a jump, a foot raised while the other is hidden) gets the
wrong scale from this rule; so does a floor that the data contradict (the wrong plane, a person on
stairs). `ground_scale` only refuses what no body could be (a scale outside `SCALE_RANGE`); the
refiner's floor logic (stream/grounding.py) judges contacts over time.
"""
from __future__ import annotations

import numpy as np

from ..core.floor import Floor

HEELS_TOES = (29, 30, 31, 32)  # BlazePose: left heel, right heel, left foot index, right foot index
SOLE_M = 0.03  # height of BlazePose's heel and toe landmarks above the floor when the foot rests on it
SCALE_RANGE = (0.6, 1.6)  # BlazePose's body size is never this far off (measured: within +-10 %)


def ground_scale(points: np.ndarray, floor: Floor, visibility: np.ndarray | None = None) -> float | None:
    """points [33, 3] placed landmarks (camera optical frame) -> the scale about the camera centre that
    puts the lowest heel/toe `SOLE_M` above the floor; None when no foot is usable or the scale is absurd."""
    feet = np.asarray(points, np.float64)[list(HEELS_TOES)]
    ok = np.isfinite(feet).all(-1)
    if not ok.any():
        return None
    up = feet[ok] @ floor.normal  # n.X: the floor is where n.X = d
    lowest = float(up.min())
    target = SOLE_M + floor.d  # n.(s X) - d = SOLE_M
    if lowest >= 0 or target >= 0:  # the foot is not below the camera, or the camera sits on the floor
        return None
    s = target / lowest
    return s if SCALE_RANGE[0] <= s <= SCALE_RANGE[1] else None
