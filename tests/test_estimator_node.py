"""The `pose_estimator` node over real DDS, across processes: the estimator and the refiner run as
their own processes in a fresh domain; this process plays the camera (Image + CameraInfo from the
Sports2D clip) and listens to /human_pose, /human_pose_refined and /diagnostics."""
from __future__ import annotations

import array
import subprocess
import sys
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
pytest.importorskip("mediapipe", reason="pip install 'stride_ros[estimator]'")

from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.qos import QoSProfile, QoSReliabilityPolicy  # noqa: E402
from rosclient import REPO, Client, NodeProcess, fresh_domain, ros_env, stamp_of  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from test_estimator import CLIP_FRAMES, fetch_clip  # noqa: E402

from stride_ros.core.skeleton import NUM_JOINTS  # noqa: E402
from stride_ros.ros.cloud import cloud_to_persons  # noqa: E402
from stride_ros.ros.stamps import sec_nanosec  # noqa: E402
from stride_ros.vision.quality import compare  # noqa: E402

FPS = 30.0
RELIABLE = QoSProfile(depth=50, reliability=QoSReliabilityPolicy.RELIABLE)
FRAME_ID = "camera_color_optical_frame"


class EstimatorProcess(NodeProcess):
    """The estimator node in its own process group (NodeProcess starts the refiner)."""

    def __init__(self, domain: int, ros_args: list[str], log_path):
        self.log_path = log_path
        self.log = open(log_path, "w")
        cmd = [sys.executable, "-m", "stride_ros.ros.estimator_node", "--ros-args", *ros_args]
        self.proc = subprocess.Popen(cmd, env=ros_env(domain), stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=str(REPO))


@pytest.fixture
def domain():
    return fresh_domain()


@pytest.fixture
def procs(domain, tmp_path):
    started = []

    def start(kind: str, *params: str):
        args = [a for p in params for a in ("-p", p)]
        cls = EstimatorProcess if kind == "estimator" else NodeProcess
        proc = cls(domain, args, tmp_path / f"{kind}{len(started)}.log")
        started.append(proc)
        return proc

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def client(domain):
    c = Client(domain)
    yield c
    c.close()


@pytest.fixture(scope="module")
def clip_frames():
    """The clip's frames (BGR) at half size: 884x497, the image a 1 MP camera stream carries."""
    import cv2
    cap = cv2.VideoCapture(str(fetch_clip()))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA))
    cap.release()
    assert len(frames) == CLIP_FRAMES
    return frames


def header(stamp: float) -> Header:
    sec, ns = sec_nanosec(stamp)
    return Header(stamp=Time(sec=sec, nanosec=ns), frame_id=FRAME_ID)


def image_msg(bgr: np.ndarray, stamp: float, encoding: str = "bgr8") -> Image:
    h, w = bgr.shape[:2]
    return Image(header=header(stamp), height=h, width=w, encoding=encoding, is_bigendian=0, step=w * 3,
                 data=array.array("B", np.ascontiguousarray(bgr).tobytes()))


def info_msg(w: int, h: int, stamp: float, f: float | None = None) -> CameraInfo:
    f = float(w) if f is None else f
    return CameraInfo(header=header(stamp), width=w, height=h, distortion_model="plumb_bob", d=[0.0] * 5,
                      k=[f, 0.0, w / 2, 0.0, f, h / 2, 0.0, 0.0, 1.0],
                      p=[f, 0.0, w / 2, 0.0, 0.0, f, h / 2, 0.0, 0.0, 0.0, 1.0, 0.0])


def diag_values(client: Client, name: str) -> dict[str, str]:
    for _, m in reversed(client.received["/diagnostics"]):
        for st in m.status:
            if st.name.startswith(name):
                return {kv.key: kv.value for kv in st.values}
    return {}


def wait_for_match(client: Client, pubs, timeout: float = 30.0) -> None:
    assert client.spin_until(lambda: all(p.get_subscription_count() > 0 for p in pubs), timeout), \
        "a node never subscribed (did it start?)"
    client.spin_for(1.0)  # let the nodes' publishers match our subscriptions too


def warm_up(client: Client, pub_img, pub_info, blank: np.ndarray, answer_topic: str) -> None:
    """Until an answer comes back: a blank image (nobody) with its CameraInfo, stamped 10 s before the
    test's frames. A fresh publisher's first samples can miss a reader it has not discovered yet;
    after this every publisher on the chain has, and CameraInfo is known (a camera sends it all along)."""
    h, w = blank.shape[:2]
    stamp = time.time() - 10.0
    end = time.time() + 60
    while time.time() < end and not client.received[answer_topic]:
        pub_info.publish(info_msg(w, h, stamp))
        pub_img.publish(image_msg(blank, stamp))
        client.spin_until(lambda: client.received[answer_topic], 1.0)
        stamp += 1 / FPS
    assert client.received[answer_topic], "the chain never answered"
    client.spin_for(0.5)
    for msgs in client.received.values():
        msgs.clear()


def test_camera_to_refined_skeleton_over_dds_on_the_clip(procs, client, clip_frames):
    """Every frame answered in order, no NaN out, the man's id back when BlazePose finds him again after
    following the woman for a second, his refined skeleton continuous where BlazePose loses him, its
    bones steadier and its motion smoother than the estimator's. Frames are sent one at a time
    (the next once the refined answer for this one arrived): this is about what comes out, not speed."""
    est = procs("estimator", "image_qos:=reliable", "diagnostics_period_s:=0.5")
    ref = procs("refiner", "lag_frames:=0", "input_qos:=reliable", "publish_markers:=false")
    pub_img = client.node.create_publisher(Image, "/image_raw", RELIABLE)
    pub_info = client.node.create_publisher(CameraInfo, "/camera_info", RELIABLE)
    client.subscribe(PointCloud2, "/human_pose", RELIABLE)
    client.subscribe(PointCloud2, "/human_pose_refined", RELIABLE)
    client.subscribe(DiagnosticArray, "/diagnostics", RELIABLE)
    wait_for_match(client, [pub_img, pub_info])
    assert client.spin_until(lambda: client.node.count_subscribers("/human_pose") >= 2 and diag_values(  # the refiner
        client, "stride_refiner"), 60), ref.output()[-2000:]
    h, w = clip_frames[0].shape[:2]
    warm_up(client, pub_img, pub_info, np.zeros_like(clip_frames[0]), "/human_pose_refined")
    t0 = time.time()
    sent = []
    for i, frame in enumerate(clip_frames):
        stamp = t0 + i / FPS
        pub_info.publish(info_msg(w, h, stamp))
        pub_img.publish(image_msg(frame, stamp))
        sent.append(round(stamp, 6))
        got = client.received["/human_pose_refined"]
        assert client.spin_until(lambda: len(got) > i, 60 if i == 0 else 20), (
            f"frame {i}: no refined answer ({len(client.received['/human_pose'])} estimated; "
            f"{diag_values(client, 'pose_estimator')}; {diag_values(client, 'stride_refiner')})\n"
            f"{est.output()[-2000:]}\n{ref.output()[-2000:]}")
    assert [round(stamp_of(m), 6) for _, m in client.received["/human_pose_refined"]] == sent
    raw_msgs = client.received["/human_pose"]
    assert [round(stamp_of(m), 6) for _, m in raw_msgs] == sent
    assert {m.header.frame_id for _, m in raw_msgs} == {FRAME_ID}

    def tracks_of(msgs) -> dict[int, np.ndarray]:
        """{track_id: [T, 17, 3]}, NaN in the frames whose cloud does not hold that id."""
        out: dict[int, np.ndarray] = {}
        for k, (_, m) in enumerate(msgs):
            for tid, (poses, _) in cloud_to_persons(m).items():
                out.setdefault(tid, np.full((len(msgs), NUM_JOINTS, 3), np.nan, np.float32))[k] = poses
        return out

    raw_ids = [list(cloud_to_persons(m)) for _, m in raw_msgs]
    assert all(len(ids) <= 1 for ids in raw_ids)  # max_people 1 (the default): one person at most
    seen_any = np.array([bool(ids) for ids in raw_ids])
    assert seen_any.sum() >= 200, seen_any.sum()
    first = int(np.argmax(seen_any))
    last = int(np.flatnonzero(seen_any)[-1])
    # BlazePose follows the man, loses him mid-flip and takes up the woman (another person: another id),
    # then finds the man again on the grass: the association gives him his id back
    raw_tracks = tracks_of(raw_msgs)
    man = raw_ids[first][0]
    assert raw_ids[last] == [man] and len(raw_tracks) == 2, [ids for ids in raw_ids]
    raw = raw_tracks[man]
    seen = ~np.isnan(raw).any((1, 2))
    refined_msgs = client.received["/human_pose_refined"]
    assert all(np.isfinite(p).all() for _, m in refined_msgs for p, _ in cloud_to_persons(m).values())  # no NaN out
    refined_tracks = tracks_of(refined_msgs)
    assert all(np.isnan(v[:first]).all() for v in refined_tracks.values())  # before anyone was seen: empty clouds
    refined = next(v for v in refined_tracks.values() if not np.isnan(v[first]).any())  # the man's refined track
    assert not np.isnan(refined[first:]).any()  # in every frame once he was seen: coasting while he is lost
    # continuous where BlazePose loses him (mid-flip, and behind the tree trunk at the end): the
    # refined skeleton goes on moving as before instead of vanishing or jumping. (Out of a gap it
    # follows wherever BlazePose finds him again. The first second is left out: BlazePose's body
    # size grows over its first ~10 frames, and the refiner's pelvis filter holds the first
    # position until it re-initialises about 1 s later: a jump of ~3 m, the refiner's to fix.)
    step = np.linalg.norm(np.diff(refined, axis=0), axis=-1).max(-1)  # step[k]: frame k -> k + 1
    raw_step = np.linalg.norm(np.diff(raw, axis=0), axis=-1).max(-1)
    settled = 40
    lost = [k for k in np.flatnonzero(~seen) if k >= settled]
    assert lost, "BlazePose loses him now and then in this clip"
    typical = np.median(step[first:])
    assert step[[k - 1 for k in lost]].max() < 2 * typical + 0.1, (typical, step[[k - 1 for k in lost]])
    assert typical < np.nanmedian(raw_step)
    q = compare(raw, refined)
    assert q["bones_refined"] < q["bones_raw"], q
    assert q["accel_refined"] < 0.5 * q["accel_raw"], q
    # the estimator's own diagnostics: everything estimated (one frame at a time: nothing skipped)
    assert client.spin_until(lambda: int(diag_values(client, "pose_estimator").get("frames_estimated", 0))
                             >= CLIP_FRAMES, 10)
    kv = diag_values(client, "pose_estimator")
    assert int(kv["frames_with_person"]) == seen_any.sum() and int(kv.get("dropped_busy", 0)) == 0, kv
    assert float(kv["rate_hz"]) > 0 and float(kv["reprojection_px_mean"]) < 15.0, kv
    assert "Traceback" not in est.output() + ref.output()


def test_several_people_each_published_with_a_track_id_that_holds(procs, client, clip_frames):
    """max_people:=2 on the clip's frames 40-129 (both people in view, counted by eye: test_multi_person.py),
    one image at a time: most clouds carry both people, each with its own track_id, and the ids stay the
    same two for the whole stretch (the woman walks across, the man moves on the box)."""
    est = procs("estimator", "image_qos:=reliable", "camera_info_topic:=''", "max_people:=2",
                "diagnostics_period_s:=0.3")
    pub_img = client.node.create_publisher(Image, "/image_raw", RELIABLE)
    client.subscribe(PointCloud2, "/human_pose", RELIABLE)
    client.subscribe(DiagnosticArray, "/diagnostics", RELIABLE)
    wait_for_match(client, [pub_img])
    out = client.received["/human_pose"]
    t0 = time.time()
    pub_img.publish(image_msg(np.zeros_like(clip_frames[0]), t0 - 10))  # warm up the graph (nobody)
    assert client.spin_until(lambda: out, 60), est.output()[-2000:]
    out.clear()
    frames = range(40, 130)
    for k, i in enumerate(frames):
        pub_img.publish(image_msg(clip_frames[i], t0 + i / FPS))
        assert client.spin_until(lambda: len(out) > k, 30), f"frame {i}: no answer\n{est.output()[-2000:]}"
    people = [cloud_to_persons(m) for _, m in out]
    assert all("track_id" in {f.name for f in m.fields} for _, m in out)
    both = [p for p in people if len(p) == 2]
    assert len(both) >= 0.8 * len(frames), [len(p) for p in people]
    ids = set().union(*(set(p) for p in people))
    assert len(ids) == 2, ids  # the same two identities throughout
    for p in both:  # two different people: their pelvises are metres apart, not a skeleton twice
        a, b = (poses[0] for poses, _ in p.values())
        assert np.linalg.norm(a - b) > 0.5
    assert client.spin_until(lambda: int(diag_values(client, "pose_estimator").get("frames_estimated", 0))
                             >= len(frames) + 1, 10)
    client.spin_for(0.5)
    kv = diag_values(client, "pose_estimator")
    assert int(kv["frames_with_several"]) == len(both) and int(kv["people_most"]) == 2, kv
    assert int(kv["persons_published"]) == sum(len(p) for p in people), kv
    assert "up to 2 people" in est.output() and "Traceback" not in est.output()


def test_never_queues_works_on_the_newest_image_and_counts_what_it_skipped(procs, client, clip_frames):
    est = procs("estimator", "image_qos:=reliable", "camera_info_topic:=''", "diagnostics_period_s:=0.3")
    pub_img = client.node.create_publisher(Image, "/image_raw", RELIABLE)
    client.subscribe(PointCloud2, "/human_pose", RELIABLE)
    client.subscribe(DiagnosticArray, "/diagnostics", RELIABLE)
    wait_for_match(client, [pub_img])
    t0 = time.time()
    pub_img.publish(image_msg(clip_frames[50], t0))  # warm up the graph
    assert client.spin_until(lambda: client.received["/human_pose"], 60), est.output()[-2000:]
    n = 40
    import cv2
    small = [cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2)) for f in clip_frames[51:51 + n]]
    for i in range(1, n + 1):  # a burst of small images: they arrive far faster than any estimator works
        pub_img.publish(image_msg(small[i - 1], t0 + i / FPS))
    last = round(t0 + n / FPS, 6)
    out = client.received["/human_pose"]
    assert client.spin_until(lambda: any(round(stamp_of(m), 6) == last for _, m in out), 30), \
        "the newest image was never estimated\n" + est.output()[-2000:]
    client.spin_for(0.5)
    assert len(out) < n + 1  # it skipped images rather than working through a queue
    assert client.spin_until(lambda: int(diag_values(client, "pose_estimator").get("frames_in", 0)) >= 2, 10)
    client.spin_for(0.7)  # one more diagnostics period, after the last frame
    kv = diag_values(client, "pose_estimator")
    busy = int(kv.get("dropped_busy", 0))
    assert busy >= 1 and int(kv["frames_in"]) == int(kv["frames_estimated"]) + busy == len(out) + busy, kv
    assert "(busy)" in est.output() and "guess" in est.output()


def test_bad_images_and_camera_info_are_counted_and_the_node_keeps_running(procs, client, clip_frames):
    est = procs("estimator", "image_qos:=reliable", "diagnostics_period_s:=0.2")
    pub_img = client.node.create_publisher(Image, "/image_raw", RELIABLE)
    pub_info = client.node.create_publisher(CameraInfo, "/camera_info", RELIABLE)
    client.subscribe(PointCloud2, "/human_pose", RELIABLE)
    client.subscribe(DiagnosticArray, "/diagnostics", RELIABLE)
    wait_for_match(client, [pub_img, pub_info])
    frame = clip_frames[60]
    h, w = frame.shape[:2]
    t0 = time.time()

    def dropped(reason: str) -> int:
        return int(diag_values(client, "pose_estimator").get(f"dropped_{reason}", 0))

    def provoke(reason: str, *msgs) -> None:
        """Send (again, until it shows: topics do not keep order between them) and see it counted."""
        end = time.time() + 30
        while time.time() < end and not dropped(reason):
            for pub, m in msgs:
                pub.publish(m)
            client.spin_until(lambda: dropped(reason) >= 1, 0.5)
        assert dropped(reason) >= 1, (reason, diag_values(client, "pose_estimator"), est.output()[-2000:])

    good = image_msg(frame, t0)
    cut = image_msg(frame, t0)
    cut.data = cut.data[: len(cut.data) // 2]
    provoke("no_camera_info", (pub_img, good))  # before any CameraInfo: images wait for one
    provoke("bad_camera_info", (pub_info, info_msg(w, h, t0, f=0.0)))  # uncalibrated: focal length 0
    provoke("camera_info_size", (pub_info, info_msg(w * 2, h * 2, t0)), (pub_img, good))  # another resolution
    provoke("unsupported_encoding", (pub_info, info_msg(w, h, t0)), (pub_img, image_msg(frame, t0, "yuv422")))
    provoke("bad_image", (pub_img, cut))
    assert not client.received["/human_pose"]
    end = time.time() + 30
    while time.time() < end and not client.received["/human_pose"]:  # and it still works
        pub_info.publish(info_msg(w, h, t0))
        pub_img.publish(good)
        client.spin_until(lambda: client.received["/human_pose"], 1.0)
    assert client.received["/human_pose"], est.output()[-2000:]
    assert est.proc.poll() is None
    log = est.output()
    for reason in ("no_camera_info", "bad_camera_info", "camera_info_size", "unsupported_encoding", "bad_image"):
        assert log.count(f"({reason})") == 1, reason  # logged once, with its reason
    assert "focal length fx 0" in log and "'yuv422' not supported" in log
    assert "Traceback" not in log


@pytest.mark.parametrize("param", ["image_qos:=fast", "max_people:=0"])
def test_bad_parameter_is_one_line_and_exit_2(procs, param):
    est = procs("estimator", param)
    assert est.proc.wait(timeout=60) == 2
    out = est.output().strip().splitlines()
    name = param.split(":=")[0]
    assert out and f"parameter {name}" in out[-1] and "Traceback" not in est.output(), out


def test_video_demo_runs_the_live_chain_and_reports(tmp_path):
    """`stride-ros demo --video`: camera process -> estimator -> refiner -> listener, over real DDS."""
    import json

    from conftest import run_cli
    out = tmp_path / "demo"
    res = run_cli("demo", "--video", str(fetch_clip()), "--seconds", "3", "--out", str(out), timeout=240)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rep = json.loads((out / "video_demo.json").read_text())
    assert rep["frames_sent"] == 90 and rep["frames_estimated"] >= 10
    assert rep["frames_answered"] == rep["frames_estimated"]  # every frame the estimator published is refined
    assert rep["frames_estimated"] + rep["frames_skipped_busy"] <= rep["frames_received_by_estimator"] <= 90
    for key in ("coverage:", "end-to-end latency", "where the time goes", "CPU while streaming", "estimator:",
                "Accel raw"):
        assert key in res.stdout, res.stdout
    stages = rep["stages_ms_p50_p99"]
    assert set(stages) == {"camera_publish", "transport", "wait", "convert", "blazepose_placement", "publish",
                           "refiner"}
    assert all(0 <= p50 <= p99 for p50, p99 in stages.values()), stages  # every stage measured, none negative
    assert rep["camera_predecoded"] is True
    assert rep["image_transport"] == "compressed"  # the default: JPEG over DDS, decoded by the estimator node
    assert {"camera", "estimator", "refiner", "listener"} <= set(rep["cpu_cores"])
    assert 0 < rep["cpu_cores"]["estimator"] < 2.5, rep["cpu_cores"]
    assert "Traceback" not in (out / "estimator.log").read_text() + (out / "refiner.log").read_text()


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
@pytest.mark.parametrize("pad", [0, 7])
def test_image_conversion_to_rgb(encoding, pad):
    """Every encoding the node takes without cv_bridge, with and without row padding, as the
    message's array.array (what rclpy hands the callback) and as bytes."""
    from stride_ros.ros.estimator_node import image_to_rgb
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    alpha = rng.integers(0, 256, (5, 4, 1), dtype=np.uint8)
    src = {"rgb8": rgb, "bgr8": rgb[..., ::-1], "rgba8": np.concatenate([rgb, alpha], 2),
           "bgra8": np.concatenate([rgb[..., ::-1], alpha], 2), "mono8": rgb[..., :1]}[encoding]
    c = src.shape[2]
    rows = np.zeros((5, 4 * c + pad), np.uint8)
    rows[:, : 4 * c] = src.reshape(5, 4 * c)
    want = np.repeat(rgb[..., :1], 3, 2) if encoding == "mono8" else rgb
    for data in (array.array("B", rows.tobytes()), rows.tobytes()):
        msg = Image(height=5, width=4, encoding=encoding, step=4 * c + pad, data=data)
        out = image_to_rgb(msg)
        assert out.shape == (5, 4, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
        np.testing.assert_array_equal(out, want)


def test_compressed_image_conversion_and_undecodable_data():
    """image_transport:=compressed: JPEG and PNG decode to RGB; data OpenCV cannot decode is an
    UnsupportedEncoding (the node counts it and goes on)."""
    import cv2
    from sensor_msgs.msg import CompressedImage

    from stride_ros.ros.estimator_node import UnsupportedEncoding, compressed_to_rgb
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (200, 30, 10)
    rgb[:, 32:] = (10, 30, 200)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    png = CompressedImage(format="png", data=array.array("B", cv2.imencode(".png", bgr)[1].tobytes()))
    np.testing.assert_array_equal(compressed_to_rgb(png), rgb)
    jpg = CompressedImage(format="jpeg", data=array.array("B", cv2.imencode(".jpg", bgr)[1].tobytes()))
    out = compressed_to_rgb(jpg)
    assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb).mean() < 4
    for data in (b"", b"not an image at all"):
        with pytest.raises(UnsupportedEncoding, match="could not be decoded"):
            compressed_to_rgb(CompressedImage(format="jpeg", data=data))
