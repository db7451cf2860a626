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
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.resources import process_tree
from ..core.timeseries import MODEL_FPS
from .demo import _domain, _env
from .lifecycle import stop_children

WARMUP_S = 300.0  # memory is compared from here on (caches, sessions, the adaptation child settle)
WINDOW_S = 300.0  # the envelope's windows: several bursts each


def _sample(root: int, t: float) -> dict:
    """One memory sample of the node's process tree: totals and each process by role."""
    procs = process_tree(root)
    return {"t": round(t, 2), "rss_mb": sum(p.rss_mb for p in procs), "anon_mb": sum(p.anon_mb for p in procs),
            "file_mb": sum(p.file_mb for p in procs),
            "processes": [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in p.as_dict().items()}
                          for p in procs]}


def _by_role(samples: list[dict]) -> dict[str, dict[str, list[float]]]:
    """role -> {"rss_mb": [...], "anon_mb": [...], "file_mb": [...]} over the samples (0 when absent)."""
    roles = sorted({p["role"] for s in samples for p in s["processes"]})
    out = {}
    for role in roles:
        out[role] = {k: [sum(p[k] for p in s["processes"] if p["role"] == role) for s in samples]
                     for k in ("rss_mb", "anon_mb", "file_mb")}
    return out


def memory_report(samples: list[dict], warmup_s: float = WARMUP_S, window_s: float = WINDOW_S) -> dict:
    """Growth after warm-up of the tree and of each process, resident / anonymous / file-backed.

    Strict: the highest sample against the first one after warm-up. Envelope: each `window_s` window's
    peak and floor against the first window's. Adaptation bursts raise the child's memory while they
    train and hand it back after (release_free_heap), so single samples swing by the size of a burst:
    a leak is a rising envelope, a burst is not."""
    if not samples:
        return {}
    t = np.array([s["t"] for s in samples])
    start = min(warmup_s, t.max() / 2)
    after = t >= start
    window = np.floor((t[after] - start) / window_s).astype(int)

    def growth(series) -> dict:
        a = np.asarray(series, float)[after]
        first = float(a[0])
        out = {"after_warmup_first": first, "max_after_warmup": float(a.max()), "last": float(a[-1]),
               "growth": float(a.max() / max(first, 1e-9) - 1), "growth_mb": float(a.max() - first)}
        full = [w for w in np.unique(window) if (window == w).sum() >= 2]
        if len(full) >= 2:
            peaks = np.array([a[window == w].max() for w in full])
            floors = np.array([a[window == w].min() for w in full])
            out.update(window_peaks=peaks.tolist(), window_floors=floors.tolist(),
                       peak_growth=float(peaks[1:].max() / max(peaks[0], 1e-9) - 1),
                       floor_growth=float(floors[1:].max() / max(floors[0], 1e-9) - 1))
        return out

    rep = {"tree": {k: growth([s[k] for s in samples]) for k in ("rss_mb", "anon_mb", "file_mb")}}
    rep["by_role"] = {role: {k: growth(v) for k, v in series.items()} for role, series in _by_role(samples).items()}
    return rep


def plot_memory(samples: list[dict], png: Path) -> None:
    """Resident memory of each process over the soak (anonymous solid, file-backed dashed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    t = np.array([s["t"] for s in samples]) / 60
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, (role, series) in enumerate(_by_role(samples).items()):
        c = f"C{i}"
        ax.plot(t, series["anon_mb"], color=c, label=f"{role}: anonymous")
        ax.plot(t, series["file_mb"], color=c, ls="--", label=f"{role}: file-backed")
    ax.plot(t, [s["rss_mb"] for s in samples], color="k", lw=2, label="all (resident)")
    ax.axvline(WARMUP_S / 60, color="grey", ls=":", label="end of warm-up")
    ax.set_xlabel("minutes")
    ax.set_ylabel("MB")
    ax.set_title("node memory during the soak")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


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
    samples: list[dict] = []
    t_start = time.time()
    next_sample = t_start
    from tqdm import tqdm
    # the node starts (model, sessions, the adaptation process) before the publisher's clock runs
    bar = tqdm(total=int(seconds), desc="soak (after start-up)", unit="s",
               mininterval=0.5 if sys.stderr.isatty() else 30.0)
    try:
        while pub.poll() is None:
            ex.spin_once(timeout_sec=0.05)
            now = time.time()
            if now >= next_sample:
                samples.append(_sample(node.pid, now - t_start))
                next_sample += sample_s
                bar.update(min(int(now - t_start), bar.total) - bar.n)
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
    mem = memory_report(samples)
    tree = mem.get("tree", {}).get("rss_mb", {})
    report = {"minutes": minutes, "people": people, "adapt": adapt, "backend": backend, "frames_sent": sent,
              "frames_answered": got["frames"], "frames_with_every_person": got["complete"],
              "frames_nonfinite": got["nonfinite"], "warmup_s": WARMUP_S,
              "rss_mb_after_warmup_first": tree.get("after_warmup_first", float("nan")),
              "rss_mb_max_after_warmup": tree.get("max_after_warmup", float("nan")),
              "rss_mb_last": tree.get("last", float("nan")),
              "rss_growth": tree.get("growth", float("nan")),
              "rss_peak_growth": tree.get("peak_growth", float("nan")),
              "rss_floor_growth": tree.get("floor_growth", float("nan")),
              "memory": mem, "samples": samples}
    (out / "soak.json").write_text(json.dumps(report, indent=1))
    if samples:
        plot_memory(samples, out / "soak_memory.png")
    roles = "; ".join(f"{role} {g['rss_mb']['after_warmup_first']:.0f} -> max {g['rss_mb']['max_after_warmup']:.0f} MB "
                      f"(anonymous {g['anon_mb']['growth_mb']:+.0f}, file-backed {g['file_mb']['growth_mb']:+.0f})"
                      for role, g in mem.get("by_role", {}).items())
    print(f"soak: {minutes:g} min, {people} people, adaptation {'on' if adapt else 'off'}, {backend}: "
          f"{got['frames']} of {sent} frames answered, {got['complete']} with every person, "
          f"{got['nonfinite']} with a non-finite value; node RSS (process tree) "
          f"{report['rss_mb_after_warmup_first']:.0f} MB after warm-up, at most "
          f"{report['rss_mb_max_after_warmup']:.0f} MB ({100 * report['rss_growth']:+.1f} %), "
          f"{report['rss_mb_last']:.0f} MB at the end; {WINDOW_S / 60:g}-minute envelope: peaks "
          f"{100 * report['rss_peak_growth']:+.1f} %, floors {100 * report['rss_floor_growth']:+.1f} % over the first "
          f"window's; by process: {roles}; wrote {out / 'soak.json'}, "
          f"{out / 'soak_memory.png'}")
    return report


if __name__ == "__main__":
    sys.exit(publisher_main(sys.argv[1:]))
