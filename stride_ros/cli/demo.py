# SPDX-License-Identifier: MIT
"""`stride-ros demo`: the whole system on its embedded defaults, over real DDS (README's first command)."""
from __future__ import annotations

import argparse

from .common import _number, nonneg_int, positive_float

HELP = ("the whole system on its defaults: node + simulated 30 Hz stream over DDS, scored against One Euro "
        "(PNG + mcap bag)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--motion", help="ground-truth .bvh/.npz (default: a built-in generated walk)")
    p.add_argument("--video", help="a video file or a stream URL (rtsp://, http(s)://) instead: the camera chain live "
                   "(image publisher -> pose_estimator -> refiner over DDS), reporting coverage, latency, estimator "
                   "rate and jitter raw vs refined")
    p.add_argument("--camera", type=nonneg_int, metavar="N",
                   help="a camera instead (V4L2/webcam device N, /dev/videoN): the same chain on it for --seconds")
    p.add_argument("--image-transport", choices=("raw", "compressed"), default="compressed",
                   help="--video: the camera sends JPEG (sensor_msgs/CompressedImage, the default: a 720p "
                   "frame moves in 2 ms instead of 14-66 ms raw; docs/camera.md) or raw images (sensor_msgs/Image); "
                   "the estimator subscribes to the same")
    from ..vision.multipose import MAX_PEOPLE
    p.add_argument("--max-people", type=_number(int, 1, hi=MAX_PEOPLE, what="people count"), default=1, metavar="N",
                   help="--video/--camera: the pose_estimator finds up to N people per image (its max_people); the "
                   "report adds people found per frame, the refined ids and the id switches it noticed "
                   "(default 1)")
    p.add_argument("--seconds", type=positive_float, default=20.0, help="length of the session (default 20)")
    p.add_argument("--lag", type=nonneg_int, default=0, help="the node's output lag in frames")
    p.add_argument("--out", default="stride_demo", help="folder for the PNG, the bag and the node log")
    p.add_argument("--model", help="prior checkpoint (default: the shipped one)")
    p.add_argument("--seed", type=int, default=0)


def run(a: argparse.Namespace) -> int:
    if a.max_people > 1 and not (a.video or a.camera is not None):
        from ..core.errors import InputError
        raise InputError("--max-people: only with --video or --camera (the simulated stream has one person)")
    from ..ros.demo import run_demo
    from .common import check_lag, load_model

    check_lag(load_model(a.model), a.lag)  # the node would refuse it: say so here, in one line
    if a.video or a.camera is not None:
        from ..core.errors import InputError
        from ..ros.video_demo import run_video_demo
        if a.motion:
            raise InputError("--motion and --video/--camera exclude each other (a video brings its own motion)")
        if a.max_people > 1:
            from .common import check_estimator
            check_estimator(a.max_people)  # the model bundle built here, not in the node: one line if it cannot be
        run_video_demo(video=a.video, seconds=a.seconds, lag=a.lag, out_dir=a.out, model=a.model,
                       image_transport=a.image_transport, camera=a.camera, max_people=a.max_people)
        return 0
    run_demo(motion=a.motion, seconds=a.seconds, lag=a.lag, out_dir=a.out, model=a.model, seed=a.seed)
    return 0
