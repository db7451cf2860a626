# SPDX-License-Identifier: MIT
"""`stride-ros soak`: the node left running, as on a robot: N people at 30 Hz for many minutes,
adaptation on, over real DDS; does every frame come back (every person in it, nothing NaN), and does
the node's memory (its process and its children) stay flat?

Three processes as in the demo: the real node, a publisher (N simulated people, their 2-minute walks
played forward and backward so the motion never jumps), and this process listening and sampling
the resident memory of the node's process tree from /proc every `sample_s` seconds.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.timeseries import MODEL_FPS
from .demo import _domain, _env
from .lifecycle import stop_children

WARMUP_S = 300.0  # memory is compared from here on (caches, sessions, the adaptation child settle)


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (MB), from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, float] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/status") as f:
                kb = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
        rss[int(d)] = kb / 1024
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0.0)
        todo += children.get(p, [])
    return total


def publisher_main(argv: list[str]) -> int:
    """Child process: N people for `seconds`, paced at 30 Hz, on /human_pose."""
    import rclpy
    from builtin_interfaces.msg import Time
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import PointCloud2, PointField
    from std_msgs.msg import Header

    from ..data.simulator import SimulatorConfig, simulate
    from ..data.synthetic import synthetic_walk
    from .cloud import make_cloud
    from .stamps import sec_nanosec
    people, seconds = int(argv[0]), float(argv[1])
    sims = [simulate(synthetic_walk(120.0, MODEL_FPS, seed=k), MODEL_FPS, seed=50 + k,
                     cfg=SimulatorConfig(distance_m=(3.5, 3.5))) for k in range(people)]
    shifts = [np.array([1.2 * k * (-1) ** k, 0.0, 0.5 * k], np.float32) for k in range(people)]
    rclpy.init()
    node = rclpy.create_node("stride_soak_publisher")
    qos = QoSProfile(depth=30, reliability=QoSReliabilityPolicy.RELIABLE)
    pub = node.create_publisher(PointCloud2, "/human_pose", qos)
    end = time.time() + 60
    while pub.get_subscription_count() < 2 and time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(1.0)
    n = int(seconds * MODEL_FPS)
    T = len(sims[0].poses)
    start = time.perf_counter()
    t0 = time.time()
    for i in range(n):
        while time.perf_counter() < start + i / MODEL_FPS:
            time.sleep(0.0005)
        k = i % (2 * T - 2)
        t = k if k < T else 2 * T - 2 - k  # forward, then backward: the motion never jumps
        sec, ns = sec_nanosec(t0 + i / MODEL_FPS)
        header = Header(stamp=Time(sec=sec, nanosec=ns), frame_id="camera_color_optical_frame")
        persons = [(p, s.poses[t] + shifts[p], s.confidence[t]) for p, s in enumerate(sims)
                   if not np.isnan(s.poses[t]).all()]
        pub.publish(make_cloud(PointCloud2, PointField, header, persons))
    time.sleep(1.0)
    node.destroy_node()
    rclpy.try_shutdown()
    print(json.dumps({"sent": n}))
    return 0


def run_soak(minutes: float, people: int, adapt: bool, out_dir: str, backend: str = "onnx",
             sample_s: float = 10.0) -> dict:
    try:
        import rclpy  # noqa: F401
    except ImportError:
        raise InputError("the soak needs ROS 2's rclpy: pip install 'stride_ros[ros]'") from None
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import PointCloud2

    from .cloud import cloud_to_array
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    domain = _domain()
    env = _env(domain)
    seconds = minutes * 60
    node_log = open(out / "node.log", "w")
    args = ["-p", f"adapt:={str(adapt).lower()}", "-p", f"backend:={backend}"]
    node = subprocess.Popen([sys.executable, "-m", "stride_ros.cli", "node", "--ros-args", *args], env=env,
                            stdout=node_log, stderr=subprocess.STDOUT, start_new_session=True)
    pub = subprocess.Popen([sys.executable, "-m", "stride_ros.ros.soak", str(people), str(seconds)], env=env,
                           stdout=subprocess.PIPE, start_new_session=True, text=True)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    lnode = rclpy.create_node("stride_soak_listener", context=ctx)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(lnode)
    got = {"frames": 0, "complete": 0, "nonfinite": 0}

    def on_refined(m):
        pts = cloud_to_array(m)
        got["frames"] += 1
        got["complete"] += int(len(set(pts["track_id"].tolist())) == people)
        got["nonfinite"] += int(not all(np.isfinite(pts[f]).all() for f in ("x", "y", "z", "confidence")))

    lnode.create_subscription(PointCloud2, "/human_pose_refined", on_refined,
                              QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE))
    samples: list[tuple[float, float]] = []
    t_start = time.time()
    next_sample = t_start
    from tqdm import tqdm
    bar = tqdm(total=int(seconds), desc="soak", unit="s", mininterval=0.5 if sys.stderr.isatty() else 30.0)
    try:
        while pub.poll() is None:
            ex.spin_once(timeout_sec=0.05)
            now = time.time()
            if now >= next_sample:
                samples.append((now - t_start, _tree_rss_mb(node.pid)))
                next_sample += sample_s
                bar.update(int(now - t_start) - bar.n)
            if node.poll() is not None:
                raise InputError(f"the node exited (code {node.returncode}); see {out / 'node.log'}")
        end = time.time() + 5
        while time.time() < end:
            ex.spin_once(timeout_sec=0.05)
    finally:
        bar.close()
        stop_children((pub, node))
        node_log.close()
        ex.shutdown()
        lnode.destroy_node()
        rclpy.shutdown(context=ctx)
    sent = json.loads((pub.stdout.read() or "{}").strip().splitlines()[-1] or "{}").get("sent", 0)
    t = np.array([s[0] for s in samples])
    rss = np.array([s[1] for s in samples])
    after = rss[t >= min(WARMUP_S, t.max() / 2)] if len(t) else rss
    report = {"minutes": minutes, "people": people, "adapt": adapt, "backend": backend, "frames_sent": sent,
              "frames_answered": got["frames"], "frames_with_every_person": got["complete"],
              "frames_nonfinite": got["nonfinite"],
              "rss_mb_after_warmup_first": float(after[0]) if len(after) else float("nan"),
              "rss_mb_last": float(rss[-1]) if len(rss) else float("nan"),
              "rss_mb_max_after_warmup": float(after.max()) if len(after) else float("nan"),
              "rss_samples": samples}
    report["rss_growth"] = report["rss_mb_max_after_warmup"] / max(report["rss_mb_after_warmup_first"], 1e-9) - 1
    (out / "soak.json").write_text(json.dumps(report, indent=1))
    print(f"soak: {minutes:g} min, {people} people, adaptation {'on' if adapt else 'off'}, {backend}: "
          f"{got['frames']} of {sent} frames answered, {got['complete']} with every person, "
          f"{got['nonfinite']} with a non-finite value; node RSS (process tree) "
          f"{report['rss_mb_after_warmup_first']:.0f} MB after warm-up, at most "
          f"{report['rss_mb_max_after_warmup']:.0f} MB ({100 * report['rss_growth']:+.1f} %), "
          f"{report['rss_mb_last']:.0f} MB at the end; wrote {out / 'soak.json'}")
    return report


if __name__ == "__main__":
    sys.exit(publisher_main(sys.argv[1:]))
