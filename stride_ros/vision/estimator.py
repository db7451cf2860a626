# SPDX-License-Identifier: MIT
"""One frame in, every placed person out: BlazePose -> 17 joints -> absolute placement -> self-check,
per person. Shared by `stride-ros estimate`/`video` and the `pose_estimator` node, so a file and a
live camera give the same numbers.

One person (max_people 1) runs MediaPipe's legacy single-person graph (`blazepose.py`); several run
its Tasks PoseLandmarker (`multipose.py`). Both run the same two models: with one person the Tasks
path found the same person in the same frames of the Sports2D clip (221 of 230, hip centres 2 px
apart), at the same speed (12.5 vs 12.3 ms per 1768x994 frame, 2-core CPU) and jitter, but only the
legacy graph lets its landmark smoothing be turned off (`--no-smoothing`) and it needs no bundle,
so it stays the single-person path. Each person is placed on their own (`place_landmarks`); who is
who across frames is decided by the caller (stream/association.py, one layer up).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..core.floor import Floor
from ..core.skeleton import NUM_JOINTS
from .blazepose import BlazePose, Landmarks
from .camera import Intrinsics
from .landmarks import NUM_LANDMARKS, joint_confidence, to_joints
from .placement import (
    DISTANCE_RANGE_M,
    HEIGHT_RANGE_M,
    body_height,
    on_rays,
    place,
    plausibility_issues,
    reprojection_px,
)

# One person unless asked for more: the single-person estimator costs about half the CPU time per frame of
# the multi-person one with one person in view and a third with two (720p, `stride-ros bench --estimator`),
# which keeps the camera chain within its frame budget; `--max-people` / the node's `max_people` ask for more.
DEFAULT_MAX_PEOPLE = 1


@dataclass
class Estimate:
    """What the estimator says about one frame. `poses` None: nobody found (or not placeable)."""
    poses: np.ndarray | None  # [17, 3] float32, camera optical frame, metres
    confidence: np.ndarray  # [17] float32 (zeros when nobody)
    keypoints_px: np.ndarray  # [17, 2] BlazePose's own 2D joints (NaN when nobody)
    reproj_px: float = float("nan")  # the rigid fit's mean |projected 3D joint - 2D joint| over seen joints
    height_m: float = float("nan")
    distance_m: float = float("nan")  # camera to pelvis
    seconds: float = 0.0  # time spent on the frame
    issues: list[str] = field(default_factory=list)  # implausible height/distance, failed placement
    landmarks: Landmarks | None = None  # what BlazePose gave for this person (None: nobody)
    ground_scale: float = 1.0  # the floor's scale applied to the placement (1: no floor, or no usable foot)

    @property
    def found(self) -> bool:
        return self.poses is not None


def nobody(seconds: float = 0.0, issues: list[str] | None = None) -> Estimate:
    return Estimate(None, np.zeros(NUM_JOINTS, np.float32), np.full((NUM_JOINTS, 2), np.nan, np.float32),
                    seconds=seconds, issues=issues or [])


def place_landmarks(lm: Landmarks, intr: Intrinsics, floor: Floor | None = None) -> Estimate:
    """The geometric half: landmarks -> absolute joints and their self-check (no model involved). With a
    floor (in the camera's optical frame) the placed body is scaled about the camera centre to stand on
    it (grounding.py): its distance then rests on the floor, not on BlazePose's idea of its size."""
    K = intr.K
    placement = place(lm.world, lm.image, lm.visibility, K)
    if not placement.ok:
        failed = nobody(issues=["placement failed (no solution in front of the camera)"])
        failed.landmarks = lm
        return failed
    points = placement.apply(lm.world)
    scale = 1.0
    if floor is not None:
        from .grounding import ground_scale
        scale = ground_scale(points, floor) or 1.0
    fitted = to_joints(points) * scale
    conf = joint_confidence(lm.visibility)
    kp = to_joints(lm.image)
    joints = on_rays(fitted, kp, K)  # sideways the image is right; the self-check is the rigid fit's
    height, distance = body_height(joints), float(np.linalg.norm(joints[0]))
    return Estimate(joints.astype(np.float32), conf, kp.astype(np.float32), reprojection_px(fitted, kp, conf, K),
                    height, distance, issues=plausibility_issues(height, distance), landmarks=lm,
                    ground_scale=scale)


@dataclass
class FrameEstimate:
    """Everyone the estimator found in one frame, the most visible first."""
    people: list[Estimate]  # one per person BlazePose found; `found` False: it could not be placed
    seconds: float  # time spent on the frame (all people)

    @property
    def placed(self) -> list[Estimate]:
        return [e for e in self.people if e.found]


class PoseEstimator:
    """BlazePose plus placement, for up to `max_people` people per frame. Not thread-safe: one caller
    at a time (the node's worker thread). With several people: `tiles` splits a wide frame into square
    tiles (multipose.py), `cache` is where the model bundle is kept (bundle.py; default the user's cache)."""

    def __init__(self, video: bool = True, smooth: bool = True, min_detection: float = 0.5,
                 min_tracking: float = 0.5, max_people: int = 1, tiles: bool = True, cache=None,
                 floor: Floor | None = None):
        self.max_people = max_people
        self.floor = floor  # in the camera's optical frame; the node updates it from TF between frames
        if max_people == 1:
            self.model = BlazePose(video=video, smooth=smooth, min_detection=min_detection,
                                   min_tracking=min_tracking)
        else:
            from .multipose import MultiPose
            self.model = MultiPose(max_people, video=video, min_detection=min_detection, min_tracking=min_tracking,
                                   tiles=tiles, cache=cache)

    @property
    def duplicates(self) -> int:
        """Skeletons MediaPipe reported twice (or across two people) and that were dropped, so far."""
        return getattr(self.model, "duplicates", 0)

    def people(self, rgb: np.ndarray, intr: Intrinsics, stamp: float | None = None) -> FrameEstimate:
        """rgb [H, W, 3] uint8 RGB; stamp: capture time (s; frames in order). Everyone found, placed."""
        t0 = time.perf_counter()
        if self.max_people == 1:
            lm = self.model(rgb)
            found = [] if lm is None else [lm]
        else:
            found = self.model(rgb, stamp)
        people = [place_landmarks(lm, intr, self.floor) for lm in found]
        seconds = time.perf_counter() - t0
        for e in people:
            e.seconds = seconds
        return FrameEstimate(people, seconds)

    def __call__(self, rgb: np.ndarray, intr: Intrinsics, stamp: float | None = None) -> Estimate:
        """The most visible person only (or nobody, with why when BlazePose saw someone it could not place)."""
        frame = self.people(rgb, intr, stamp)
        est = frame.people[0] if frame.people else nobody()
        est.seconds = frame.seconds
        return est

    def close(self) -> None:
        self.model.close()


def _landmark_arrays(shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    return {"world": np.full((*shape, NUM_LANDMARKS, 3), np.nan, np.float32),
            "image": np.full((*shape, NUM_LANDMARKS, 2), np.nan, np.float32),
            "visibility": np.zeros((*shape, NUM_LANDMARKS), np.float32)}


def _put_landmarks(arrays: dict[str, np.ndarray], index, lm: Landmarks | None) -> None:
    if lm is not None:
        arrays["world"][index], arrays["image"][index], arrays["visibility"][index] = lm.world, lm.image, lm.visibility


@dataclass
class Series:
    """Per-frame estimates of a clip as arrays: the pose file's contract keys plus the self-check.

    One person: [T, ...] (the single-person pose file). Several: [T, N, ...] with `track_ids` [T, N]
    (the multi-person form; -1 = empty slot). `world`, `image`, `visibility` keep what BlazePose gave
    before placement, in the same slots (the landmarks file), also for a person it could not place."""
    poses: np.ndarray  # [T, (N,) 17, 3] float32, NaN where nobody was found
    confidence: np.ndarray  # [T, (N,) 17] float32, 0 where nobody
    keypoints_px: np.ndarray  # [T, (N,) 17, 2] float32
    reproj_px: np.ndarray  # [T, (N)] float32 (NaN where nobody)
    height_m: np.ndarray  # [T, (N)]
    distance_m: np.ndarray  # [T, (N)]
    seconds: np.ndarray  # [T] estimator time per frame
    implausible: np.ndarray  # [T, (N)] bool: found, but height or distance implausible
    track_ids: np.ndarray | None = None  # [T, N] int64, -1 = empty slot (several people only)
    world: np.ndarray | None = None  # [T, (N,) 33, 3] BlazePose's world landmarks (m, hip-centred)
    image: np.ndarray | None = None  # [T, (N,) 33, 2] its image landmarks (px)
    visibility: np.ndarray | None = None  # [T, (N,) 33]

    @classmethod
    def of(cls, estimates: list[Estimate]) -> "Series":
        T = len(estimates)
        poses = np.full((T, NUM_JOINTS, 3), np.nan, np.float32)
        lms = _landmark_arrays((T,))
        for i, e in enumerate(estimates):
            if e.found:
                poses[i] = e.poses
            _put_landmarks(lms, i, e.landmarks)
        f32 = lambda vals: np.array(vals, np.float32)  # noqa: E731
        return cls(poses, np.stack([e.confidence for e in estimates]).astype(np.float32),
                   np.stack([e.keypoints_px for e in estimates]).astype(np.float32),
                   f32([e.reproj_px for e in estimates]), f32([e.height_m for e in estimates]),
                   f32([e.distance_m for e in estimates]), np.array([e.seconds for e in estimates]),
                   np.array([e.found and bool(e.issues) for e in estimates]), **lms)

    @classmethod
    def of_people(cls, frames: list[FrameEstimate], ids: list[list[int | None]]) -> "Series":
        """Several people: `ids[t][k]` is the identity of `frames[t].people[k]` (None: not tracked).
        Each frame's slots hold the tracked people by increasing id, then anyone BlazePose found but
        nobody placed or tracked (landmarks only: poses NaN, id -1)."""
        slots = []
        for fr, keys in zip(frames, ids):
            tracked = sorted(((k, e) for e, k in zip(fr.people, keys) if k is not None and e.found),
                             key=lambda ke: ke[0])
            slots.append(tracked + [(-1, e) for e, k in zip(fr.people, keys) if k is None or not e.found])
        T, N = len(frames), max([1, *(len(s) for s in slots)])
        poses = np.full((T, N, NUM_JOINTS, 3), np.nan, np.float32)
        conf = np.zeros((T, N, NUM_JOINTS), np.float32)
        kp = np.full((T, N, NUM_JOINTS, 2), np.nan, np.float32)
        per = {k: np.full((T, N), np.nan, np.float32) for k in ("reproj_px", "height_m", "distance_m")}
        implausible = np.zeros((T, N), bool)
        tids = np.full((T, N), -1, np.int64)
        lms = _landmark_arrays((T, N))
        for t, row in enumerate(slots):
            for n, (k, e) in enumerate(row):
                _put_landmarks(lms, (t, n), e.landmarks)
                if k < 0:
                    continue
                poses[t, n], conf[t, n], kp[t, n], tids[t, n] = e.poses, e.confidence, e.keypoints_px, k
                per["reproj_px"][t, n], per["height_m"][t, n], per["distance_m"][t, n] = (
                    e.reproj_px, e.height_m, e.distance_m)
                implausible[t, n] = bool(e.issues)
        return cls(poses, conf, kp, per["reproj_px"], per["height_m"], per["distance_m"],
                   np.array([fr.seconds for fr in frames]), implausible, tids, **lms)

    @property
    def several(self) -> bool:
        """The multi-person form ([T, N, ...])."""
        return self.poses.ndim == 4

    @property
    def placed(self) -> np.ndarray:
        """[T] or [T, N] bool: a placed person in this frame (slot)."""
        return ~np.isnan(self.poses).any((-1, -2))

    @property
    def found(self) -> np.ndarray:
        """[T] bool: anyone placed in the frame."""
        return self.placed.any(1) if self.several else self.placed

    @property
    def people(self) -> np.ndarray:
        """[T] int: people placed per frame."""
        return self.placed.sum(1) if self.several else self.placed.astype(int)

    def extras(self) -> dict[str, np.ndarray]:
        """The self-check arrays a pose file keeps beside the contract's keys."""
        return {"keypoints_px": self.keypoints_px, "reproj_px": self.reproj_px, "height_m": self.height_m,
                "distance_m": self.distance_m}

    def summary(self) -> dict[str, float]:
        f, p = self.found, self.placed
        med = lambda x: float(np.median(x[p])) if p.any() else float("nan")  # noqa: E731
        return {"frames": int(len(f)), "found": int(f.sum()),
                "several": int((self.people >= 2).sum()), "most": int(self.people.max(initial=0)),
                "ids": int(len(np.unique(self.track_ids[self.track_ids >= 0]))) if self.track_ids is not None else 0,
                "reproj_px_mean": float(np.mean(self.reproj_px[p])) if p.any() else float("nan"),
                "reproj_px_max": float(np.max(self.reproj_px[p])) if p.any() else float("nan"),
                "height_m_median": med(self.height_m), "distance_m_median": med(self.distance_m),
                "implausible": int(self.implausible.sum()),
                "fps": float(1.0 / np.mean(self.seconds)) if len(f) and np.mean(self.seconds) > 0 else float("nan")}

    def summary_line(self) -> str:
        s = self.summary()
        if not s["found"]:
            return f"nobody found in any of {s['frames']} frames"
        several = (f"two or more people in {s['several']} frames (at most {s['most']}), {s['ids']} track ids; "
                   if self.several else "")
        return (f"{s['found']} of {s['frames']} frames with a person ({100 * s['found'] / s['frames']:.0f}%); "
                f"{several}reprojection {s['reproj_px_mean']:.1f} px mean (max {s['reproj_px_max']:.1f}); "
                f"height {s['height_m_median']:.2f} m, distance {s['distance_m_median']:.2f} m (medians); "
                f"{implausible_note(s['implausible'])}; estimator {s['fps']:.1f} frames/s")


def implausible_note(n: int) -> str:
    """How many placements failed the self-check, and what that check is (they are kept, not dropped)."""
    if not n:
        return "every placement plausible"
    (h0, h1), (d0, d1) = HEIGHT_RANGE_M, DISTANCE_RANGE_M
    return (f"{n} frame{'' if n == 1 else 's'} placed implausibly (height outside {h0:g}-{h1:g} m or distance "
            f"outside {d0:g}-{d1:g} m: kept, flagged in height_m/distance_m)")
