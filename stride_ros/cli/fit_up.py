# SPDX-License-Identifier: MIT
"""`stride-ros fit-up`: fit the pose-to-gravity map the canonical frame uses when no floor is given."""
from __future__ import annotations

import argparse
import json

from .common import int_list, out_path, progress

HELP = "fit the map from a pose to the up direction (used without a floor; writes JSON)"
FAMILIES = "sim,lifting,uncalibrated,hfr_drops"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="motion-capture folder (default: $STRIDE_ROS_DATA)")
    p.add_argument("--families", default=FAMILIES,
                   help=f"estimator families to simulate (default {FAMILIES}: not blazepose, whose statistics "
                        "come from the real subject the fit is judged on)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--max-clips", type=lambda t: int_list(t, 1, "--max-clips")[0], default=None,
                   help="use only the first N training clips (default: all)")
    p.add_argument("-o", "--output", default=None, help="output .json (default: the packaged fit)")


def training_frames(clips: list, families: list[str], seed: int, bar=None):
    """Every complete frame of the training clips as each family's estimator gives it, with the simulated
    camera's floor normal (the up the map learns): poses [N, 17, 3], ups [N, 3]."""
    import numpy as np

    from ..core.timeseries import resample
    from ..data import zoo
    from ..data.simulator import simulate
    from ..eval.benchmark import EVAL_FPS

    rng = np.random.default_rng(seed)
    poses, ups = [], []
    for clip in clips:
        for family in families:
            if family == "sim":
                sim = simulate(clip.gt, EVAL_FPS, int(rng.integers(1 << 30)))
            else:
                fps = zoo.FAMILIES[family].fps
                gt = clip.gt if fps == EVAL_FPS else resample(clip.gt, EVAL_FPS, fps)
                sim = zoo.corrupt(family, gt, fps, rng, train=True)
            whole = np.isfinite(sim.poses).all((1, 2))
            poses.append(sim.poses[whole])
            ups.append(np.repeat(sim.floor().normal[None], int(whole.sum()), 0))
            if bar is not None:
                bar.update(1)
    return np.concatenate(poses), np.concatenate(ups)


def run(a: argparse.Namespace) -> int:
    from ..core.errors import InputError
    from ..core.gravity import MODEL_PATH, fit
    from ..data import zoo
    from ..eval.benchmark import clips_from_split

    families = [f for f in a.families.split(",") if f]
    unknown = [f for f in families if f not in zoo.FAMILIES]
    if unknown or not families:
        raise InputError(f"--families {a.families}: unknown {', '.join(unknown) or '(none given)'} "
                         f"(known: {', '.join(zoo.FAMILIES)})")
    out = out_path(a.output or str(MODEL_PATH), [], ".json")
    clips = clips_from_split("train", a.data, max_clips=a.max_clips)
    with progress(len(clips) * len(families), "simulating", "clip") as bar:
        poses, ups = training_frames(clips, families, a.seed, bar)
    model = fit(poses, ups)
    out.write_text(json.dumps(model.to_json()) + "\n")
    print(f"fitted on {len(poses)} complete frames of {len(clips)} training clips "
          f"({', '.join(families)}); wrote {out}")
    return 0
