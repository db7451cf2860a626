"""The published position on the zoo's families at the node's defaults: Abs on fully seen frames
against the estimator's own, without and with the simulated camera's floor, and how many frames
carry a published person beyond the one there is (a phantom track). `oracle ankle`: the floor again, with
`GroundParams.ankle_m` set per clip to the truth's resting ankle height (the median height of the lowest
true ankle while it moves slower than 0.3 m/s), which no running system knows: what the floor would give
if the person's ankle height were known, the one thing contacts cannot separate from a scale error.

    STRIDE_ROS_DATA=../shared/data/mocap python results/zoo_position.py uncalibrated 20 [train]

Same clips and seed as `stride-ros evaluate --family F --max-clips 20` (the validation clips; `train`: the
first training clips instead, for choosing a design without looking at the judged ones); the stream is
`stream.sequence.stream_sequence` with `StreamConfig(lag=0)` (no adaptation), as the node runs.
"""
import sys

import numpy as np
import torch

from stride_ros.core.floor import Floor
from stride_ros.data.posefile import PoseSequence
from stride_ros.eval.benchmark import clips_from_split, simulated_cases
from stride_ros.model.checkpoint import load_model
from stride_ros.stream.grounding import ANKLES, GroundParams
from stride_ros.stream.refiner import StreamConfig, StreamingRefiner
from stride_ros.stream.sequence import stream_sequence


def resting_ankle_height(gt: np.ndarray, floor: Floor, fps: float) -> float:
    """The truth's resting ankle height: median height of the lowest ankle in frames it is still."""
    ankles = gt[:, list(ANKLES)]
    speed = np.r_[np.inf, np.linalg.norm(np.diff(ankles, axis=0), axis=-1).min(-1) * fps]
    return float(np.median(floor.height(ankles).min(-1)[speed < 0.3]))


def main(family: str, n: int, split: str = "val") -> None:
    torch.set_num_threads(1)
    model = load_model(None)
    extra = [0]
    counting = [True]  # phantoms are counted in the node's two rows (without and with the floor)
    push = StreamingRefiner.push

    def counting_push(self, *a, **k):  # every published person beyond the first is a phantom here
        res = push(self, *a, **k)
        extra[0] += counting[0] * sum(max(0, len(fr.tracks) - 1) for fr in res.frames)
        return res
    StreamingRefiner.push = counting_push
    errs: dict[str, list] = {"raw": [], "stream": [], "floor": [], "oracle": []}
    frames = 0
    for c in simulated_cases(clips_from_split(split, max_clips=n), family, seed=0):
        sim = c.sim
        full = ~sim.occluded.any(-1) & np.isfinite(sim.poses).all((1, 2))
        errs["raw"].append(np.linalg.norm(sim.poses - sim.gt, axis=-1).mean(-1)[full])
        floor = sim.floor()
        oracle = GroundParams(ankle_m=resting_ankle_height(sim.gt, floor, sim.fps))
        for key, fl, ground in (("stream", None, GroundParams()), ("floor", floor, GroundParams()),
                                ("oracle", floor, oracle)):
            counting[0] = key != "oracle"
            out, _, _ = stream_sequence(model, PoseSequence(sim.poses, sim.fps, sim.confidence),
                                        StreamConfig(lag=0, fps=sim.fps, floor=fl, ground=ground))
            errs[key].append(np.linalg.norm(out - sim.gt, axis=-1).mean(-1)[full])
        frames += 2 * len(sim.gt)
    m = {k: 1e3 * np.concatenate(v).mean() for k, v in errs.items()}
    print(f"{family}: Abs on fully seen frames raw {m['raw']:.1f} mm, stream lag 0 {m['stream']:.1f} "
          f"({m['stream'] / m['raw']:.3f}), with the floor {m['floor']:.1f} ({m['floor'] / m['raw']:.3f}), "
          f"oracle ankle {m['oracle']:.1f} ({m['oracle'] / m['raw']:.3f}); "
          f"phantom track-frames {extra[0]} of {frames}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20, sys.argv[3] if len(sys.argv) > 3 else "val")
