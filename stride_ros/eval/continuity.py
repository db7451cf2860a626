# SPDX-License-Identifier: MIT
"""Does each id stay one person? Checked without ground truth, on what a camera user has: the
several-people pose arrays (poses [T, N, 17, 3], track_ids [T, N], -1 = empty slot) that
`stride-ros video` writes and the live demo receives.

A robot that sees a person teleport, or one person under two names, acts on a wrong world. Two
things give that away without knowing who is who:

- a jump: one id's pelvis (else the midpoint of its hips) moves more than `JUMP_M` between two
  consecutive frames in which the id is present. At 30 frames/s 0.5 m is 15 m/s, beyond any body:
  the id passed from one person to another, or two bodies were blended into one.
- a double: an id that first appears within `DOUBLE_M` of another id present in the same frame.
  One person is then listed twice (found afresh while the old id still coasts), or one id took
  over someone else's place. Two people who enter the view an arm's length apart look the same,
  which is rare on one camera and is counted all the same: the count is an upper bound.

Ids that appear after the first frame or end before the last are listed too, without being
counted as switches: people do walk in and out of view.

`paired_quality` compares raw and refined per person, for the same viewer: each refined id against
the estimator's person with the same id (the refiner keeps the estimator's ids unless one jumps
where no body can go), pooled over people weighted by the frames the estimator found each in.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .tracking import locate

JUMP_M = 0.5  # a pelvis moving further than this between consecutive frames is no body's motion
DOUBLE_M = 1.0  # a new id born this close to another id's pelvis is suspected to be the same person


def by_id(poses: np.ndarray, track_ids: np.ndarray) -> dict[int, np.ndarray]:
    """{id: [T, 17, 3]} from the several-people form, NaN in frames without that id; ids in order."""
    out: dict[int, np.ndarray] = {}
    for tid in np.unique(track_ids[track_ids >= 0]):
        one = np.full((len(poses), *poses.shape[2:]), np.nan, np.float32)
        t, k = np.nonzero(track_ids == tid)
        one[t] = poses[t, k]
        out[int(tid)] = one
    return out


@dataclass
class IdSpan:
    """One id over the sequence."""
    track_id: int
    first: int  # first frame it is present in
    last: int  # last frame it is present in
    frames: int  # frames present
    max_jump_m: float  # largest pelvis move between consecutive frames present (0: never two in a row)
    max_jump_frame: int  # the later frame of that move (-1: none)
    jumps: list[int] = field(default_factory=list)  # later frames of every move above the threshold
    first_at: tuple[float, float, float] = (np.nan,) * 3  # its pelvis in its first frame (m)
    last_at: tuple[float, float, float] = (np.nan,) * 3  # ... and in its last


@dataclass
class Continuity:
    """Every id's span, the jumps and doubles found (module docstring), and people per frame."""
    ids: list[IdSpan]
    doubles: list[tuple[int, int, int]]  # (frame, the new id, the id it appeared next to)
    people: np.ndarray  # [T] ids present per row (frame)
    frame_numbers: np.ndarray  # [T] the frame number of each row
    jump_m: float = JUMP_M
    double_m: float = DOUBLE_M
    steps: str = "consecutive frames"  # what two neighbouring rows are, in what is reported

    @property
    def jumps(self) -> int:
        return sum(len(s.jumps) for s in self.ids)

    @property
    def switches(self) -> int:
        """Id switches noticed: jumps plus doubles."""
        return self.jumps + len(self.doubles)

    def entered(self) -> list[IdSpan]:
        """Ids that appear after the first frame anyone is present in."""
        on = np.flatnonzero(self.people > 0)
        return [s for s in self.ids if len(on) and s.first > self.frame_numbers[on[0]]]

    def left(self) -> list[IdSpan]:
        """Ids that end before the last frame anyone is present in."""
        on = np.flatnonzero(self.people > 0)
        return [s for s in self.ids if len(on) and s.last < self.frame_numbers[on[-1]]]

    def as_dict(self) -> dict:
        return {"ids": {str(s.track_id): {"first": s.first, "last": s.last, "frames": s.frames,
                                          "max_jump_m": s.max_jump_m, "max_jump_frame": s.max_jump_frame,
                                          "jump_frames": s.jumps, "first_at": list(s.first_at),
                                          "last_at": list(s.last_at)} for s in self.ids},
                "jumps": self.jumps, "doubles": [list(d) for d in self.doubles], "switches": self.switches,
                "jump_threshold_m": self.jump_m, "double_threshold_m": self.double_m,
                "entered": [s.track_id for s in self.entered()], "left": [s.track_id for s in self.left()]}

    def describe_ids(self) -> str:
        """One clause per id: frames present (first-last), its largest pelvis jump and where."""
        return "; ".join(f"id {s.track_id}: {s.frames} frames ({s.first}-{s.last}), largest pelvis jump "
                         f"{s.max_jump_m:.2f} m" + (f" (frame {s.max_jump_frame})" if s.max_jump_frame >= 0 else "")
                         for s in self.ids) or "no id"

    def describe_switches(self) -> str:
        """The switches noticed, each named, with how they are defined."""
        what = [f"{self.jumps} jump{'' if self.jumps == 1 else 's'} (an id's pelvis moving more than "
                f"{self.jump_m:g} m between {self.steps}"
                + (": " + ", ".join(f"id {s.track_id} at frame{'s' if len(s.jumps) > 1 else ''} "
                                    + ", ".join(map(str, s.jumps[:5])) + (" ..." if len(s.jumps) > 5 else "")
                                    for s in self.ids if s.jumps) if self.jumps else "") + ")",
                f"{len(self.doubles)} double{'' if len(self.doubles) == 1 else 's'} (a new id appearing within "
                f"{self.double_m:g} m of a present one"
                + (": " + ", ".join(f"id {n} next to id {o} at frame {t}" for t, n, o in self.doubles[:5])
                   if self.doubles else "") + ")"]
        return f"{self.switches} id switches noticed: " + ", ".join(what)


def continuity(poses: np.ndarray, track_ids: np.ndarray, jump_m: float = JUMP_M, double_m: float = DOUBLE_M,
               frame_numbers: np.ndarray | None = None, steps: str = "consecutive frames") -> Continuity:
    """Jumps, doubles and spans of every id in a several-people sequence (module docstring). Rows are
    consecutive frames; frame_numbers [T] names each row in what is reported (default: its index),
    e.g. the camera frame each received message belongs to when the estimator skipped some (then
    `steps` says what neighbouring rows are, e.g. "consecutive refined messages": a jump is then
    measured between them, a stricter test than between frames)."""
    fn = np.arange(len(poses)) if frame_numbers is None else np.asarray(frame_numbers, int)
    tracks = by_id(poses, track_ids)
    where = {tid: locate(p.astype(np.float64)) for tid, p in tracks.items()}  # [T, 3] each
    present = {tid: np.isfinite(w).all(-1) for tid, w in where.items()}
    spans = []
    for tid, w in where.items():
        on = present[tid]
        idx = np.flatnonzero(on)
        if not len(idx):
            continue
        pair = on[1:] & on[:-1]
        step = np.full(len(on) - 1, np.nan)
        step[pair] = np.linalg.norm(w[1:][pair] - w[:-1][pair], axis=-1)
        if pair.any():
            k = int(np.nanargmax(step))
            biggest, at = float(step[k]), int(fn[k + 1])
        else:
            biggest, at = 0.0, -1
        jumps = [int(fn[k + 1]) for k in np.flatnonzero(np.nan_to_num(step, nan=0.0) > jump_m)]
        spans.append(IdSpan(tid, int(idx[0]), int(idx[-1]), int(on.sum()), biggest, at, jumps,
                            tuple(float(v) for v in w[idx[0]]), tuple(float(v) for v in w[idx[-1]])))
    doubles = []
    for s in spans:
        t = s.first
        for other, w in where.items():
            if other != s.track_id and present[other][t] and (
                    np.linalg.norm(w[t] - where[s.track_id][t]) < double_m):
                doubles.append((int(fn[t]), s.track_id, other))
                break
    for s in spans:  # rows -> frame numbers, once the rows are no longer needed
        s.first, s.last = int(fn[s.first]), int(fn[s.last])
    people = sum((p.astype(int) for p in present.values()), np.zeros(len(poses), int))
    return Continuity(spans, sorted(doubles), people, fn, jump_m, double_m, steps)


def paired_quality(raw_poses: np.ndarray, raw_ids: np.ndarray, ref_poses: np.ndarray, ref_ids: np.ndarray,
                   min_frames: int = 3) -> tuple[dict[str, float], dict[int, dict[str, float]]]:
    """Raw vs refined (vision/quality.py `compare`) per person and pooled (module docstring): (pooled,
    {id: compare()}); ids the estimator found in fewer than `min_frames` frames are left out, and the
    pooled values are NaN when no id is left."""
    from ..vision.quality import compare
    raw = by_id(raw_poses, raw_ids)
    per: dict[int, dict[str, float]] = {}
    weights: list[int] = []
    for tid, ref in by_id(ref_poses, ref_ids).items():
        r = raw.get(tid)
        if r is None:
            continue
        seen = ~np.isnan(r).any((1, 2))
        if seen.sum() < min_frames:
            continue
        q = compare(r, ref)
        if all(np.isfinite(v) for v in q.values()):
            per[tid] = q
            weights.append(int(seen.sum()))
    keys = ("accel_raw", "accel_refined", "bones_raw", "bones_refined")
    if not per:
        return {k: float("nan") for k in keys}, per
    return {k: float(np.average([v[k] for v in per.values()], weights=weights)) for k in keys}, per
