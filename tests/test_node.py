"""The node over real DDS, across processes: the node runs as `stride-ros node`, this process
publishes the simulated estimator stream and listens to what comes back."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from rclpy.qos import QoSProfile, QoSReliabilityPolicy  # noqa: E402
from rosclient import Client, NodeProcess, fresh_domain, make_input_cloud, stamp_of, wait_for_subscriber  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import PointCloud2, PointField  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from stride_ros.data.simulator import simulate  # noqa: E402
from stride_ros.eval import metrics  # noqa: E402
from stride_ros.eval.baselines import hold_last  # noqa: E402
from stride_ros.ros.cloud import cloud_to_persons  # noqa: E402

FPS = 30.0
RELIABLE = QoSProfile(depth=50, reliability=QoSReliabilityPolicy.RELIABLE)


@pytest.fixture
def domain():
    return fresh_domain()


@pytest.fixture
def start_node(domain, tmp_path):
    procs = []

    def start(*params: str, extra: list[str] | None = None) -> NodeProcess:
        args = []
        if os.environ.get("STRIDE_TEST_MODEL"):  # a model other than the shipped one
            args += ["-p", f"model_path:={os.environ['STRIDE_TEST_MODEL']}"]
        for p in params:
            args += ["-p", p]
        proc = NodeProcess(domain, args + (extra or []), tmp_path / f"node{len(procs)}.log")
        procs.append(proc)
        return proc

    yield start
    for p in procs:
        p.stop()


@pytest.fixture
def client(domain):
    c = Client(domain)
    yield c
    c.close()


@pytest.fixture(scope="module")
def walk_stream():
    from stride_ros.data.synthetic import synthetic_walk
    gt = synthetic_walk(seconds=10.0, fps=FPS, seed=5)
    return simulate(gt, FPS, seed=21)


def publish_stream(client: Client, pub, sim, n: int, t0: float, rate: float = FPS, track: int = 0):
    """Publish n frames at `rate` Hz in real time; returns the publish times by stamp."""
    sent = {}
    start = time.perf_counter()
    for t in range(n):
        while time.perf_counter() < start + t / rate:
            client.executor.spin_once(timeout_sec=0.001)
        stamp = t0 + t / FPS
        people = [] if np.isnan(sim.poses[t]).all() else [(track, sim.poses[t], sim.confidence[t])]
        pub.publish(make_input_cloud(stamp, people))
        sent[round(stamp, 6)] = time.perf_counter()
    return sent


def test_answers_every_frame_at_30hz_and_better_than_its_input(start_node, client, walk_stream):
    node = start_node("lag_frames:=0", "input_qos:=reliable")  # every frame delivered, even on a busy machine
    pub = client.node.create_publisher(PointCloud2, "/human_pose", RELIABLE)
    client.subscribe(PointCloud2, "/human_pose_refined", RELIABLE)
    client.subscribe(MarkerArray, "/human_pose_refined/markers", RELIABLE)
    client.subscribe(DiagnosticArray, "/diagnostics", RELIABLE)
    wait_for_subscriber(client, pub)
    client.spin_for(1.0)  # let the node's publishers match ours
    n = len(walk_stream.gt)
    t0 = 1000.0
    sent = publish_stream(client, pub, walk_stream, n, t0)
    answered = client.spin_until(lambda: len(client.received["/human_pose_refined"]) >= n, 15)
    got = client.received["/human_pose_refined"]
    stamps = [round(stamp_of(m), 6) for _, m in got]
    missing = sorted(set(sent) - set(stamps))
    assert answered, f"{len(got)} of {n} answered, missing stamps {missing[:10]}\n{node.output()[-2000:]}"
    assert stamps == sorted(sent)  # every frame answered, in order, stamped with its own frame
    # latency is measured by `stride-ros bench` and the demo, not asserted: a busy 2-core CI machine
    # once measured a p99 of 77 ms here; correctness is what this test is for
    # accuracy: better than consuming the raw stream (holding the last pose through gaps)
    refined = np.full((n, 17, 3), np.nan, np.float32)
    for _, m in got:
        people = cloud_to_persons(m)
        k = int(round((stamp_of(m) - t0) * FPS))
        if 0 in people:
            refined[k] = people[0][0]
    seen = ~np.isnan(refined).any((1, 2))
    assert seen[-n // 2:].all()
    raw = hold_last(walk_stream.poses, walk_stream.confidence, threshold=0.0)
    e_ref = metrics.mpjpe_per_frame(refined[seen], walk_stream.gt[seen]).mean()
    e_raw = metrics.mpjpe_per_frame(raw[seen], walk_stream.gt[seen]).mean()
    assert e_ref < e_raw, (e_ref, e_raw)
    assert np.nanmean(metrics.accel_error_per_frame(refined[seen], walk_stream.gt[seen])) < \
        np.nanmean(metrics.accel_error_per_frame(raw[seen], walk_stream.gt[seen]))
    # markers and diagnostics came too
    assert client.received["/human_pose_refined/markers"]
    assert len(client.received["/human_pose_refined/markers"][-1][1].markers) == 2
    assert client.spin_until(lambda: client.received["/diagnostics"], 5)
    keys = {kv.key for kv in client.received["/diagnostics"][-1][1].status[0].values}
    assert {"latency_p99_ms", "backend", "adaptation", "queue_depth"} <= keys


def test_params_file_and_sim_time(start_node, client, walk_stream, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(
        "stride_refiner:\n  ros__parameters:\n"
        "    input_topic: /people_in\n    output_topic: /people_out\n    lag_frames: 3\n"
        "    adapt: false\n    use_sim_time: true\n")
    node = start_node(extra=["--params-file", str(params)])
    clock = client.node.create_publisher(Clock, "/clock", 10)
    pub = client.node.create_publisher(PointCloud2, "/people_in", RELIABLE)
    client.subscribe(PointCloud2, "/people_out", RELIABLE)
    wait_for_subscriber(client, pub, answers=("/people_out",))
    client.spin_for(1.0)
    t0 = 50.0  # simulated time, far from wall time: a wall-clock node would call these stamps old
    for t in range(20):
        stamp = t0 + t / FPS
        sec = int(stamp)
        clock.publish(Clock(clock=rclpy.time.Time(seconds=sec, nanoseconds=int((stamp - sec) * 1e9)).to_msg()))
        pub.publish(make_input_cloud(stamp, [(0, walk_stream.poses[t], walk_stream.confidence[t])]))
        client.spin_for(0.03)
    assert client.spin_until(lambda: len(client.received["/people_out"]) >= 17, 10), node.output()[-2000:]
    out_stamps = [stamp_of(m) for _, m in client.received["/people_out"]]
    assert out_stamps[0] == pytest.approx(t0, abs=1e-6)
    assert len(out_stamps) == 17  # lag 3: the last three frames wait for future context
    # the parameters reached the node
    from rcl_interfaces.srv import GetParameters
    cli = client.node.create_client(GetParameters, "/stride_refiner/get_parameters")
    assert cli.wait_for_service(timeout_sec=10)
    fut = cli.call_async(GetParameters.Request(names=["lag_frames", "use_sim_time", "input_topic"]))
    assert client.spin_until(fut.done, 10)
    vals = fut.result().values
    assert vals[0].integer_value == 3 and vals[1].bool_value is True and vals[2].string_value == "/people_in"


def _bad_field_cloud(stamp):
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header
    header = Header(stamp=Time(sec=int(stamp), nanosec=0), frame_id="camera")
    return PointCloud2(header=header, height=1, width=17, fields=[
        PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1),
        PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1)],
        is_bigendian=False, point_step=8, row_step=8 * 17, data=bytes(8 * 17), is_dense=True)


def test_survives_every_bad_message(start_node, client, walk_stream):
    # the burst's stamps run 30 fps apart, up to 37 s past the wall clock: allow that (a stamp
    # 1000 s ahead is still "from the future"). A deep DDS history lets the whole burst reach the node's
    # own queue: with the default depth 10, a busy machine loses it in DDS and the queue never fills.
    node = start_node("lag_frames:=0", "adapt:=false", "max_queue:=64", "max_future_s:=60.0", "input_depth:=2000")
    qos = QoSProfile(depth=2000, reliability=QoSReliabilityPolicy.RELIABLE)
    pub = client.node.create_publisher(PointCloud2, "/human_pose", qos)
    client.subscribe(PointCloud2, "/human_pose_refined", RELIABLE)
    client.subscribe(DiagnosticArray, "/diagnostics", RELIABLE)
    wait_for_subscriber(client, pub)
    client.spin_for(1.0)
    now = time.time()
    good = lambda t, stamp: make_input_cloud(stamp, [(0, walk_stream.poses[t], walk_stream.confidence[t])])  # noqa: E731
    for t in range(10):
        pub.publish(good(t, now + t / FPS))
        client.spin_for(0.02)
    nan = np.full((17, 3), np.nan, np.float32)
    bad = [
        _bad_field_cloud(now + 10 / FPS),                                             # no z field
        make_input_cloud(now + 11 / FPS, [(0, walk_stream.poses[11][:16], np.ones(16))]),  # 16 points
        make_input_cloud(now + 12 / FPS, [(0, nan, np.zeros(17))]),                    # NaN everywhere
        good(13, now + 12 / FPS),                                                       # stamp repeated
        good(13, now + 8.5 / FPS),                                                      # going back a little
        good(13, now + 1000.0),                                                         # from the future
    ]
    for m in bad:
        pub.publish(m)
        client.spin_for(0.02)
    for t in range(1000):  # a burst of 1,000 at once
        pub.publish(good(t % len(walk_stream.gt), now + (20 + t) / FPS))
    client.spin_for(2.0)
    base = len(client.received["/human_pose_refined"])
    for t in range(30):  # still alive and answering
        pub.publish(good(t, now + (1100 + t) / FPS))
        client.spin_for(1 / FPS)
    answered = client.spin_until(lambda: len(client.received["/human_pose_refined"]) >= base + 30, 10)
    assert answered, node.output()[-3000:]
    assert node.proc.poll() is None
    client.received["/diagnostics"].clear()
    assert client.spin_until(lambda: client.received["/diagnostics"], 5)
    kv = {v.key: v.value for v in client.received["/diagnostics"][-1][1].status[0].values}
    for reason in ("bad_fields", "wrong_point_count", "all_nan", "duplicate_stamp", "out_of_order",
                   "future_stamp", "queue_overflow"):
        assert int(kv.get(f"dropped_{reason}", 0)) >= 1, (reason, kv)
    log = node.output()
    for reason in ("bad_fields", "wrong_point_count", "future_stamp", "queue_overflow"):
        assert log.count(f"({reason})") == 1, reason  # logged once per cause
    assert "Traceback" not in log


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_clean_shutdown(start_node, client, sig):
    node = start_node("adapt:=true")
    pub = client.node.create_publisher(PointCloud2, "/human_pose", RELIABLE)
    wait_for_subscriber(client, pub)
    code = node.stop(sig)  # a node that hangs is killed after the stop timeout: code != 0
    assert code == 0, node.output()[-2000:]
    assert "Traceback" not in node.output()


def test_pose_array_input(start_node, client, walk_stream):
    from builtin_interfaces.msg import Time
    from geometry_msgs.msg import Pose, PoseArray
    from std_msgs.msg import Header
    start_node("input_type:=pose_array", "adapt:=false")
    pub = client.node.create_publisher(PoseArray, "/human_pose", RELIABLE)
    client.subscribe(PointCloud2, "/human_pose_refined", RELIABLE)
    wait_for_subscriber(client, pub)
    client.spin_for(1.0)
    for t in range(10):
        msg = PoseArray(header=Header(stamp=Time(sec=100, nanosec=int(t / FPS * 1e9)), frame_id="camera"))
        for j in range(17):
            p = Pose()
            p.position.x, p.position.y, p.position.z = (float(v) for v in walk_stream.gt[t, j])
            msg.poses.append(p)
        pub.publish(msg)
        client.spin_for(0.03)
    assert client.spin_until(lambda: len(client.received["/human_pose_refined"]) >= 10, 10)
    people = cloud_to_persons(client.received["/human_pose_refined"][-1][1])
    assert np.isfinite(people[0][0]).all()


def test_corrupt_model_file_is_a_clear_error(start_node, tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(b"PK\x03\x04 truncated")
    node = start_node(f"model_path:={bad}")
    code = node.proc.wait(timeout=60)
    out = node.output()
    assert code != 0 and "Traceback" not in out
    assert str(bad) in out and "truncated or corrupt" in out


def test_lead_publishes_forecasts_stamped_ahead_and_lead_auto_measures_the_delay(start_node, client, walk_stream):
    """lead_auto: frames arrive 150 ms after their capture stamps; the node measures that delay,
    leads by it, stamps each forecast with its capture time + lead, and keeps the lagged output."""
    node = start_node("lead_auto:=true", "publish_lagged:=true", "diagnostics_period_s:=0.25")
    pub = client.node.create_publisher(PointCloud2, "/human_pose", RELIABLE)
    client.subscribe(PointCloud2, "/human_pose_refined", RELIABLE)
    client.subscribe(PointCloud2, "/human_pose_refined/lagged", RELIABLE)
    client.subscribe(DiagnosticArray, "/diagnostics", RELIABLE)
    wait_for_subscriber(client, pub)
    client.spin_for(1.0)
    sent = []
    for t in range(90):
        capture = time.time() - 0.15  # the camera saw this 150 ms ago
        pub.publish(make_input_cloud(capture, [(0, walk_stream.poses[t], walk_stream.confidence[t])]))
        sent.append(capture)
        client.spin_for(1 / FPS)
    assert client.spin_until(lambda: len(client.received["/human_pose_refined/lagged"]) >= 85, 10), \
        node.output()[-2000:]
    led = [stamp_of(m) for _, m in client.received["/human_pose_refined"]]
    lagged = [stamp_of(m) for _, m in client.received["/human_pose_refined/lagged"]]
    assert lagged[-1] == pytest.approx(sent[-1], abs=1e-3)  # lag 0: the capture stamp itself
    ahead = led[-1] - sent[-1]
    # led by the measured delay: at least the 150 ms injected, plus the node's own (which a busy machine
    # stretches: no upper bound but the prior's horizon, where lead_auto caps it)
    assert 0.12 < ahead <= 0.5 + 1e-3, ahead
    for _, m in client.received["/human_pose_refined"]:
        people = cloud_to_persons(m)
        assert np.isfinite(people[0][0]).all()
    kv = {v.key: v.value for v in client.received["/diagnostics"][-1][1].status[0].values}
    assert kv["lead_ms"].endswith("(auto)") and float(kv["measured_delay_ms"]) > 120, kv
