# SPDX-License-Identifier: MIT
"""Why even one person at a time, with true ids, is matched in only ~93 % of the frames they are in
view on the simulated crowds: the ceiling of IDF1 that no association can lift.

Each person of each crowd of `stride-ros evaluate --crowd` is streamed through the refiner alone with
their true ids (no association decision to get wrong) and every frame they are in view is put in one
bin: matched (published within the benchmark's 1 m of their pelvis), published more than 1 m away,
or not published; each split by whether the estimator reported the person in that frame (else they
were hidden by others and the track coasts). With `--floor` the refiner is given each scene's floor.

    STRIDE_ROS_DATA=../shared/data/mocap python results/crowd_ceiling.py --seed 0 --crowds 10 [--floor]
    (both, one after the other: results/crowd_ceiling.txt; ~3 min each here)
"""
from __future__ import annotations

import argparse
import logging
from collections import Counter

import numpy as np

from stride_ros.cli.common import make_backend
from stride_ros.core.floor import Floor
from stride_ros.data.crowd import crowd_clips, deliver, make_crowd
from stride_ros.eval.crowd import CrowdBenchConfig, stream_crowd
from stride_ros.eval.tracking import MATCH_M, locate
from stride_ros.model.checkpoint import default_model_path, load_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crowds", type=int, default=10, help="crowds per number of people (2 and 3)")
    p.add_argument("--floor", action="store_true", help="give the refiner each scene's floor")
    a = p.parse_args()
    logging.getLogger("stride_ros.stream.refiner").setLevel(logging.ERROR)
    model, backend = load_model(default_model_path()), make_backend("auto", "cpu")
    cfg = CrowdBenchConfig(seed=a.seed, crowds=a.crowds)
    clips = crowd_clips()
    bins: Counter[tuple[str, str]] = Counter()
    far_m: list[float] = []
    for n in cfg.people:
        for k in range(cfg.crowds):
            crowd = make_crowd(clips, n, cfg.seconds, cfg.crowd_seed(n, k))
            floor = Floor.from_values(crowd.floor, "crowd floor", origin_is_camera=True) if a.floor else None
            d = deliver(crowd, "true_ids")
            for person in range(n):
                pred, _, _ = stream_crowd(model, backend, d, d.track_ids, True, cfg.lag, only=person, floor=floor)
                truth = locate(crowd.gt[:, person])
                dist = np.linalg.norm(locate(pred) - truth[:, None], axis=-1)  # [T, published ids]
                best = np.min(np.where(np.isfinite(dist), dist, np.inf), axis=1)
                for t in np.flatnonzero(crowd.in_view[:, person]):
                    seen = "reported" if crowd.reported[t, person] else "hidden by others"
                    if not np.isfinite(best[t]):
                        bins[("not published", seen)] += 1
                    elif best[t] > MATCH_M:
                        bins[(f"over {MATCH_M:g} m", seen)] += 1
                        far_m.append(float(np.linalg.norm(truth[t])))
                    else:
                        bins[("matched", seen)] += 1
    total = sum(bins.values())
    print(f"{2 * cfg.crowds} crowds of {','.join(map(str, cfg.people))} people, seed {a.seed}, each person alone with "
          f"true ids, lag {cfg.lag}, {'with' if a.floor else 'without'} the floor; {total} person-frames in view")
    for (what, seen), v in sorted(bins.items()):
        print(f"{what:<14} {seen:<17} {v:6d} {100 * v / total:5.1f} %")
    if far_m:
        print(f"distance of the person where published over {MATCH_M:g} m away: median {np.median(far_m):.1f} m")


if __name__ == "__main__":
    main()
