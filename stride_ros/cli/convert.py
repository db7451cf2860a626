# SPDX-License-Identifier: MIT
"""`stride-ros convert`: CMU BVH motion capture -> a pose-sequence .npz (17 joints, metres, Y up)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import InputError
from .common import out_path, positive_float

HELP = "BVH motion capture -> pose-sequence .npz (17 joints, metres)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="a .bvh file")
    p.add_argument("-o", "--output", required=True, help="output .npz")
    p.add_argument("--fps", type=positive_float, default=30.0, help="output frame rate (default 30)")


def run(a: argparse.Namespace) -> int:
    from ..data.bvh import load_h36m
    from ..data.mocap import list_clips
    from ..data.posefile import PoseSequence, save_poses

    out = out_path(a.output, [a.input], ".npz")
    fps_in = None
    try:
        fps_in = {c.path.resolve(): c.fps for c in list_clips()}.get(Path(a.input).resolve())
    except InputError:
        pass
    poses, fps = load_h36m(a.input, fps_out=a.fps, fps_in=fps_in)
    if len(poses) == 0:
        raise InputError(f"{a.input}: no frames at {a.fps:g} fps")
    save_poses(out, PoseSequence(poses, fps), protect=(Path(a.input),))
    print(f"{out}: {len(poses)} frames at {fps:g} fps (17 joints, metres, Y up)")
    return 0
