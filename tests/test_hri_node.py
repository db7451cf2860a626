"""The node's ROS4HRI (REP-155) output over real DDS, read back by a client in another process: the
tracked body ids, the `body_<id>` and `<joint>_<id>` TF frames against what /human_pose_refined
carried, `skeleton2d` against an independent projection, a body's topic going with the body (also
when the input stops), the type hashes on the wire, and `publish_hri: false`. Needs hri_msgs and tf2_msgs (`stride-ros
build-interfaces`; CI builds them)."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")
for _pkg in ("hri_msgs", "tf2_msgs"):
    if importlib.util.find_spec(_pkg) is None:
        pytest.skip(f"{_pkg} not built here: `stride-ros build-interfaces` builds it (CI does)",
                    allow_module_level=True)

from builtin_interfaces.msg import Time  # noqa: E402
from hri_msgs.msg import IdsList, Skeleton2D  # noqa: E402
from rclpy.qos import QoSProfile, QoSReliabilityPolicy  # noqa: E402
from rosclient import Client, NodeProcess, fresh_domain, make_input_cloud, stamp_of, wait_for_subscriber  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402
from sensor_msgs.msg import CameraInfo, PointCloud2  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from test_hri import FPS, H, K, W, published_hashes, walk_in_camera  # noqa: E402
from tf2_msgs.msg import TFMessage  # noqa: E402

from stride_ros.core.skeleton import JOINT_NAMES  # noqa: E402
from stride_ros.ros.stamps import sec_nanosec  # noqa: E402

RELIABLE = QoSProfile(depth=200, reliability=QoSReliabilityPolicy.RELIABLE)
FRAME = "camera"
UP = np.array([0.0, -1.0, 0.0])  # the optical frame's up
TIMEOUT_S = 0.6


@pytest.fixture
def domain():
    return fresh_domain()


@pytest.fixture
def client(domain):
    c = Client(domain, name="hri_reader")
    yield c
    c.close()


@pytest.fixture
def start_node(domain, tmp_path):
    procs = []

    def start(*params: str) -> NodeProcess:
        args = []
        if os.environ.get("STRIDE_TEST_MODEL"):
            args += ["-p", f"model_path:={os.environ['STRIDE_TEST_MODEL']}"]
        for p in params:
            args += ["-p", p]
        proc = NodeProcess(domain, args, tmp_path / f"node{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.stop()


def camera_info(stamp: float) -> CameraInfo:
    sec, ns = sec_nanosec(stamp)
    return CameraInfo(header=Header(stamp=Time(sec=sec, nanosec=ns), frame_id=FRAME), width=W, height=H,
                      k=K.ravel().tolist(), distortion_model="plumb_bob", d=[0.0] * 5,
                      p=np.hstack([K, np.zeros((3, 1))]).ravel().tolist())


def decode_refined(msg) -> dict[int, np.ndarray]:
    """track id -> [17, 3], read straight from the PointCloud2 fields (not the project's decoder)."""
    off = {f.name: f.offset for f in msg.fields}
    n = msg.width * msg.height
    raw = np.frombuffer(bytes(msg.data), np.uint8).reshape(n, msg.point_step)
    xyz = np.stack([raw[:, off[c]:off[c] + 4].copy().view("<f4")[:, 0] for c in "xyz"], 1).astype(np.float64)
    ids = raw[:, off["track_id"]:off["track_id"] + 4].copy().view("<u4")[:, 0]
    return {int(ids[k]): xyz[k:k + 17] for k in range(0, n, 17)}


def as_matrix(tf) -> tuple[np.ndarray, np.ndarray]:
    t, q = tf.transform.translation, tf.transform.rotation
    return np.array([t.x, t.y, t.z]), Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()


def test_bodies_tf_frames_and_skeleton2d_read_back_by_another_process(start_node, client):
    node = start_node("camera_info_topic:=/camera/camera_info", f"track_timeout_s:={TIMEOUT_S}")
    pub = client.node.create_publisher(PointCloud2, "/human_pose", RELIABLE)
    info = client.node.create_publisher(CameraInfo, "/camera/camera_info", 10)
    client.subscribe(PointCloud2, "/human_pose_refined", RELIABLE)
    client.subscribe(IdsList, "/humans/bodies/tracked", RELIABLE)
    client.subscribe(TFMessage, "/tf", QoSProfile(depth=500, reliability=QoSReliabilityPolicy.RELIABLE))
    wait_for_subscriber(client, pub)
    client.spin_for(1.0)

    a, b = walk_in_camera(seed=5, seconds=4.0), walk_in_camera(seed=8) + [1.0, 0.0, 1.5]  # two people
    n_both, n_one = 60, 45  # both for 2 s, then only the first: the second's body must go
    t0 = 200.0
    skeleton_topics: dict[str, str] = {}
    for t in range(n_both + n_one):
        stamp = t0 + t / FPS
        info.publish(camera_info(stamp))
        people = [(3, a[t].astype(np.float32), np.ones(17, np.float32))]
        if t < n_both:
            people.append((7, b[t].astype(np.float32), np.full(17, 0.8, np.float32)))
        pub.publish(make_input_cloud(stamp, people, frame_id=FRAME))
        client.spin_for(1 / FPS)
        for _, ids in client.received["/humans/bodies/tracked"]:  # subscribe to each body's skeleton2d
            for bid in ids.ids:                                    # as it appears (as libhri does)
                if bid not in skeleton_topics:
                    skeleton_topics[bid] = f"/humans/bodies/{bid}/skeleton2d"
                    client.subscribe(Skeleton2D, skeleton_topics[bid], RELIABLE)
    n = n_both + n_one
    # while the first person is still tracked (their track expires track_timeout_s after the input stops)
    alive = {bid: [i for i in client.node.get_publishers_info_by_topic(topic) if i.node_name == "stride_refiner"]
             for bid, topic in skeleton_topics.items()}
    assert client.spin_until(lambda: len(client.received["/human_pose_refined"]) >= n, 20), node.output()[-3000:]
    client.spin_for(0.5)

    refined = {round(stamp_of(m), 6): decode_refined(m) for _, m in client.received["/human_pose_refined"]}
    tracked = {round(stamp_of(m), 6): list(m.ids) for _, m in client.received["/humans/bodies/tracked"]}
    tf: dict[float, dict[str, object]] = {}
    for _, m in client.received["/tf"]:
        for tr in m.transforms:
            tf.setdefault(round(stamp_of(tr), 6), {})[tr.child_frame_id] = tr

    # a track that expires after the input stopped is announced by a tracked list stamped after the last
    # frame (hri.py `forget`); how soon depends on the machine's load, so it may already be here: it
    # may only drop bodies
    expired = {s: ids for s, ids in tracked.items() if s > max(refined)}
    tracked = {s: ids for s, ids in tracked.items() if s <= max(refined)}
    for ids in expired.values():
        assert set(ids) < set(tracked[max(refined)]), (ids, tracked[max(refined)])
    # tracked: one id per refined person, in every refined frame; ids are topic-name tokens
    assert set(tracked) == set(refined)
    for s, people in refined.items():
        assert len(tracked[s]) == len(people) == len(set(tracked[s])), s
    ids_seen = {i for ids in tracked.values() for i in ids}
    assert len(ids_seen) == 2 and all(i[0].isalpha() for i in ids_seen), ids_seen

    # body frames: at the hip midpoint of one refined person, the same person throughout
    owner: dict[str, int] = {}
    hips_err, z_trunk, z_up, x_fwd = [], [], [], []
    by_track: dict[int, list[tuple[float, np.ndarray, np.ndarray]]] = {}
    for s, people in refined.items():
        frames = tf[s]
        for bid in tracked[s]:
            body = frames[f"body_{bid}"]
            assert body.header.frame_id == FRAME
            origin, R = as_matrix(body)
            mids = {tid: (p[1] + p[4]) / 2 for tid, p in people.items()}
            tid = min(mids, key=lambda k: np.linalg.norm(mids[k] - origin))
            hips_err.append(np.linalg.norm(mids[tid] - origin))
            assert owner.setdefault(bid, tid) == tid, "a body id moved to another person"
            p = people[tid]
            for j, name in enumerate(JOINT_NAMES):  # every joint frame, parented to the body, at the joint
                jf = frames[f"{name}_{bid}"]
                assert jf.header.frame_id == f"body_{bid}"
                off, _ = as_matrix(jf)
                assert np.linalg.norm(origin + R @ off - p[j]) < 1e-4, (name, bid, s)
            trunk = (p[8] - p[0]) / np.linalg.norm(p[8] - p[0])
            z_trunk.append(np.degrees(np.arccos(np.clip(R[:, 2] @ trunk, -1, 1))))
            z_up.append(np.degrees(np.arccos(np.clip(R[:, 2] @ UP, -1, 1))))
            by_track.setdefault(tid, []).append((s, (p[1] + p[4]) / 2, R))
    assert max(hips_err) < 1e-5, max(hips_err)
    assert len(set(owner.values())) == 2  # two bodies, two people
    assert np.median(z_trunk) < 5 and max(z_trunk) < 20, (np.median(z_trunk), max(z_trunk))
    assert max(z_up) < 15, max(z_up)  # z up: the people walk upright
    for tid, rows in by_track.items():  # x forward: the way each person walks (they face where they go)
        mid = np.array([m for _, m, _ in rows])
        vel = np.gradient(mid, axis=0)
        vel /= np.linalg.norm(vel, axis=1, keepdims=True)
        x_fwd += [R[:, 0] @ v for (_, _, R), v in zip(rows[5:-5], vel[5:-5])]
    assert np.median(x_fwd) > 0.9 and min(x_fwd) > 0.5, (np.median(x_fwd), min(x_fwd))

    # skeleton2d: the refined joints projected with the camera's intrinsics, keypoints in OpenPose order
    checked = 0
    for bid, topic in skeleton_topics.items():
        got = client.received[topic]
        assert got, f"no skeleton2d on {topic}"
        for _, m in got:
            s = round(stamp_of(m), 6)
            p = refined[s][owner[bid]]
            pts = np.array([[q.x, q.y, q.c] for q in m.skeleton])
            assert pts.shape == (18, 3) and (pts[:, :2] >= 0).all() and (pts[:, :2] <= 1).all()
            assert (pts[14:, 2] == 0).all()  # eyes and ears: not estimated
            uv = (p @ K.T)[:, :2] / p[:, 2:3] / [W, H]
            for k, j in ((Skeleton2D.NECK, 8), (Skeleton2D.RIGHT_SHOULDER, 14), (Skeleton2D.LEFT_ANKLE, 6),
                         (Skeleton2D.RIGHT_WRIST, 16), (Skeleton2D.LEFT_HIP, 4)):
                inside = ((uv[j] >= 0) & (uv[j] <= 1)).all()
                assert np.allclose(pts[k, :2], np.clip(uv[j], 0, 1), atol=1e-5), (bid, k)
                assert (pts[k, 2] > 0) == inside, (bid, k, s, pts[k], uv[j])  # off the image: confidence 0
            checked += 1
    assert checked >= n_both

    # the second person's body went: out of tracked, and its skeleton2d topic has no publisher left
    gone = next(b for b, t in owner.items() if t not in refined[max(refined)])  # the second person's
    last = tracked[max(tracked)]
    assert gone not in last and len(last) == 1
    assert alive[last[0]]  # the remaining person's publisher was there while they were tracked
    assert client.spin_until(lambda: not client.node.get_publishers_info_by_topic(skeleton_topics[gone]), 10)

    # the type hashes on the wire are the published packages' (rosbags computes them independently)
    want = published_hashes()
    for topic, name in (("/tf", "tf2_msgs/msg/TFMessage"), ("/humans/bodies/tracked", "hri_msgs/msg/IdsList"),
                        (skeleton_topics[last[0]], "hri_msgs/msg/Skeleton2D")):
        infos = alive[last[0]] if name.endswith("Skeleton2D") else \
            [i for i in client.node.get_publishers_info_by_topic(topic) if i.node_name == "stride_refiner"]
        assert infos and str(infos[0].topic_type_hash) == want[name], (topic, infos)

    # the input stops: when the last track times out its body goes too (no frame comes to say so)
    assert client.spin_until(lambda: not client.received["/humans/bodies/tracked"][-1][1].ids, 10 + TIMEOUT_S)
    assert client.spin_until(lambda: not client.node.get_publishers_info_by_topic(skeleton_topics[last[0]]), 10)


def test_publish_hri_false_publishes_no_bodies(start_node, client):
    node = start_node("publish_hri:=false")
    pub = client.node.create_publisher(PointCloud2, "/human_pose", RELIABLE)
    client.subscribe(PointCloud2, "/human_pose_refined", RELIABLE)
    wait_for_subscriber(client, pub)
    # and the node's refined publisher matched to us (a loaded machine discovers slowly)
    assert client.spin_until(lambda: client.node.get_publishers_info_by_topic("/human_pose_refined"), 20)
    client.spin_for(1.0)
    a = walk_in_camera()
    for t in range(5):
        pub.publish(make_input_cloud(100.0 + t / FPS, [(0, a[t].astype(np.float32), np.ones(17, np.float32))],
                                     frame_id=FRAME))
    assert client.spin_until(lambda: len(client.received["/human_pose_refined"]) >= 5, 15), node.output()[-2000:]
    names = dict(client.node.get_topic_names_and_types())
    assert "/humans/bodies/tracked" not in names and not client.node.get_publishers_info_by_topic("/tf")


def test_a_known_floor_sets_z_and_a_late_track_id_gets_a_new_body(domain):
    """HriPublisher itself on a real node, read by a second context: z = the floor's normal when the
    caller knows one, and a track id that returns after its body went gets another body id."""
    from stride_ros.ros.hri import HriPublisher
    owner, reader = Client(domain, name="hri_owner"), Client(domain, name="hri_reader2")
    try:
        hri = HriPublisher(owner.node)
        reader.subscribe(TFMessage, "/tf", QoSProfile(depth=100, reliability=QoSReliabilityPolicy.RELIABLE))
        reader.subscribe(IdsList, "/humans/bodies/tracked", RELIABLE)
        assert reader.spin_until(lambda: hri.pub_tf.get_subscription_count() > 0
                                 and hri.pub_tracked.get_subscription_count() > 0, 20)
        a = walk_in_camera()
        tilted = np.array([0.1, -1.0, 0.2]) / np.linalg.norm([0.1, -1.0, 0.2])  # a camera that looks down a bit
        for t, people in enumerate(([3], [3], [], [3])):  # track 3 goes and comes back
            sec, ns = sec_nanosec(300.0 + t / FPS)
            header = Header(stamp=Time(sec=sec, nanosec=ns), frame_id=FRAME)
            hri.publish(header, [(tid, a[t], np.ones(17)) for tid in people], up=tilted)
        assert reader.spin_until(lambda: len(reader.received["/humans/bodies/tracked"]) == 4, 10)
        ids = [list(m.ids) for _, m in reader.received["/humans/bodies/tracked"]]
        assert ids[0] == ids[1] and ids[2] == [] and len(ids[3]) == 1 and ids[3] != ids[0], ids
        assert reader.spin_until(lambda: len(reader.received["/tf"]) == 3, 10)
        for _, m in reader.received["/tf"]:
            body = next(tr for tr in m.transforms if tr.child_frame_id.startswith("body_"))
            _, R = as_matrix(body)
            assert np.allclose(R[:, 2], tilted, atol=1e-6)
    finally:
        owner.close()
        reader.close()
