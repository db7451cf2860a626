# SPDX-License-Identifier: MIT
"""Replaying a pose file through the streaming refiner, exactly as the node would receive it: one
person (`stream_sequence`, the output filled where the refiner had nothing yet) or several
(`stream_people`, the multi-person file form with the refiner's own ids)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError
from ..core.representation import usable
from ..data.posefile import PoseSequence
from ..model.backends import Backend
from ..model.dstformer import DSTformer
from .association import Person
from .refiner import RefinedFrame, StreamConfig, StreamingRefiner

log = logging.getLogger("stride_ros.stream.sequence")


def frame_persons(poses: np.ndarray, conf: np.ndarray) -> dict:
    """One frame of a single-person file as the node would see it: nobody, or one person."""
    if np.isnan(poses).all():
        return {}
    return {None: (poses, conf)}


def stream_sequence(model: DSTformer, seq: PoseSequence, cfg: StreamConfig,
                    backend: Backend | None = None, worker=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Replay a file through the streaming refiner; returns (poses [T,17,3], confidence [T,17], status).

    Frames are pushed with their stamps; what the refiner emits is written at the index of the frame
    it describes, and flush() supplies the last `lag` frames (the node would emit those only when
    more frames came). Frames the refiner dropped (bad stamps) are filled from their neighbours.
    With a lead (cfg.lead_s > 0) row i is instead the forecast made at frame i for its stamp + lead.
    """
    conf = seq.confidence_or_default()
    stamps = seq.stamps_or_default()
    present, _ = usable(seq.poses, conf)
    if not (present[:, 0] | (present[:, 1] & present[:, 4])).any():
        raise InputError("no frame can be refined: none shows the pelvis or both hips (the reference the "
                         "person is placed by)")
    refiner = StreamingRefiner(model, cfg, backend, worker)
    got: dict[int, RefinedFrame] = {}
    try:
        for i in range(len(seq)):
            res = refiner.push(float(stamps[i]), frame_persons(seq.poses[i], conf[i]), meta=i)
            for fr in (res.led if cfg.lead_s > 0 else res.frames):
                got[fr.meta] = fr
        for fr in refiner.flush() if cfg.lead_s <= 0 else ():
            got[fr.meta] = fr
    finally:
        refiner.close()
    T = len(seq)
    poses = np.full((T, 17, 3), np.nan, np.float32)
    out_conf = np.zeros((T, 17), np.float32)
    for i, fr in got.items():
        if fr.tracks:  # one person: the track that observed the most (a split-off one coasts meanwhile)
            tp = max(fr.tracks.values(), key=lambda tp: int(tp.observed.sum()))
            poses[i], out_conf[i] = tp.poses, tp.confidence
    missing = np.isnan(poses).any((1, 2))
    if missing.all():
        raise InputError("no frame could be refined: no frame shows the pelvis or both hips (the person's "
                         "reference point), or every frame was dropped")
    if missing.any():  # before the first detection, or dropped frames: nearest refined frame
        idx = np.flatnonzero(~missing)
        nearest = idx[np.clip(np.searchsorted(idx, np.arange(T)), 0, len(idx) - 1)]
        prev = idx[np.clip(np.searchsorted(idx, np.arange(T)) - 1, 0, len(idx) - 1)]
        use = np.where(np.abs(prev - np.arange(T)) <= np.abs(nearest - np.arange(T)), prev, nearest)
        poses[missing] = poses[use[missing]]
    return poses, out_conf, refiner.status()


@dataclass
class RefinedPeople:
    """Several people, frame by frame, with the refiner's own ids (the multi-person file form)."""
    poses: np.ndarray  # [T, M, 17, 3] float32, an all-NaN slot = nobody
    confidence: np.ndarray  # [T, M, 17]
    track_ids: np.ndarray  # [T, M] int64, -1 = empty slot
    status: dict


def people_of(seq: PoseSequence, keypoints_px: np.ndarray | None = None) -> list[list[Person]]:
    """Each frame's people as the node would receive them: one person per filled slot, with the
    file's track id when it has them (several-people form) and the 2D keypoints when known."""
    conf = seq.confidence_or_default()
    poses = seq.poses if seq.several else seq.poses[:, None]
    conf = conf if seq.several else conf[:, None]
    kp = None if keypoints_px is None else (keypoints_px if seq.several else keypoints_px[:, None])
    out = []
    for t in range(len(seq)):
        frame = []
        for k in range(poses.shape[1]):
            if np.isnan(poses[t, k]).all():
                continue
            tid = int(seq.track_ids[t, k]) if seq.track_ids is not None and seq.track_ids[t, k] >= 0 else None
            frame.append(Person(poses[t, k], conf[t, k], tid, None if kp is None else kp[t, k]))
        out.append(frame)
    return out


def stream_people(model: DSTformer, frames: list[list[Person]], stamps: np.ndarray, cfg: StreamConfig,
                  backend: Backend | None = None, worker=None) -> RefinedPeople:
    """Several people through the streaming refiner, exactly as the node would publish them (every
    live track in every frame, with the refiner's ids); flush() supplies the last `lag` frames."""
    refiner = StreamingRefiner(model, cfg, backend, worker)
    got: dict[int, RefinedFrame] = {}
    try:
        for i, people in enumerate(frames):
            for fr in refiner.push(float(stamps[i]), people, meta=i).frames:
                got[fr.meta] = fr
        for fr in refiner.flush():
            got[fr.meta] = fr
    finally:
        refiner.close()
    T = len(frames)
    M = max([len(fr.tracks) for fr in got.values()] + [1])
    poses = np.full((T, M, 17, 3), np.nan, np.float32)
    conf = np.zeros((T, M, 17), np.float32)
    ids = np.full((T, M), -1, np.int64)
    for i, fr in got.items():
        for k, tid in enumerate(sorted(fr.tracks)):
            tp = fr.tracks[tid]
            poses[i, k], conf[i, k], ids[i, k] = tp.poses, tp.confidence, tid
    return RefinedPeople(poses, conf, ids, refiner.status())
