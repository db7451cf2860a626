# SPDX-License-Identifier: MIT
"""A person and the floor, over time: contacts, the distance they fix, and never under the floor.

The refiner is given absolute skeletons whose distance is only as right as the estimator's idea of
the person's size. With a floor (core/floor.py) each track keeps a `Ground`:

- contact: an input ankle at most `contact_m` above its resting height (or anywhere below it: a foot
  that seems under the floor is a foot placed too far away) and slower than `still_mps` is a planted
  foot (a jump, a raised foot, a hidden foot: no contact);
- the scale a contact fixes: in a frame with a planted foot, the published pose is scaled about the
  camera centre so that its lowest ankle rests on the floor (`ankle_m` above it), within
  `refined_within` of the scale the observed feet imply (the prior's legs correct the estimator's a
  little; a pose the prior does not know, such as sitting on the floor, must not move the person). Scaling about the
  camera changes neither the pose's shape nor where it lands in the image, only its distance and
  size: exactly the error a monocular estimator makes. The scale is carried unchanged through frames
  without a contact (a jump, feet hidden, sitting, the person lost), so it is the person's scale as
  last measured. It is applied to the refined pose, not to the estimator's: the prior changes the
  legs, and what must stand on the floor is what is published;
- never under the floor: a published pose whose lowest ankle is more than `under_m` below its resting
  height is lifted: when the observed feet were on the floor the refined legs are what is wrong and
  the joints under the floor are put onto it (a sunk ankle onto that bound); otherwise (unseen,
  coasting; or an estimator that put the person too far) the whole pose is scaled about the camera
  centre, or moved straight up when the frame's origin is not a camera above the floor;
- the floor set aside: when the scale a contact implies is outside `scale_range` for `distrust_s`
  (the wrong floor, stairs, a table), contacts stop setting the scale and `status()` says so, until
  one fits again.

Measured on real video (docs/results.md, where the person is): per-frame grounding beats any smoothing of the
scale, because BlazePose's size errors drift slowly and the floor measures them frame by frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.floor import Floor

ANKLES = (3, 6)  # r_ankle, l_ankle


@dataclass(frozen=True)
class GroundParams:
    ankle_m: float = 0.08  # height of the ankle joint above the floor when the foot rests on it
    contact_m: float = 0.20  # an input ankle this close to its resting height may be planted...
    still_mps: float = 1.0  # ... if it moves slower than this
    under_m: float = 0.05  # a pose whose ankle sinks further below its resting height is lifted
    scale_range: tuple[float, float] = (0.7, 1.4)  # a contact implying more is not this floor
    distrust_s: float = 2.0  # contacts that contradict the floor this long: the floor is set aside
    camera_min_m: float = 0.2  # the origin is a camera above the floor when it is at least this high
    refined_within: float = 0.04  # the refined feet may move the scale this far from what the observed ones say
    max_step: float = 0.01  # the scale changes by at most this much per contact frame (0: no limit)
    ankle_sd_m: float = 0.04  # spread of a planted ankle's height (joint definitions, people, noise)
    size_sd: float = 0.05  # spread of an estimator's idea of a person's size (BlazePose: several per cent)


class Ground:
    """One track's relation to the floor (module docstring): `observe` each input frame, `apply` to
    each published pose."""

    def __init__(self, floor: Floor, fps: float, params: GroundParams = GroundParams()):
        self.floor = floor
        self.fps = fps
        self.p = params
        self.camera_origin = floor.origin_height >= params.camera_min_m
        self.scale = 1.0  # the person's scale as last measured by a contact
        self.contacts = 0
        self.contact = (False, False)
        self.input_scale: float | None = None  # the scale the observed feet imply, on a contact
        self.observed_above = False  # the observed feet are on or above the floor in this frame
        self._prev: np.ndarray | None = None
        self._contradicted = 0  # contacts in a row whose scale says the floor is elsewhere
        self.set_aside = False
        self.lifted = 0

    def set_floor(self, floor: Floor) -> None:
        self.floor = floor
        self.camera_origin = floor.origin_height >= self.p.camera_min_m

    @property
    def weight(self) -> float:
        """Inverse-variance weight of a contact against the estimator's own distance: an ankle's height
        error moves the scale by error / (camera height - ankle height), so a low camera (a robot's head
        at 1.1 m) learns less from each contact than one mounted high (2.5 m)."""
        h = max(self.floor.origin_height - self.p.ankle_m, 1e-3)
        var_contact = (self.p.ankle_sd_m / h) ** 2
        return self.p.size_sd ** 2 / (self.p.size_sd ** 2 + var_contact)

    def _scale_for(self, point: np.ndarray) -> float | None:
        """Scale about the camera centre that puts this ankle at its resting height."""
        height = float(point @ self.floor.normal)
        target = self.p.ankle_m + self.floor.d
        if not self.camera_origin or height >= 0 or target >= 0:
            return None
        return target / height

    def observe(self, poses: np.ndarray | None, present: np.ndarray | None) -> None:
        """One input frame of the track (None: not seen): which feet are planted."""
        if poses is None or present is None:
            self.contact, self._prev, self.input_scale, self.observed_above = (False, False), None, None, False
            return
        ankles = np.where(present[list(ANKLES)][:, None], poses[list(ANKLES)], np.nan).astype(np.float64)
        h = self.floor.height(ankles) - self.p.ankle_m
        speed = (np.linalg.norm(ankles - self._prev, axis=-1) * self.fps if self._prev is not None
                 else np.zeros(2))  # a first sighting: judged by height alone
        self._prev = ankles
        # under the floor is no jump: an ankle that seems below it is a foot placed too far away
        planted = np.isfinite(h) & (h <= self.p.contact_m) & (speed <= self.p.still_mps)
        self.contact = (bool(planted[0]), bool(planted[1]))
        self.input_scale = self._scale_for(ankles[int(np.nanargmin(h))]) if planted.any() else None
        self.observed_above = bool(np.isfinite(h).any() and np.nanmin(h) >= -self.p.under_m)

    def apply(self, pose: np.ndarray) -> np.ndarray:
        """The published pose [17, 3]: grounded on a contact, the last scale otherwise, never under the floor."""
        out = pose.astype(np.float64)
        if self.camera_origin:
            if any(self.contact):
                self._measure(out)
            if not self.set_aside:
                out = out * self.scale
        ankles = out[list(ANKLES)]
        heights = self.floor.height(ankles)
        sink = float(heights.min()) - self.p.ankle_m
        if sink < -self.p.under_m and not self.set_aside:
            self.lifted += 1
            if self.observed_above:  # the estimator's feet are above the floor: the refined legs are wrong
                h = self.floor.height(out)
                least = np.zeros(len(out))  # a joint no lower than the floor, an ankle no lower than the bound
                least[list(ANKLES)] = self.p.ankle_m - self.p.under_m
                low = h < least
                out[low] += (least - h)[low][:, None] * self.floor.normal  # onto the floor, where they are
            else:  # the whole person is too low (too far, or coasting while unseen): lift them
                s = self._scale_for(ankles[int(np.argmin(heights))])
                out = (out * s if s is not None and self.p.scale_range[0] <= s <= 1.0
                       else out + (-sink) * self.floor.normal)
        return out.astype(pose.dtype)

    def _measure(self, out: np.ndarray) -> None:
        ankles = out[list(ANKLES)]
        s = self._scale_for(ankles[int(np.argmin(self.floor.height(ankles)))])
        if s is None or self.input_scale is None:
            return
        # the refined legs may correct the estimator's a little; far from what the estimator's own feet
        # say, they are the prior's guess of a pose it does not know (sitting on the floor): not evidence
        cap = self.p.refined_within
        s = float(np.clip(s, self.input_scale * (1 - cap), self.input_scale * (1 + cap)))
        if not self.p.scale_range[0] <= s <= self.p.scale_range[1]:
            self._contradicted += 1
            self.set_aside = self.set_aside or self._contradicted >= self.p.distrust_s * self.fps
            return
        self._contradicted = 0
        self.set_aside = False
        s = 1.0 + self.weight * (s - 1.0)  # how much of the estimator's own distance the contact overrules
        step = self.p.max_step  # a noisy ankle must not shake the whole person: the scale drifts, it does not jump
        self.scale = s if self.contacts == 0 or step <= 0 else float(np.clip(s, self.scale - step, self.scale + step))
        self.contacts += 1

    def status(self) -> dict:
        """For /diagnostics: the person's scale, contacts, and whether the floor is believed."""
        return {"scale": round(self.scale, 3), "contacts": self.contacts,
                "contact": "both" if all(self.contact) else "one" if any(self.contact) else "none",
                "floor": "set aside (contacts contradict it)" if self.set_aside else "in use", "lifted": self.lifted}


def ground_track(refined: np.ndarray, observed: np.ndarray, floor: Floor, fps: float,
                 params: GroundParams = GroundParams()) -> np.ndarray:
    """A whole refined track [T, 17, 3] grounded frame by frame, contacts judged on what was observed
    [T, 17, 3] (NaN where not seen): the offline refinement's version of what the stream does."""
    g = Ground(floor, fps, params)
    out = refined.copy()
    for t in range(len(refined)):
        seen = ~np.isnan(observed[t]).any(-1)
        g.observe(observed[t] if seen.any() else None, seen if seen.any() else None)
        out[t] = g.apply(refined[t])
    return out
