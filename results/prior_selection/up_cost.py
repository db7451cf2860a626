"""What the canonical frame's up costs a streamed prior: each prior at stream lag 0 (no adaptation, no
floor contacts), pelvis-relative MPJPE on the zoo's clips, with the canonical up the node uses without a
floor (estimated from the pose: `core/gravity.py`; before it, the torso line) and with the simulated
camera's floor normal as up (what the node uses whenever it is given a floor, `StreamConfig.floor_up`).

    STRIDE_ROS_DATA=../shared/data/mocap python results/prior_selection/up_cost.py REFERENCE.pt [FAMILY ...]

Same clips and corruption draw as the held-out run (`evaluate_prior.sh`: validation clips, 20, seed 0);
REFERENCE (e.g. v2, `git show 7e704df:models/stride_small.pt`) runs in its own frame; the shipped prior
both ways. A diagnostic: nothing here is chosen.
"""
import sys

import numpy as np
import torch

import stride_ros.stream.refiner as refiner
from stride_ros.core.canonical import Canonicaliser
from stride_ros.data.posefile import PoseSequence
from stride_ros.eval.benchmark import clips_from_split, simulated_cases
from stride_ros.model.checkpoint import load_model
from stride_ros.stream.refiner import StreamConfig
from stride_ros.stream.sequence import stream_sequence

FAMILIES = ("sim", "blazepose", "lifting", "uncalibrated", "hfr_drops")


def streamed_mpjpe(model, sim, up: np.ndarray | None) -> np.ndarray:
    """Per-frame pelvis-relative error of the lag-0 stream, with the canonical up fixed to `up` (None: estimated)."""
    class FixedUp(Canonicaliser):
        def __init__(self, *a, **k):
            super().__init__(*a, **{**k, "fixed_up": up})
    refiner.Canonicaliser = FixedUp if up is not None else Canonicaliser
    try:
        out, _, _ = stream_sequence(model, PoseSequence(sim.poses, sim.fps, sim.confidence),
                                    StreamConfig(lag=0, fps=sim.fps))
    finally:
        refiner.Canonicaliser = Canonicaliser
    e = np.linalg.norm((out - out[:, :1]) - (sim.gt - sim.gt[:, :1]), axis=-1).mean(-1)
    return e[np.isfinite(e)]


def main(reference: str, families: list[str]) -> None:
    torch.set_num_threads(2)
    ref, shipped = load_model(reference), load_model(None)
    print(f"{'family':14s}{'reference':>12s}{'shipped, own up':>22s}{'shipped, floor up':>22s}")
    for family in families:
        errs: dict[str, list] = {"ref": [], "body": [], "floor": []}
        for c in simulated_cases(clips_from_split("val", max_clips=20), family, seed=0):
            up = c.sim.floor().normal
            errs["ref"].append(streamed_mpjpe(ref, c.sim, None))
            errs["body"].append(streamed_mpjpe(shipped, c.sim, None))
            errs["floor"].append(streamed_mpjpe(shipped, c.sim, up))
        m = {k: 1e3 * np.concatenate(v).mean() for k, v in errs.items()}
        print(f"{family:14s}{m['ref']:12.1f}{m['body']:14.1f} ({m['body'] / m['ref']:.3f}){m['floor']:14.1f} "
              f"({m['floor'] / m['ref']:.3f})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or list(FAMILIES))
