# SPDX-License-Identifier: MIT
"""rosbag2 files without a ROS graph (the `rosbags` library): test-bag generation and offline replay.

`write_sim_bag` turns motion through the estimator simulator into a bag of what the upstream
estimator would publish (PointCloud2 on /human_pose, per the interface contract: README and CONTRACT) plus
the ground truth on a
separate topic. `replay_bag` runs the streaming refiner over a bag in bag time (the same code as the
node) and writes a new bag with every input topic, the refined topic and its markers; when the bag
holds ground truth it scores the refined output and the One Euro baseline against it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from .cloud import CloudError, cloud_to_people, cloud_to_persons, make_cloud
from .markers import rosbags_kit, skeleton_markers
from .stamps import sec_nanosec, stamp_of

log = logging.getLogger("stride_ros.ros.bags")

POINTCLOUD2 = "sensor_msgs/msg/PointCloud2"
MARKER_ARRAY = "visualization_msgs/msg/MarkerArray"


def _typestore():
    try:
        from rosbags.typesys import Stores, get_typestore
    except ImportError:
        raise InputError("the 'rosbags' package is needed for bags: pip install 'stride_ros[bags]'") from None
    return get_typestore(Stores.ROS2_KILTED)


def _storage(name: str):
    from rosbags.rosbag2 import StoragePlugin
    try:
        return {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}[name]
    except KeyError:
        raise InputError(f"storage {name!r}: expected mcap or sqlite3") from None


def _header(ts, stamp: float, frame_id: str):
    t = ts.types
    sec, ns = sec_nanosec(stamp)
    return t["std_msgs/msg/Header"](stamp=t["builtin_interfaces/msg/Time"](sec=sec, nanosec=ns),
                                    frame_id=frame_id)


def _storage_of(bag: Path) -> str:
    """The bag's storage format, from its metadata.yaml (falling back to the file suffix)."""
    import yaml
    try:
        info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        return {"mcap": "mcap", "sqlite3": "sqlite3"}.get(info.get("storage_identifier"), "mcap")
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return "sqlite3" if list(bag.glob("*.db3")) else "mcap"


def check_bag_path(path: str | Path) -> Path:
    """A bag that exists and looks like one: a rosbag2 folder (with its metadata.yaml) or a single .mcap/.db3
    file. Anything else is one clear line before the reader's own message ("Expected metadata file ...")."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such bag")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        raise InputError(f"{path}: is not a rosbag2 folder (no metadata.yaml)")
    if path.is_file() and path.suffix not in (".mcap", ".db3"):
        raise InputError(f"{path}: is not a rosbag2 (expected a bag folder with metadata.yaml, or an .mcap/.db3 file)")
    return path


def bag_topics(path: str | Path) -> dict[str, str]:
    """{topic: message type} of a bag, or one clear InputError when it cannot be read."""
    from rosbags.rosbag2 import Reader
    path = check_bag_path(path)
    try:
        with Reader(path) as r:
            return {c.topic: c.msgtype for c in r.connections}
    except Exception as e:  # noqa: BLE001 - any unreadable bag is an input error
        raise InputError(f"{path}: not a readable rosbag2 ({type(e).__name__}: {e})") from None


def write_sim_bag(path: str | Path, people: list[tuple[np.ndarray, np.ndarray, np.ndarray]], fps: float,
                  storage: str = "mcap", input_topic: str = "/human_pose", gt_topic: str = "/human_pose_gt",
                  frame_id: str = "camera_color_optical_frame", start: float = 1_700_000_000.0) -> Path:
    """people: [(poses [T,17,3] NaN = missing, confidence [T,17], ground truth [T,17,3])], one track each."""
    from rosbags.rosbag2 import Writer
    path = Path(path)
    if path.exists():
        raise InputError(f"{path}: already exists (rosbag2 writes a new folder)")
    ts = _typestore()
    PC2, PF = ts.types[POINTCLOUD2], ts.types["sensor_msgs/msg/PointField"]
    T = min(len(p[0]) for p in people)
    with Writer(path, version=9, storage_plugin=_storage(storage)) as w:
        c_in = w.add_connection(input_topic, POINTCLOUD2, typestore=ts)
        c_gt = w.add_connection(gt_topic, POINTCLOUD2, typestore=ts)
        for t in range(T):
            stamp = start + t / fps
            header = _header(ts, stamp, frame_id)
            seen = [(tid, p[0][t], p[1][t]) for tid, p in enumerate(people) if not np.isnan(p[0][t]).all()]
            msg = make_cloud(PC2, PF, header, seen, numpy_data=True)
            ns = int(round(stamp * 1e9))
            w.write(c_in, ns, ts.serialize_cdr(msg, POINTCLOUD2))
            gt = [(tid, p[2][t], np.ones(17, np.float32)) for tid, p in enumerate(people)]
            w.write(c_gt, ns, ts.serialize_cdr(make_cloud(PC2, PF, header, gt, numpy_data=True), POINTCLOUD2))
    return path


@dataclass
class ReplayReport:
    frames_in: int = 0
    frames_out: int = 0
    dropped: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)  # method -> summary (only with ground truth)
    storage: str = ""
    seconds: float = 0.0


def replay_bag(in_path: str | Path, out_path: str | Path, model, lag: int = 0, input_topic: str = "/human_pose",
               gt_topic: str | None = "/human_pose_gt", output_topic: str = "/human_pose_refined",
               storage: str | None = None, backend=None, adapt: bool = False, fps: float = 30.0,
               progress: bool = False) -> ReplayReport:
    import time

    from rosbags.rosbag2 import Reader, Writer

    from ..stream.refiner import StreamConfig, StreamingRefiner

    in_path, out_path = check_bag_path(in_path), Path(out_path)
    if out_path.exists():
        raise InputError(f"{out_path}: already exists (refusing to overwrite; rosbag2 writes a new folder)")
    if out_path.resolve() == in_path.resolve():
        raise InputError(f"{out_path}: refusing to overwrite the input bag")
    ts = _typestore()
    PC2, PF = ts.types[POINTCLOUD2], ts.types["sensor_msgs/msg/PointField"]
    kit = rosbags_kit(ts)
    t0 = time.perf_counter()
    report = ReplayReport()
    try:
        reader = Reader(in_path)
        reader.open()
    except Exception as e:  # noqa: BLE001 - any unreadable bag is an input error
        raise InputError(f"{in_path}: not a readable rosbag2 ({type(e).__name__}: {e})") from None
    try:
        conns = {c.topic: c for c in reader.connections}
        if input_topic not in conns:
            raise InputError(f"{in_path}: no topic {input_topic} (topics: {', '.join(sorted(conns)) or 'none'})")
        if conns[input_topic].msgtype != POINTCLOUD2:
            raise InputError(f"{in_path}: {input_topic} is {conns[input_topic].msgtype}, expected {POINTCLOUD2}")
        fmt = storage or _storage_of(in_path)
        report.storage = fmt
        refiner = StreamingRefiner(model, StreamConfig(lag=lag, fps=fps, adapt=adapt), backend)
        gt: dict[float, np.ndarray] = {}
        inputs: dict[float, tuple[np.ndarray, np.ndarray]] = {}
        refined: dict[float, np.ndarray] = {}
        with Writer(out_path, version=9, storage_plugin=_storage(fmt)) as w:
            out_conns = {c.topic: w.add_connection(c.topic, c.msgtype, typestore=ts) for c in reader.connections}
            c_ref = w.add_connection(output_topic, POINTCLOUD2, typestore=ts)
            c_mk = w.add_connection(output_topic + "/markers", MARKER_ARRAY, typestore=ts)

            def write_out(frames, log_ns):
                for fr in frames:
                    persons = [(int(tid), tp.poses, tp.confidence) for tid, tp in fr.tracks.items()]
                    cloud = make_cloud(PC2, PF, fr.meta, persons, numpy_data=True)
                    w.write(c_ref, log_ns, ts.serialize_cdr(cloud, POINTCLOUD2))
                    mk = skeleton_markers(kit, fr.meta, [(int(t), tp.poses, tp.confidence, tp.observed)
                                                         for t, tp in fr.tracks.items()])
                    w.write(c_mk, log_ns, ts.serialize_cdr(mk, MARKER_ARRAY))
                    report.frames_out += 1
                    if 0 in fr.tracks:
                        refined[stamp_of(fr.meta)] = fr.tracks[0].poses

            last_ns = 0
            for conn, log_ns, raw in reader.messages():
                w.write(out_conns[conn.topic], log_ns, raw)
                last_ns = log_ns
                if conn.topic == gt_topic:
                    msg = ts.deserialize_cdr(raw, conn.msgtype)
                    people = cloud_to_persons(msg)
                    if 0 in people:
                        gt[stamp_of(msg.header)] = people[0][0]
                if conn.topic != input_topic:
                    continue
                msg = ts.deserialize_cdr(raw, conn.msgtype)
                report.frames_in += 1
                try:
                    persons = cloud_to_people(msg)
                except CloudError as e:
                    refiner.dropped[e.reason] += 1  # the message never reached the refiner: counted beside its own
                    continue
                first = next((p for p in persons if p.track_id in (0, None)), None)
                if first is not None:
                    inputs[stamp_of(msg.header)] = (first.poses, np.ones(17, np.float32) if first.confidence is None
                                                    else first.confidence)
                write_out(refiner.push(stamp_of(msg.header), persons, meta=msg.header).frames, log_ns)
            write_out(refiner.flush(), last_ns)
        refiner.close()
        report.dropped = dict(refiner.dropped)
    finally:
        reader.close()
    if gt and refined:
        report.metrics = score_against_gt(gt, refined, inputs, fps)
    report.seconds = time.perf_counter() - t0
    return report


def score_against_gt(gt: dict, refined: dict, inputs: dict, fps: float) -> dict:
    """Metrics of the refined track 0, of the raw input (held through gaps) and of One Euro on the
    same input, on the frames all cover; `abs_seen`: absolute error on frames the person was seen."""
    from ..eval import metrics
    from ..eval.baselines import one_euro, raw_held

    stamps = sorted(s for s in gt if s in refined)
    if len(stamps) < 3:
        return {}
    G = np.stack([gt[s] for s in stamps])
    R = np.stack([refined[s] for s in stamps])
    P = np.stack([inputs.get(s, (np.full((17, 3), np.nan, np.float32), np.zeros(17, np.float32)))[0] for s in stamps])
    C = np.stack([inputs.get(s, (None, np.zeros(17, np.float32)))[1] for s in stamps])
    seen = ~np.isnan(P).all((1, 2))
    rows = {"refined": R}
    if seen.any():
        rows = {"raw": raw_held(P, C, fps), "refined": R, "one_euro": one_euro(P, C, fps)}
    out: dict = {}
    for name, X in rows.items():
        e = metrics.per_frame_errors(X, G)
        out[name] = metrics.summarize([e], [np.ones(len(G), bool)])
        out[name]["abs_seen"] = float(e["abs"][seen].mean()) if seen.any() else float("nan")
    out["frames"] = len(stamps)
    return out
