# SPDX-License-Identifier: MIT
"""Replaying a pose file through the streaming refiner, exactly as the node would receive it."""
from __future__ import annotations

import logging

import numpy as np

from ..core.errors import InputError
from ..core.representation import usable
from ..data.posefile import PoseSequence
from ..model.backends import Backend
from ..model.dstformer import DSTformer
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
        if fr.tracks:
            tp = next(iter(fr.tracks.values()))
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
