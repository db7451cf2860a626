"""How far the canonical frame's up is from gravity without a floor: the torso line against maps fitted
from the pose (`stride_ros/core/gravity.py`), mean angle to the floor's normal over frames, the up
averaged as the canonical frame averages it (2 s, weighted by the frame's mean confidence).

    export STRIDE_ROS_DATA=../shared/data/mocap STRIDE_ROS_REAL=../shared/data/real
    STRIDE_ROS_CHAIN=../shared/data/real_chain python results/prior_selection/up_angles.py

Fits on the first 60 training clips (training severities, seed 7); measures on training clips 60-79
(`sim`, `lifting`, `blazepose`, seed 3) and on the real BlazePose views (`real/` poses, the floor of the
same camera from `real_chain/`). The design table of docs/results.md ("Choosing the prior"); the shipped
fit is `stride-ros fit-up` (every training clip, four families).
"""
import os
from pathlib import Path

import numpy as np

from stride_ros.cli.fit_up import training_frames
from stride_ros.core.canonical import body_up
from stride_ros.core.gravity import UpRegressor, fit
from stride_ros.data.landmarkfile import load_landmarks
from stride_ros.eval.benchmark import clips_from_split, simulated_cases

FOUR = ("sim", "lifting", "uncalibrated", "hfr_drops")


def fitted(frames, drop: tuple[int, ...] = ()) -> UpRegressor:
    keep = np.ones(17, bool)
    keep[list(drop)] = False
    return fit(*frames, joints=keep if drop else None)


def mean_angle(poses: np.ndarray, conf: np.ndarray, up: np.ndarray, model: UpRegressor | None,
               fps: float = 30.0, tau_s: float = 2.0) -> list[float]:
    k0 = 1 - np.exp(-1 / (tau_s * fps))
    u, errs = None, []
    for p, c in zip(poses.astype(np.float64), conf):
        present = np.isfinite(p).all(-1) & (c > 0)
        p = np.nan_to_num(p)
        v = model.predict(p, present) if model is not None else None
        if v is None and ((present[0] and present[8]) or present[[1, 4, 11, 14]].all()):
            v = body_up(p, present)
        if v is not None:
            k = k0 * float(np.clip(np.mean(c[present]), 0, 1))
            u = v if u is None else (1 - k) * u + k * v
            u = u / np.linalg.norm(u)
        if u is not None:
            errs.append(float(np.degrees(np.arccos(np.clip(u @ up, -1, 1)))))
    return errs


def main() -> None:
    train = clips_from_split("train")
    dev = {f: simulated_cases(train[60:80], f, seed=3) for f in ("sim", "lifting", "blazepose")}
    real_dir, chain_dir = Path(os.environ["STRIDE_ROS_REAL"]), Path(os.environ["STRIDE_ROS_CHAIN"])
    real = []
    for path in sorted(chain_dir.glob("*.in.npz")):
        with np.load(real_dir / path.name) as d:
            real.append((d["poses"], d["confidence"], load_landmarks(path).floor.normal))
    four, five = training_frames(train[:60], FOUR, 7), training_frames(train[:60], ("sim", "blazepose", *FOUR[1:]), 7)
    variants = {"torso line": None, "fitted, four families, all joints": fitted(four),
                "fitted, four families, without joints 9/10": fitted(four, (9, 10)),
                "fitted, five families, all joints": fitted(five)}
    print(f"{'degrees':46s}{'sim':>8s}{'lifting':>9s}{'blazepose':>11s}{'real':>8s}")
    for name, model in variants.items():
        row = [np.mean(sum((mean_angle(c.sim.poses, c.sim.confidence, c.sim.floor().normal, model, c.sim.fps)
                            for c in cs), [])) for cs in dev.values()]
        row.append(np.mean(sum((mean_angle(p, c, up, model) for p, c, up in real), [])))
        print(f"{name:46s}" + "".join(f"{v:{w}.2f}" for v, w in zip(row, (8, 9, 11, 8))), flush=True)


if __name__ == "__main__":
    main()
