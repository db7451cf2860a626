# SPDX-License-Identifier: MIT
"""`stride-ros make-bag`: a test bag from motion through the estimator simulator (+ ground truth)."""
from __future__ import annotations

import argparse

import numpy as np

from .common import new_folder, positive_float, positive_int

HELP = "generate a test bag: motion -> estimator simulator -> /human_pose (+ ground truth)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("output", help="output bag folder (must not exist)")
    p.add_argument("--motion", help="ground-truth .bvh/.npz (default: the built-in generated walk)")
    p.add_argument("--seconds", type=positive_float, default=20.0)
    p.add_argument("--people", type=positive_int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")


def motion(path: str | None, seconds: float, seed: int) -> np.ndarray:
    """Ground-truth motion for generated data: a BVH/.npz file, else the built-in generated walk."""
    from ..core.timeseries import MODEL_FPS
    from ..data.synthetic import synthetic_walk
    from ..eval.benchmark import clips_from_paths

    if path:
        gt = clips_from_paths([path])[0].gt
        return gt[: int(seconds * MODEL_FPS)] if seconds else gt
    return synthetic_walk(seconds=seconds or 20.0, fps=MODEL_FPS, seed=seed)


def run(a: argparse.Namespace) -> int:
    from ..core.timeseries import MODEL_FPS
    from ..data.simulator import simulate
    from ..ros.bags import write_sim_bag

    new_folder(a.output, "output bag")
    people = []
    for k in range(a.people):
        gt = motion(a.motion, a.seconds, a.seed + k)
        sim = simulate(gt, MODEL_FPS, a.seed * 100 + k)
        if k:  # further people stand beside the first
            shift = np.array([1.2 * k * (-1) ** k, 0.0, 0.5 * k], np.float32)
            sim.poses, sim.gt = sim.poses + shift, sim.gt + shift
        people.append((sim.poses, sim.confidence, sim.gt))
    path = write_sim_bag(a.output, people, MODEL_FPS, storage=a.storage)
    print(f"wrote {path} ({a.storage}): {min(len(p[0]) for p in people)} frames, {a.people} person(s), "
          f"topics /human_pose and /human_pose_gt")
    return 0
