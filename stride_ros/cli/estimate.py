# SPDX-License-Identifier: MIT
"""`stride-ros estimate`: the camera-fed estimator alone on a video file -> a pose file of the contract.

What the `pose_estimator` node would publish for each frame, computed by the same code: absolute
17-joint poses in the camera's optical frame (metres), NaN where nobody was found, BlazePose's
visibility as confidence, stamps = frame index / fps. Beside the contract's keys the file keeps the
placement's self-check per frame (reproj_px, height_m, distance_m), BlazePose's own 2D joints
(keypoints_px) and the intrinsics used, so any frame's placement can be audited later.
"""
from __future__ import annotations

import argparse

import numpy as np

from .common import add_estimator_args, estimate_video, out_path, video_intrinsics

HELP = "the camera-fed estimator (MediaPipe BlazePose) on a video file -> absolute poses (.npz)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", help="input video file (anything OpenCV decodes: mp4, avi, mkv, ...)")
    p.add_argument("-o", "--output", required=True, help="output .npz pose file (never the input)")
    add_estimator_args(p)


def run(a: argparse.Namespace) -> int:
    from ..data.posefile import PoseSequence, save_poses
    from ..vision.blazepose import import_mediapipe
    from ..vision.video import probe

    out = out_path(a.output, [a.video], ".npz")
    info = probe(a.video, a.max_frames)
    intr = video_intrinsics(a.intrinsics, info.width, info.height, f"{a.video}")
    import_mediapipe()  # installed? (one line if not) -- the last check before any work
    series = estimate_video(info, intr, smooth=not a.no_smoothing, limit=a.max_frames)
    T = len(series.poses)
    save_poses(out, PoseSequence(series.poses, info.fps, series.confidence, np.arange(T) / info.fps),
               protect=(a.video,), intrinsics=intr.as_array(), image_size=np.array([info.width, info.height]),
               **series.extras())
    print(f"estimate: {info.width}x{info.height} at {info.fps:g} fps"
          f"{' (not stated: assumed)' if info.fps_guessed else ''}; {series.summary_line()}")
    if info.frames and T < info.frames and a.max_frames is None:
        print(f"estimate: warning: the video ended after {T} of the {info.frames} frames its header states")
    print(f"intrinsics: {intr.describe()}" + ("; lens distortion ignored" if intr.distortion_ignored else ""))
    print(f"wrote {out}")
    return 0
