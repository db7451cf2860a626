"""The floor: its three forms and their checks, contacts and the scale they fix, never under the
floor, the floor set aside when contradicted, and both ways the node gets it (parameters, TF)."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest
from conftest import run_cli

from stride_ros.core.errors import InputError
from stride_ros.core.floor import Floor, parse_floor
from stride_ros.stream.grounding import ANKLES, Ground, GroundParams

FPS = 30.0
CAMERA = Floor.from_camera(2.4, 20.0)  # an optical frame: 2.4 m high, looking 20 deg down


def standing(distance: float, floor: Floor = CAMERA, lift: float = 0.0) -> np.ndarray:
    """A 1.7 m person standing on `floor`, `distance` m in front of the camera (optical frame)."""
    up = floor.normal
    fwd = np.array([0.0, 0.0, 1.0])
    fwd = fwd - up * (fwd @ up)
    fwd /= np.linalg.norm(fwd)
    right = np.cross(-up, fwd)
    foot = fwd * distance + up * (floor.d - fwd @ up * distance * 0)  # on the floor below the ray
    foot = foot - up * (foot @ up - floor.d)  # exactly on the floor
    heights = [0.95, 0.95, 0.5, 0.08, 0.95, 0.5, 0.08, 1.2, 1.45, 1.6, 1.7, 1.42, 1.15, 0.9, 1.42, 1.15, 0.9]
    sides = [0, -.1, -.1, -.1, .1, .1, .1, 0, 0, 0, 0, .18, .2, .22, -.18, -.2, -.22]
    return np.array([foot + up * (h + lift) + right * s for h, s in zip(heights, sides)], np.float32)


def test_floor_forms_agree_and_bad_ones_are_one_line():
    f = Floor.from_camera(2.45, 20.8)
    assert f.origin_height == pytest.approx(2.45)
    assert f.normal == pytest.approx([0.0, -0.9348, -0.3551], abs=1e-3)  # the studio floor of the real chain data
    g = parse_floor(",".join(map(str, f.as_array())))
    assert np.allclose(g.as_array(), f.as_array())
    R = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # optical frame -> a z-up frame
    h = Floor.from_transform(R, np.array([0.0, 0.0, 1.5]))
    assert h.height(np.zeros(3)) == pytest.approx(1.5) and h.height(np.array([0, 1.5, 3.0])) == pytest.approx(0.0)
    for bad, what in (("0,1,1,-2", "unit"), ("0,nan,0,1", "finite"), ("0,-1,0", "4 numbers"), ("a,b,c,d", "numbers"),
                      ("0,-1,0,1", "below its own floor")):
        with pytest.raises(InputError, match=what):
            parse_floor(bad)
    with pytest.raises(InputError, match="above the floor"):
        Floor.from_camera(0.0, 10)


def test_contact_fixes_the_distance_of_a_person_placed_too_far():
    g = Ground(CAMERA, FPS, GroundParams(size_sd=10.0, max_step=0.0))  # the contact alone decides
    true = standing(5.0)
    far = true * 1.08  # an estimator that thinks the person is 8 % larger puts them 8 % further
    for _ in range(5):
        g.observe(far, np.ones(17, bool))
    assert any(g.contact)
    out = g.apply(far)
    assert np.abs(out - true).max() < 0.01
    g.observe(None, None)  # a jump / hidden: no contact, the scale is carried
    assert not any(g.contact) and np.abs(g.apply(far) - true).max() < 0.01


def test_a_contact_weighs_less_for_a_low_camera_and_the_scale_drifts_not_jumps():
    high, low = Ground(Floor.from_camera(2.5, 20.0), FPS), Ground(Floor.from_camera(1.1, 20.0), FPS)
    assert 0.85 < high.weight < 1.0 and low.weight < high.weight - 0.1
    g = Ground(CAMERA, FPS)  # default: weighted, and at most max_step per contact frame after the first
    far = standing(5.0) * 1.08
    g.observe(far, np.ones(17, bool))
    g.apply(far)
    first = g.scale
    assert first == pytest.approx(1 + g.weight * (1 / 1.08 - 1), abs=2e-3)
    right = standing(5.0)  # the estimator gets the size right from now on: the scale walks back to 1
    g.observe(right, np.ones(17, bool))  # the feet jumped 0.4 m with the estimate: no contact this frame
    assert not any(g.contact) and g.apply(right) is not None and g.scale == first
    for k in range(3):
        g.observe(right, np.ones(17, bool))
        g.apply(right)
        assert g.scale == pytest.approx(min(first + (k + 1) * g.p.max_step, 1.0), abs=1e-3)


def test_never_under_the_floor_and_a_contradicting_floor_is_set_aside():
    g = Ground(CAMERA, FPS)
    sunk = standing(4.0, lift=-0.4)  # a pose coasting while nobody is seen, 0.4 m under the floor
    g.observe(None, None)
    out = g.apply(sunk)
    assert CAMERA.height(out[list(ANKLES)]).min() >= 0.08 - 0.05 - 1e-6 and g.lifted == 1
    wrong = Floor.from_camera(0.8, 20.0)  # the wrong TF frame: the person seems 1.6 m under it
    g2 = Ground(wrong, FPS, GroundParams(contact_m=10.0))
    p = standing(4.0)
    for _ in range(int(2.5 * FPS)):
        g2.observe(p, np.ones(17, bool))
        g2.apply(p)
    assert g2.set_aside and g2.status()["floor"].startswith("set aside")
    assert np.allclose(g2.apply(p), p)  # nothing is forced onto a floor the person contradicts


def test_refiner_with_a_floor_publishes_people_standing_on_it(prior_model):
    from stride_ros.stream.association import Person
    from stride_ros.stream.refiner import StreamConfig, StreamingRefiner
    r = StreamingRefiner(prior_model, StreamConfig(lag=0, floor=CAMERA))
    base = standing(5.0) * 1.1  # 10 % too far
    for t in range(45):
        fr = r.push(t / FPS, [Person(base + np.array([0.01 * t, 0, 0], np.float32))]).frames
    tp = next(iter(fr[0].tracks.values()))
    assert abs(float(CAMERA.height(tp.poses[list(ANKLES)]).min()) - 0.08) < 0.03
    st = r.status()["tracks"]
    (only,) = st.values()
    assert only["floor"] == "in use" and 0.85 < only["scale"] < 0.97 and 4.0 < only["distance_m"] < 5.5


def test_transform_tree_chains_edges_both_ways():
    from scipy.spatial.transform import Rotation

    from stride_ros.ros.floor_source import TransformTree
    tree = TransformTree()
    Ra = Rotation.from_euler("xyz", [0.1, 0.2, 0.3]).as_matrix()
    Rb = Rotation.from_euler("xyz", [-0.4, 0.0, 0.5]).as_matrix()
    tree.add("base_footprint", "base_link", np.eye(3), np.array([0, 0, 0.1]))
    tree.add("base_link", "head", Ra, np.array([0.1, 0, 1.2]))
    tree.add("head", "camera_optical", Rb, np.array([0.05, 0.0, 0.1]))
    R, t = tree.lookup("base_footprint", "camera_optical")
    p = np.array([0.3, -0.2, 2.0])
    want = (Ra @ (Rb @ p + [0.05, 0, 0.1]) + [0.1, 0, 1.2]) + [0, 0, 0.1]
    assert np.allclose(R @ p + t, want)
    Rinv, tinv = tree.lookup("camera_optical", "base_footprint")
    assert np.allclose(Rinv @ want + tinv, p)
    assert tree.lookup("base_footprint", "nowhere") is None


@pytest.mark.parametrize("args,fragment", [
    (["--floor", "0,1,1,-2"], "unit"),
    (["--floor", "0,-0.94,-0.34,-2", "--no-floor"], "contradict"),
])
def test_refine_floor_options_are_checked_in_one_line(tmp_path, args, fragment):
    from stride_ros.data.posefile import PoseSequence, save_poses
    src = tmp_path / "in.npz"
    save_poses(src, PoseSequence(np.stack([standing(4.0)] * 10), FPS))
    res = run_cli("refine", str(src), "-o", str(tmp_path / "out.npz"), "--mode", "stream", *args)
    assert res.returncode == 2 and fragment in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


# --- the node over real DDS -------------------------------------------------------------------------------
rclpy = pytest.importorskip("rclpy")


@pytest.fixture
def ros(tmp_path):
    from rosclient import Client, NodeProcess, fresh_domain
    domain = fresh_domain()
    client = Client(domain)
    procs = []

    def start(*params):
        args = []
        for p in params:
            args += ["-p", p]
        procs.append(NodeProcess(domain, args, tmp_path / f"node{len(procs)}.log"))
        return procs[-1]
    yield start, client
    for p in procs:
        p.stop()
    client.close()


def _feed_until_diagnostics(client, want, frames: int = 90):
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from rosclient import make_input_cloud, wait_for_subscriber
    from sensor_msgs.msg import PointCloud2
    reliable = QoSProfile(depth=50, reliability=QoSReliabilityPolicy.RELIABLE)
    pub = client.node.create_publisher(PointCloud2, "/human_pose", reliable)
    client.subscribe(DiagnosticArray, "/diagnostics", reliable)
    wait_for_subscriber(client, pub)
    client.spin_for(0.5)
    t0 = time.time()
    pose = standing(5.0) * 1.1
    for t in range(frames):
        pub.publish(make_input_cloud(t0 + t / FPS, [(0, pose, np.ones(17, np.float32))], frame_id="camera_optical"))
        client.spin_for(1 / FPS)

    def kv():
        got = client.received["/diagnostics"]
        return {v.key: v.value for v in got[-1][1].status[0].values} if got else {}
    assert client.spin_until(lambda: want(kv()), 10), kv()
    return kv()


def test_node_takes_the_floor_from_parameters_and_reports_each_person(ros):
    start, client = ros
    node = start("camera_height_m:=2.4", "camera_pitch_deg:=20.0", "diagnostics_period_s:=0.3")
    kv = _feed_until_diagnostics(client, lambda kv: "track_0_scale" in kv and kv.get("track_0_contact") != "none")
    assert kv["floor"].startswith("in use") and kv["track_0_floor"] == "in use"
    assert 0.85 < float(kv["track_0_scale"]) < 0.97 and 4.0 < float(kv["track_0_distance_m"]) < 5.5
    assert 1.4 < float(kv["track_0_height_m"]) < 2.0
    assert node.proc.poll() is None


def test_node_without_a_floor_says_distance_rests_on_body_size(ros):
    start, client = ros
    start("diagnostics_period_s:=0.3")
    kv = _feed_until_diagnostics(client, lambda kv: "track_0_distance_m" in kv, frames=20)
    assert kv["floor"].startswith("none: distance rests on")


def test_node_takes_the_floor_from_tf(ros):
    tf2_msgs = pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs is built by `stride-ros build-interfaces`")
    from geometry_msgs.msg import Quaternion, Transform, TransformStamped, Vector3
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Header
    start, client = ros
    start("floor_frame:=base_footprint", "diagnostics_period_s:=0.3")
    static = QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL, reliability=ReliabilityPolicy.RELIABLE)
    pub = client.node.create_publisher(tf2_msgs.TFMessage, "/tf_static", static)
    # camera_optical seen from base_footprint: 2.4 m up, looking 20 deg down (x right, y down, z forward)
    a = math.radians(20.0)
    R = np.array([[0.0, -np.sin(a), np.cos(a)], [-1.0, 0.0, 0.0], [0.0, -np.cos(a), -np.sin(a)]])
    from scipy.spatial.transform import Rotation
    x, y, z, w = Rotation.from_matrix(R).as_quat()
    tr = TransformStamped(header=Header(frame_id="base_footprint"), child_frame_id="camera_optical",
                          transform=Transform(translation=Vector3(x=0.0, y=0.0, z=2.4),
                                              rotation=Quaternion(x=x, y=y, z=z, w=w)))
    pub.publish(tf2_msgs.TFMessage(transforms=[tr]))
    kv = _feed_until_diagnostics(client, lambda kv: kv.get("floor", "").startswith("in use")
                                 and "track_0_scale" in kv and kv.get("track_0_contact") != "none")
    assert "TF base_footprint <- camera_optical" in kv["floor"]
    want = Floor.from_camera(2.4, 20.0)
    got = parse_floor(kv["floor"].split("n (")[1].split(")")[0].replace(" ", "") + ","
                      + kv["floor"].split("d ")[1].split(" m")[0], origin_is_camera=False)
    assert np.allclose(got.as_array(), want.as_array(), atol=2e-3)
    assert 0.85 < float(kv["track_0_scale"]) < 0.97


@pytest.mark.parametrize("param,name", [("floor_plane:=0,1,1,-2", "floor_plane"),
                                        ("camera_pitch_deg:=10.0", "camera_pitch_deg"),
                                        ("camera_height_m:=-1.0", "camera_height_m")])
def test_bad_floor_parameters_end_the_node_in_one_line(ros, param, name):
    start, _ = ros
    node = start(param)
    assert node.proc.wait(timeout=60) == 2
    out = node.output()
    assert name in out and "Traceback" not in out
