# SPDX-License-Identifier: MIT
"""`stride-ros demo --video VIDEO` / `--camera N`: the camera chain live, over real DDS, in four processes.

1. A camera process publishes the frames (sensor_msgs/Image, bgr8, + CameraInfo with the guessed
   intrinsics), stamped with their capture time: a video file's in real time at its rate; a camera's
   or a stream URL's as they arrive (vision/capture.py: a missing camera or a silent URL is one line
   before anything starts; a stream that stops ends the session early, and the report says so).
2. The `pose_estimator` node (its own process) turns each image it takes into /human_pose.
3. The refiner node (`stride-ros node`) turns /human_pose into /human_pose_refined.
4. This process listens to both and to /diagnostics, then reports coverage (frames sent,
   estimated, skipped because the estimator was busy, answered by the refiner), end-to-end latency
   (capture stamp -> refined message received), the estimator's rate, and jitter: Accel and
   bone-length variation of the raw vs the refined skeleton on the same frames, per person (each
   refined id against the estimator's person of the same id, pooled).
   And people: how many the estimator found per frame (`--max-people` N: up to N), the refined ids
   seen, and the id switches the listener noticed (eval/continuity.py: a refined id whose pelvis
   moves more than 0.5 m between consecutive refined messages, or a new id appearing within 1 m of
   a present one).

Frames wider than 1280 px are scaled down to that width first (a 720p camera): on a 2-core machine
a 5 MB image 30 times a second costs the Python publisher and DDS more than BlazePose costs the
estimator, and frames lost in transport would be measured instead of the chain. Images travel
RELIABLE for the same reason (best-effort UDP drops fragments of large messages under load); the
report still counts what DDS lost. The camera process decodes (and scales, and with
`image_transport="compressed"`, the default, JPEG-encodes) the frames before it starts publishing,
when they fit in `PREDECODE_BYTES`: a camera driver does not decode H.264, and decoding the clip live
took 0.49 of the chain's two cores (0.07 pre-decoded). JPEG because a raw 720p image (2.7 MB) took
14 ms at p50 and up to 66 ms to reach the estimator through rclpy and Fast DDS, whatever the
transport (docs/camera.md), a 0.1 MB JPEG 2 ms. The report breaks the latency into stages
and says how much CPU each process used. Everything goes to `--out` as logs and JSON, with what
the listener received as pose files on the camera's frame grid (`human_pose.npz`,
`human_pose_refined.npz`: the several-people form with the published track ids; a frame the
estimator skipped holds nobody).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from .demo import _domain, _env
from .lifecycle import stop_children

DIAG_PREFIX = "pose_estimator"
MAX_WIDTH = 1280  # frames wider than a 720p camera's are scaled down to it before publishing (see above)
SETTLE_S = 1.0  # the camera sends CameraInfo this long before the first frame (as a camera does)
JPEG_QUALITY = 90  # --image-transport compressed
PREDECODE_BYTES = 2 << 30  # the camera decodes up to this much video before it starts; beyond it, live


def camera_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """The video's size, scaled down (aspect kept, even numbers) to at most max_width pixels wide."""
    if width <= max_width:
        return width, height
    return max_width, 2 * round(height * max_width / width / 2)


def publisher_main(argv: list[str]) -> int:
    """Child process: publish a video as a camera would, in real time; write what was sent when."""
    import array

    import cv2
    import rclpy
    from builtin_interfaces.msg import Time
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    from std_msgs.msg import Header

    from ..vision.camera import guess_intrinsics
    from ..vision.capture import Capture, Source
    from ..vision.video import probe, read_frames
    from .stamps import sec_nanosec
    video, times_path, wait_s, limit, max_width = argv[0], argv[1], float(argv[2]), int(argv[3]), int(argv[4])
    predecode = argv[5] == "1" if len(argv) > 5 else True
    compressed = len(argv) > 6 and argv[6] == "compressed"
    kind = argv[7] if len(argv) > 7 else "file"
    cap = None
    if kind == "file":
        info = probe(video)
    else:  # a camera or a stream: frames as they come (no pre-decoding), the newest when the publisher is late
        cap = Capture(Source(kind, video))
        info = cap
    width, height = camera_size(info.width, info.height, max_width)
    K = guess_intrinsics(width, height).K
    rclpy.init()
    node = rclpy.create_node("stride_demo_camera")
    qos = QoSProfile(depth=2, reliability=QoSReliabilityPolicy.RELIABLE)
    pub_img = node.create_publisher(CompressedImage if compressed else Image,
                                    "/image_raw/compressed" if compressed else "/image_raw", qos)
    pub_info = node.create_publisher(CameraInfo, "/camera_info", qos)
    frame_id = "camera_color_optical_frame"

    def camera_info(header):
        return CameraInfo(header=header, width=width, height=height, distortion_model="plumb_bob",
                          d=[0.0] * 5, k=K.ravel().tolist(), p=np.c_[K, np.zeros(3)].ravel().tolist())

    end = time.time() + wait_s
    while pub_img.get_subscription_count() < 1 and time.time() < end:  # the estimator
        rclpy.spin_once(node, timeout_sec=0.05)
    settle = time.time() + SETTLE_S
    while time.time() < settle:
        pub_info.publish(camera_info(Header(frame_id=frame_id)))
        rclpy.spin_once(node, timeout_sec=0.1)

    def encode(frame):
        if width != info.width:
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)
        if compressed:  # as a camera delivering MJPEG, or image_transport's compressed plugin
            frame = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1]
        return array.array("B", frame.tobytes())

    def frames():  # (stamp or None: paced at the video's rate, bytes)
        if cap is not None:
            for f in cap.frames(limit):
                yield (f.stamp if cap.live else None), encode(f.bgr)
            return
        for frame in read_frames(info, limit):
            yield None, encode(frame)

    predecoded = cap is None and predecode and limit * width * height * 3 <= PREDECODE_BYTES
    source = list(frames()) if predecoded else frames()
    sent: dict[str, float] = {}
    cpu0 = time.process_time()
    t0 = time.time()
    start = time.perf_counter()
    for i, (arrived, data) in enumerate(source):
        while arrived is None and time.perf_counter() < start + i / info.fps:
            time.sleep(0.0005)
        stamp = t0 + i / info.fps if arrived is None else arrived
        sec, ns = sec_nanosec(stamp)
        header = Header(stamp=Time(sec=sec, nanosec=ns), frame_id=frame_id)
        pub_info.publish(camera_info(header))
        pub_img.publish(CompressedImage(header=header, format="jpeg", data=data) if compressed else
                        Image(header=header, height=height, width=width, encoding="bgr8", is_bigendian=0,
                              step=width * 3, data=data))
        sent[f"{stamp:.6f}"] = time.time()
    cpu = {"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - start, "predecoded": predecoded,
           "image_transport": "compressed" if compressed else "raw"}
    fps = info.fps
    if cap is not None:
        cap.close()
        cpu.update(source=str(cap.source), live=cap.live, skipped=cap.skipped, stop_reason=cap.stop_reason)
        if cap.live and len(sent) > 1:  # the rate that came, not the one the camera states
            times = sorted(float(k) for k in sent)
            fps = (len(times) - 1) / (times[-1] - times[0])
    Path(times_path).write_text(json.dumps({"t0": t0, "fps": fps, "sent": sent, "size": [width, height],
                                            "camera": cpu}))
    time.sleep(0.5)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def run_video_demo(video: str | None, seconds: float = 20.0, lag: int = 0, out_dir: str = "stride_demo",
                   model: str | None = None, max_width: int = MAX_WIDTH, predecode: bool = True,
                   image_transport: str = "compressed", camera: int | None = None, max_people: int = 1) -> dict:
    try:
        import rclpy  # noqa: F401
    except ImportError:
        raise InputError("the demo needs ROS 2's rclpy: pip install 'stride_ros[ros]' (pinned Kilted wheels) "
                         "or source a ROS 2 installation") from None
    from ..vision.blazepose import import_mediapipe
    from ..vision.capture import Capture, source_of
    from ..vision.video import probe
    src = source_of(video, camera)
    if src.kind == "file":
        info = probe(video)
        frames = info.frames
    else:  # opened once here, so a missing camera or a silent URL is one line before anything starts
        with Capture(src) as info:
            frames = info.frames_announced
    import_mediapipe()
    limit = max(1, min(int(seconds * info.fps), frames or 10**9))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    domain = _domain()
    env = _env(domain)
    w, h = camera_size(info.width, info.height, max_width)
    print(f"demo: {limit} frames ({limit / info.fps:.1f} s) of {src} as a live {w}x{h} camera at {info.fps:g} fps "
          f"({'JPEG, sensor_msgs/CompressedImage' if image_transport == 'compressed' else 'raw sensor_msgs/Image'}) "
          f"-> pose_estimator{f' (up to {max_people} people)' if max_people > 1 else ''} -> stride_refiner; "
          f"ROS_DOMAIN_ID={domain}")
    times_path = out / "camera_sent.json"  # what the camera process sent, when (written when it is done)
    times_path.unlink(missing_ok=True)
    logs = {name: open(out / f"{name}.log", "w") for name in ("estimator", "refiner")}
    py = sys.executable
    # as camera.launch.py: pose_estimator's joints lie on their viewing rays (stream/rays.py)
    refiner_args = [py, "-m", "stride_ros.cli", "node", "--ros-args", "-p", f"lag_frames:={lag}", "-p",
                    "camera_rays:=true"]
    if model:
        refiner_args += ["-p", f"model_path:={model}"]
    procs = {
        "estimator": subprocess.Popen([py, "-m", "stride_ros.ros.estimator_node", "--ros-args", "-p",
                                       "image_qos:=reliable", "-p", f"image_transport:={image_transport}",
                                       "-p", f"max_people:={max_people}"],
                                      env=env, stdout=logs["estimator"],
                                      stderr=subprocess.STDOUT, start_new_session=True),
        "refiner": subprocess.Popen(refiner_args, env=env, stdout=logs["refiner"], stderr=subprocess.STDOUT,
                                    start_new_session=True),
    }
    try:
        received = _listen(domain, limit, info.fps, out, procs, image_transport, lambda: subprocess.Popen(
            [py, "-m", "stride_ros.ros.video_demo", src.target, str(times_path), "60", str(limit), str(max_width),
             str(int(predecode)), image_transport, src.kind], env=env,
            start_new_session=True))
    finally:
        stop_children(procs.values())
        for f in logs.values():
            f.close()
    if not times_path.exists():
        raise InputError(f"the camera process did not finish; logs in {out}")
    return _report(json.loads(times_path.read_text()), received, out, lag, max_people)


def _ready(lnode, topic: str, n: int) -> bool:
    return lnode.count_subscribers(topic) >= n


def _listen(domain: int, n: int, fps: float, out: Path, procs: dict, image_transport: str, start_camera) -> dict:
    """Wait until both nodes are up, start the camera, collect every message with its arrival time."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from sensor_msgs.msg import PointCloud2
    from tqdm import tqdm

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    lnode = rclpy.create_node("stride_demo_listener", context=ctx)
    ex = rclpy.executors.SingleThreadedExecutor(context=ctx)
    ex.add_node(lnode)
    got: dict = {"/human_pose": [], "/human_pose_refined": [], "/diagnostics": []}
    qos = QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE)
    for topic, typ in (("/human_pose", PointCloud2), ("/human_pose_refined", PointCloud2),
                       ("/diagnostics", DiagnosticArray)):
        lnode.create_subscription(typ, topic, lambda m, t=topic: got[t].append((time.time(), m)), qos)
    camera = None
    try:
        deadline = time.time() + 90
        image_topic = "/image_raw/compressed" if image_transport == "compressed" else "/image_raw"
        while not (_ready(lnode, image_topic, 1) and _ready(lnode, "/human_pose", 2)):  # estimator, refiner
            ex.spin_once(timeout_sec=0.1)
            for name, p in procs.items():
                if p.poll() is not None:
                    raise InputError(f"the {name} node exited (code {p.returncode}); see {out / (name + '.log')}")
            if time.time() > deadline:
                raise InputError(f"the nodes did not come up within 90 s; logs in {out}")
        ex.spin_once(timeout_sec=1.0)
        camera = start_camera()
        cpu_from: dict[str, float] = {}  # CPU time of each node once the first skeleton is out
        bar = tqdm(total=n, desc="refined frames received", unit="frame",
                   mininterval=0.1 if sys.stderr.isatty() else 10.0)
        deadline = time.time() + 90 + n / fps
        done_at = None
        while time.time() < deadline:
            ex.spin_once(timeout_sec=0.05)
            bar.update(len(got["/human_pose_refined"]) - bar.n)
            if not cpu_from and got["/human_pose"]:
                cpu_from = _cpu_now(procs)
            for name, p in procs.items():
                if p.poll() is not None:
                    raise InputError(f"the {name} node exited (code {p.returncode}); see {out / (name + '.log')}")
            if camera.poll() is not None:  # camera done: a little longer for the last frames
                if done_at is None and cpu_from:
                    end = _cpu_now(procs)
                    got["cpu_cores"] = {k: (end[k] - cpu_from[k]) / (end["wall"] - cpu_from["wall"])
                                        for k in end if k != "wall"}
                done_at = done_at or time.time()
                if time.time() > done_at + 3.0:
                    break
        bar.close()
    finally:
        ex.shutdown()
        lnode.destroy_node()
        rclpy.shutdown(context=ctx)
        if camera is not None and camera.poll() is None:
            camera.send_signal(signal.SIGINT)
            try:
                camera.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(camera.pid, signal.SIGKILL)
    return got


def _cpu_now(procs: dict) -> dict[str, float]:
    from ..core.resources import cpu_seconds
    now = {name: cpu_seconds(p.pid) for name, p in procs.items()}
    now["listener"] = cpu_seconds(os.getpid())
    now["wall"] = time.perf_counter()
    return now


def _people(msgs: list, index: dict[str, int], n: int) -> tuple[np.ndarray, np.ndarray, dict[int, float]]:
    """Messages -> everyone on the camera's frame grid in the several-people form (poses [n, M, 17, 3],
    track_ids [n, M], -1 / NaN: empty slot) and each frame's arrival time."""
    from .cloud import cloud_to_persons
    from .stamps import stamp_of
    rows: dict[int, dict] = {}
    arrived: dict[int, float] = {}
    for t, m in msgs:
        k = index.get(f"{stamp_of(m):.6f}")
        if k is None:
            continue
        arrived[k] = t
        rows[k] = cloud_to_persons(m)
    M = max([len(r) for r in rows.values()] + [1])
    poses = np.full((n, M, 17, 3), np.nan, np.float32)
    ids = np.full((n, M), -1, np.int64)
    for k, people in rows.items():
        for j, (tid, (p, _)) in enumerate(sorted(people.items())):
            poses[k, j], ids[k, j] = p, tid
    return poses, ids, arrived


def _estimator_diag(msgs: list) -> dict[str, str]:
    for _, m in reversed(msgs):
        for st in m.status:
            if st.name.startswith(DIAG_PREFIX):
                return {kv.key: kv.value for kv in st.values}
    return {}


def _report(sent: dict, received: dict, out: Path, lag: int, max_people: int = 1) -> dict:
    from ..data.posefile import PoseSequence, save_poses
    from ..eval.continuity import continuity, paired_quality
    stamps = sorted(sent["sent"], key=float)
    index = {s: k for k, s in enumerate(stamps)}
    n = len(stamps)
    raw, raw_ids, est_at = _people(received["/human_pose"], index, n)
    refined, ref_ids, ref_at = _people(received["/human_pose_refined"], index, n)
    answered = [k for k in est_at if k in ref_at]
    if not answered:
        raise InputError(f"no refined frame came back; logs in {out}")
    lat = np.array([ref_at[k] - float(stamps[k]) for k in answered]) * 1000
    est_lat = np.array([est_at[k] - float(stamps[k]) for k in est_at]) * 1000
    span = (max(est_at.values()) - min(est_at.values())) if len(est_at) > 1 else float("nan")
    rate = (len(est_at) - 1) / span if span and span > 0 else float("nan")
    diag = _estimator_diag(received["/diagnostics"])
    compute_ms = float(diag.get("estimator_ms_p50", "nan").replace("-", "nan"))
    period_ms = 1000.0 / rate if rate == rate else float("nan")
    found = (raw_ids >= 0).sum(1)  # people the estimator published per frame
    seen = found > 0
    raw_answered = raw.copy()
    raw_answered[[k for k in range(n) if k not in ref_at]] = np.nan  # score both on the frames that have both
    q, per = paired_quality(raw_answered, raw_ids, refined, ref_ids)
    rows = np.array(sorted(ref_at), int)  # consecutive refined messages (the estimator skips frames when busy)
    c = continuity(refined[rows], ref_ids[rows], frame_numbers=rows, steps="consecutive refined messages")
    estimated = np.array(sorted(est_at), int)
    per_frame = found[estimated] if len(estimated) else np.zeros(0, int)
    people = {"max_people": max_people,
              "people_per_frame_mean": float(per_frame.mean()) if len(per_frame) else 0.0,
              "people_per_frame_max": int(per_frame.max(initial=0)),
              "frames_with_two_or_more": int((per_frame >= 2).sum()),
              "refined_ids": [s.track_id for s in c.ids], "id_switches_noticed": c.switches,
              "identity": c.as_dict(), "per_person": {str(k): v for k, v in per.items()}}
    pub_delay = np.array([sent["sent"][s] - float(s) for s in stamps]) * 1000  # capture stamp -> published
    refiner_ms = np.array([ref_at[k] - est_at[k] for k in answered]) * 1000  # /human_pose -> refined, as received
    num = lambda key: float(diag.get(key, "nan").replace("-", "nan"))  # noqa: E731
    stages = {"camera_publish": (float(np.percentile(pub_delay, 50)), float(np.percentile(pub_delay, 99))),
              **{stage: (num(f"{stage}_ms_p50"), num(f"{stage}_ms_p99")) for stage in ("transport", "wait", "convert")},
              "blazepose_placement": (num("estimator_ms_p50"), num("estimator_ms_p99")),
              "publish": (num("publish_ms_p50"), num("publish_ms_p99")),
              "refiner": (float(np.percentile(refiner_ms, 50)), float(np.percentile(refiner_ms, 99)))}
    cam = sent.get("camera", {})
    cores = dict(received.get("cpu_cores", {}))
    if cam.get("wall_s"):
        cores["camera"] = cam["cpu_s"] / cam["wall_s"]
    received_by_node = int(diag.get("frames_in", len(est_at)))
    busy = int(diag.get("dropped_busy", 0))
    res = {
        "frames_sent": n, "frames_received_by_estimator": received_by_node,
        "frames_lost_in_transport": n - received_by_node,
        "frames_skipped_busy": busy, "frames_estimated": int(len(est_at)),
        "frames_with_person": int(seen.sum()), "frames_answered": len(answered),
        "refined_missing_for_estimated": int(len(est_at) - len(answered)),
        "latency_ms_p50": float(np.percentile(lat, 50)), "latency_ms_p99": float(np.percentile(lat, 99)),
        "estimator_latency_ms_p99": float(np.percentile(est_lat, 99)) if len(est_lat) else float("nan"),
        "camera_publish_ms_p99": float(np.percentile(pub_delay, 99)),
        "estimator_rate_hz": float(rate), "estimator_compute_ms_p50": compute_ms, "estimator_period_ms": period_ms,
        "latency_p99_within_1_5_periods": bool(np.percentile(lat, 99) <= 1.5 * period_ms),
        "camera_fps": sent["fps"], "image_size": sent["size"], "lag": lag, **q,
        "stages_ms_p50_p99": stages, "cpu_cores": cores, "camera_predecoded": cam.get("predecoded"),
        "image_transport": cam.get("image_transport"), "camera_stop_reason": cam.get("stop_reason", ""),
        "camera_skipped": cam.get("skipped", 0),
        "estimator_diagnostics": diag, **people,
    }
    (out / "video_demo.json").write_text(json.dumps(res, indent=2))
    grid = np.array([float(s) for s in stamps])
    for name, poses, ids in (("human_pose", raw, raw_ids), ("human_pose_refined", refined, ref_ids)):
        save_poses(out / f"{name}.npz", PoseSequence(poses, sent["fps"], None, grid, ids))
    lines = [
        f"coverage: {n} frames sent, {received_by_node} reached the estimator ({n - received_by_node} lost in DDS "
        f"transport), {busy} skipped while it was busy, {len(est_at)} estimated, {int(seen.sum())} with a person; "
        f"{len(answered)} of the {len(est_at)} estimated answered by the refiner",
        f"end-to-end latency (capture stamp -> refined received{', incl. the lag' if lag else ''}): "
        f"p50 {res['latency_ms_p50']:.1f} ms, p99 {res['latency_ms_p99']:.1f} ms "
        f"(stamp -> /human_pose: p99 {res['estimator_latency_ms_p99']:.1f} ms; the camera process itself took "
        f"p99 {res['camera_publish_ms_p99']:.1f} ms to publish a frame)",
        "where the time goes (p50 / p99 ms; transport counts from the stamp, so it includes the camera's "
        "publishing): " + ", ".join(f"{k.replace('_', ' ')} {a:.1f} / {b:.1f}" for k, a, b in
                                    ((k, *v) for k, v in stages.items())),
        "CPU while streaming (cores of " + str(os.cpu_count()) + "): "
        + ", ".join(f"{k} {v:.2f}" for k, v in sorted(cores.items())),
        f"estimator: {rate:.1f} frames/s ({period_ms:.1f} ms per frame, {compute_ms:.1f} ms of it BlazePose + "
        "placement); "
        f"latency p99 {'<=' if res['latency_p99_within_1_5_periods'] else '>'} 1.5 periods ({1.5 * period_ms:.1f} ms)",
        f"jitter (same frames, per person, pooled): Accel raw {q['accel_raw']:.1f} -> refined "
        f"{q['accel_refined']:.1f} mm/frame^2 ({q['accel_raw'] / q['accel_refined']:.1f}x lower); bone-length "
        f"variation {q['bones_raw']:.1f} -> {q['bones_refined']:.1f} mm "
        f"({q['bones_raw'] / q['bones_refined']:.1f}x lower)",
        f"people found per estimated frame (up to {max_people}): mean {people['people_per_frame_mean']:.2f}, max "
        f"{people['people_per_frame_max']}, two or more in {people['frames_with_two_or_more']} of "
        f"{len(per_frame)} frames; refined ids seen: {c.describe_ids()}",
        c.describe_switches(),
        f"wrote {out / 'video_demo.json'}, what came on both topics ({out / 'human_pose.npz'}, "
        f"{out / 'human_pose_refined.npz'}); node logs {out / 'estimator.log'}, {out / 'refiner.log'}",
    ]
    if cam.get("stop_reason"):
        lines.insert(0, f"camera: {cam['stop_reason']}: the session ended early; the report covers the {n} frames "
                     "sent until then")
    print("\n".join(lines))
    return res


if __name__ == "__main__":
    sys.exit(publisher_main(sys.argv[1:]))
