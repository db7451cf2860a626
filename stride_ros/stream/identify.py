# SPDX-License-Identifier: MIT
"""The camera-fed estimator's people given identities: one frame's placed people -> the association
(association.py, the same one the refiner runs) -> one track id per person.

Shared by the `pose_estimator` node and `stride-ros estimate`, so a live camera and a file publish the
same ids. Each placed person goes in with its joints, confidence and BlazePose's 2D joints (the
association's image-overlap cue); a person BlazePose found but the placement could not put in
front of the camera gets no id (it is not published).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..vision.estimator import FrameEstimate
from .association import Associator, Person


@dataclass
class Identified:
    """One frame's identities, aligned with `FrameEstimate.people`."""
    ids: list[int | None]  # None: not placed, or not tracked (see untracked)
    untracked: list[str] = field(default_factory=list)  # the association's reason for each placed person left out


def identify(assoc: Associator, stamp: float, frame: FrameEstimate) -> Identified:
    """Call once per frame, also for a frame with nobody (tracks then coast, and expire in time)."""
    placed = [k for k, e in enumerate(frame.people) if e.found]
    people = [Person(frame.people[k].poses, frame.people[k].confidence, None, frame.people[k].keypoints_px)
              for k in placed]
    res = assoc.associate(stamp, people)
    out = Identified([None] * len(frame.people))
    for k, key, reason in zip(placed, res.keys, res.reasons):
        out.ids[k] = key
        if key is None:
            out.untracked.append(reason or "untracked")
    return out
