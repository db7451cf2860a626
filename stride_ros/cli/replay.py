# SPDX-License-Identifier: MIT
"""`stride-ros replay`: the refiner over a recorded rosbag2 (mcap or sqlite3), no ROS graph needed."""
from __future__ import annotations

import argparse

from ..core.errors import InputError
from .common import add_model_args, check_lag, load_model, make_backend, new_folder, nonneg_int

HELP = "run the refiner over a rosbag2 (mcap or sqlite3) into a new bag"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("bag", help="input bag folder")
    p.add_argument("-o", "--output", required=True, help="output bag folder (must not exist)")
    p.add_argument("--input-topic", default="/human_pose")
    p.add_argument("--gt-topic", default=None,
                   help="ground truth to score against (default: /human_pose_gt when the bag has it; "
                   "a topic named here must exist)")
    p.add_argument("--output-topic", default="/human_pose_refined")
    p.add_argument("--lag", type=nonneg_int, default=0, help="output lag in frames (0 = causal)")
    p.add_argument("--storage", choices=["mcap", "sqlite3"], help="output storage (default: the input's)")
    p.add_argument("--adapt", action="store_true", help="test-time adaptation in the background (default off)")
    add_model_args(p, device=True, backend=True)


def run(a: argparse.Namespace) -> int:
    from ..ros.bags import bag_topics, replay_bag

    new_folder(a.output, "output bag")
    topics = bag_topics(a.bag)
    if a.input_topic not in topics:
        raise InputError(f"{a.bag}: no topic {a.input_topic} (has {', '.join(sorted(topics)) or 'none'})")
    gt_topic = a.gt_topic
    if gt_topic is not None and gt_topic not in topics:
        raise InputError(f"--gt-topic {gt_topic}: not in {a.bag} (has {', '.join(sorted(topics))})")
    if gt_topic is None and "/human_pose_gt" in topics:
        gt_topic = "/human_pose_gt"
    model = load_model(a.model, a.device, threads=1)
    check_lag(model, a.lag)
    backend = make_backend(a.backend, a.device)
    rep = replay_bag(a.bag, a.output, model, lag=a.lag, input_topic=a.input_topic, gt_topic=gt_topic,
                     output_topic=a.output_topic, storage=a.storage, backend=backend, adapt=a.adapt)
    print(f"replayed {rep.frames_in} input frames -> {rep.frames_out} refined frames in {rep.seconds:.1f} s; "
          f"wrote {a.output} ({rep.storage}); dropped: {rep.dropped or 'none'}")
    if rep.metrics:
        print(f"against ground truth ({gt_topic}, {rep.metrics['frames']} frames; mm):")
        print(f"  {'method':<10} {'MPJPE':>8} {'PA-MPJPE':>9} {'Accel':>7} {'Abs':>8} {'Abs seen':>9}")
        for name in ("raw", "refined", "one_euro"):
            if name in rep.metrics:
                m = rep.metrics[name]
                print(f"  {name:<10} {m['mpjpe']:8.1f} {m['pa_mpjpe']:9.1f} {m['accel']:7.1f} {m['abs']:8.1f} "
                      f"{m.get('abs_seen', float('nan')):9.1f}")
    elif gt_topic is None:
        print("no ground truth in the bag (/human_pose_gt): not scored")
    return 0
