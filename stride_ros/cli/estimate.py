# SPDX-License-Identifier: MIT
"""`stride-ros estimate`: the camera-fed estimator alone on a video, stream or camera -> a contract pose file.

What the `pose_estimator` node would publish for each frame, computed by the same code: absolute
17-joint poses in the camera's optical frame (metres), NaN where nobody was found, BlazePose's
visibility as confidence, stamps = frame index / fps (a live source: each frame's arrival time, s since
the epoch; `fps` then is the rate the source states). Beside the contract's keys the file keeps the
placement's self-check per frame (reproj_px, height_m, distance_m), BlazePose's own 2D joints
(keypoints_px) and the intrinsics used, so any frame's placement can be audited later.

`--max-people N` (N > 1): every person found, in the multi-person form (poses [T, N, 17, 3],
confidence [T, N, 17], track_ids [T, N], -1 = empty slot), the ids from the association the
refiner and the node run. `--landmarks L.npz` also records what BlazePose gave before placement
(a landmarks file, data/landmarkfile.py), in the same slots, with the camera, so the chain can be
replayed without the video.
"""
from __future__ import annotations

import argparse

import numpy as np

from .common import (
    add_estimator_args,
    add_source_args,
    check_estimator,
    estimate_video,
    open_source,
    out_path,
    video_intrinsics,
)

HELP = "the camera-fed estimator (MediaPipe BlazePose) on a video file, a stream or a camera -> absolute poses (.npz)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("-o", "--output", required=True, help="output .npz pose file (never the input)")
    p.add_argument("--landmarks", metavar="L.npz",
                   help="also write BlazePose's raw output (a landmarks file: world and image landmarks, visibility, "
                   "K, image size, fps), which `refine`, `evaluate` and `video` accept like a pose file")
    add_estimator_args(p)


def run(a: argparse.Namespace) -> int:
    from pathlib import Path

    from ..core.errors import InputError
    from ..data.posefile import PoseSequence, save_poses

    inputs = [a.video] if a.video else []
    out = out_path(a.output, inputs, ".npz")
    lm_out = out_path(a.landmarks, inputs, ".npz") if a.landmarks else None
    if lm_out is not None and lm_out.resolve() == out.resolve():
        raise InputError(f"--landmarks {a.landmarks}: the same file as -o (two different files are written)")
    check_estimator(a.max_people)  # installed? the bundle for several people? (one line if not)
    cap = open_source(a.video, a.camera, a.max_frames)  # the last check before any work: a frame came
    try:
        intr = video_intrinsics(a.intrinsics, cap.width, cap.height, cap.source.name)
    except BaseException:
        cap.close()
        raise
    series = estimate_video(cap, intr, smooth=not a.no_smoothing, limit=a.max_frames, max_people=a.max_people,
                            tiles=not a.no_tiles, floor=a.floor)
    T = len(series.poses)
    stamps = np.asarray(cap.stamps[:T], np.float64)
    protect = tuple(Path(p) for p in inputs)
    ids = {"track_ids": series.track_ids} if series.several else {}
    save_poses(out, PoseSequence(series.poses, cap.fps, series.confidence, stamps), protect=protect,
               intrinsics=intr.as_array(), image_size=np.array([cap.width, cap.height]), **ids, **series.extras())
    if lm_out is not None:
        from ..data.landmarkfile import LandmarkSequence, save_landmarks
        save_landmarks(lm_out, LandmarkSequence(series.world, series.image, series.visibility, intr.K,
                                                (cap.width, cap.height), cap.fps, track_ids=series.track_ids),
                       protect=protect)
    print(f"estimate: {cap.describe()}; {series.summary_line()}")
    if cap.live and T > 1:
        print(f"estimate: {T} frames in {stamps[-1] - stamps[0]:.1f} s ({(T - 1) / (stamps[-1] - stamps[0]):.1f} "
              f"frames/s; {cap.skipped} camera frames skipped while the estimator was busy)")
    if cap.stop_reason:
        print(f"estimate: warning: {cap.stop_reason}; kept the {T} frames estimated")
    print(f"intrinsics: {intr.describe()}" + ("; lens distortion ignored" if intr.distortion_ignored else ""))
    print(f"wrote {out}")
    if lm_out is not None:
        print(f"wrote {lm_out}")
    return 0
