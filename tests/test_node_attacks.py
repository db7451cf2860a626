"""The node under attack, over real DDS from an independent client: every hostile input is dropped or
bounded and counted by reason; nothing NaN is ever published; the process lives; the valid person,
streamed at 30 Hz throughout, is still answered within a second. Both inference backends."""
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
from sensor_msgs.msg import PointCloud2, PointField  # noqa: E402

from stride_ros.ros.cloud import cloud_to_array  # noqa: E402

FPS = 30.0
RELIABLE = QoSProfile(depth=200, reliability=QoSReliabilityPolicy.RELIABLE)


@pytest.fixture(scope="module")
def valid_person():
    from stride_ros.data.simulator import SimulatorConfig, simulate
    from stride_ros.data.synthetic import synthetic_walk
    clean = SimulatorConfig(occlusion_s=0.0, partial_rate_per_s=0.0, swap_hazard=0.0, outlier_hazard=0.0)
    sim = simulate(synthetic_walk(seconds=8.0, fps=FPS, seed=2), FPS, seed=4, cfg=clean)
    return sim.poses, sim.confidence


class Session:
    """One node process and one client; rows run one after another on it."""

    def __init__(self, backend: str, tmp_path, extra: tuple[str, ...] = ()):
        self.domain = fresh_domain()
        args = ["-p", f"backend:={backend}", "-p", "diagnostics_period_s:=0.25"]
        for p in extra:
            args += ["-p", p]
        if os.environ.get("STRIDE_TEST_MODEL"):
            args += ["-p", f"model_path:={os.environ['STRIDE_TEST_MODEL']}"]
        self.node = NodeProcess(self.domain, args, tmp_path / f"attack_{backend}.log")
        self.client = Client(self.domain, name="attacker")
        self.pub = self.client.node.create_publisher(PointCloud2, "/human_pose", RELIABLE)
        self.client.subscribe(PointCloud2, "/human_pose_refined", RELIABLE)
        self.client.subscribe(DiagnosticArray, "/diagnostics", RELIABLE)
        wait_for_subscriber(self.client, self.pub, timeout=60)
        self.client.spin_for(1.0)
        self.k = 0  # frames of the valid stream sent so far

    def close(self) -> None:
        self.client.close()
        self.node.stop()

    def valid(self, poses, conf, extra=()):
        t = self.k % len(poses)
        self.k += 1
        return make_input_cloud(time.time(), [(0, poses[t], conf[t]), *extra])

    def stream(self, poses, conf, n: int, attack_at: int | None = None, attack=None) -> float:
        """n valid frames at 30 Hz; at frame `attack_at` the attack replaces or joins that frame."""
        t_attack = 0.0
        for i in range(n):
            t0 = time.perf_counter()
            if i == attack_at:
                t_attack = time.time()
                for m in attack(self, poses, conf):
                    self.pub.publish(m)
            else:
                self.pub.publish(self.valid(poses, conf))
            while time.perf_counter() < t0 + 1 / FPS:
                self.client.executor.spin_once(timeout_sec=0.002)
        return t_attack

    def dropped(self) -> dict[str, int]:
        self.client.received["/diagnostics"].clear()
        assert self.client.spin_until(lambda: self.client.received["/diagnostics"], 5)
        kv = {v.key: v.value for v in self.client.received["/diagnostics"][-1][1].status[0].values}
        return {k[len("dropped_"):]: int(v) for k, v in kv.items() if k.startswith("dropped_")}


@pytest.fixture(scope="module", params=["onnx", "torch"])
def session(request, tmp_path_factory):
    s = Session(request.param, tmp_path_factory.mktemp(f"attack_{request.param}"))
    yield s
    s.close()


def _raw_cloud(stamp: float, xyz: np.ndarray, ids=None, id_type=PointField.UINT32, bigendian=False,
               conf: np.ndarray | None = None):
    """A cloud built by hand (the project's own encoder refuses most of these)."""
    from builtin_interfaces.msg import Time
    from std_msgs.msg import Header
    n = len(xyz)
    fields = [PointField(name=c, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, c in enumerate("xyz")]
    cols = [xyz.astype("<f4")]
    off = 12
    if conf is not None:
        fields.append(PointField(name="confidence", offset=off, datatype=PointField.FLOAT32, count=1))
        cols.append(conf.reshape(-1, 1).astype("<f4"))
        off += 4
    if ids is not None:
        fields.append(PointField(name="track_id", offset=off, datatype=id_type, count=1))
        dt = {PointField.UINT32: "<u4", PointField.INT32: "<i4", PointField.FLOAT32: "<f4"}[id_type]
        cols.append(np.asarray(ids).reshape(-1, 1).astype(dt))
        off += 4
    data = b"".join(b"".join(c[i].tobytes() for c in cols) for i in range(n))
    sec = int(stamp)
    return PointCloud2(header=Header(stamp=Time(sec=sec, nanosec=int((stamp - sec) * 1e9)), frame_id="camera"),
                       height=1, width=n, fields=fields, is_bigendian=bigendian, point_step=off, row_step=off * n,
                       data=data, is_dense=False)


def _with(poses, conf, k, joint_value=None, joints=(5,)):
    p = poses[k % len(poses)].copy()
    if joint_value is not None:
        p[list(joints)] = joint_value
    return p, conf[k % len(conf)]


# --- the attack rows: (name, reason counted, attack builder) ------------------------------------------

def _one_joint_existing(s, poses, conf):
    p, c = _with(poses, conf, s.k, 1e30)
    s.k += 1
    return [make_input_cloud(time.time(), [(0, p, c)])]


def _one_joint_new_track(s, poses, conf):
    p, c = _with(poses, conf, s.k, 1e30)
    return [s.valid(poses, conf, extra=[(9, p + np.float32(1.5), c)])]


def _all_joints_huge(s, poses, conf):
    p = np.full((17, 3), 1e30, np.float32)
    return [s.valid(poses, conf, extra=[(11, p, np.ones(17, np.float32))])]


def _bigendian_lie(s, poses, conf):
    p, c = _with(poses, conf, s.k)
    s.k += 1
    return [_raw_cloud(time.time(), p, ids=np.zeros(17), conf=c, bigendian=True)]


def _negative_id(s, poses, conf):
    p, c = _with(poses, conf, s.k)
    q = p + np.float32(1.0)
    s.k += 1
    xyz = np.concatenate([p, q])
    ids = np.r_[np.zeros(17), np.full(17, -1)]
    return [_raw_cloud(time.time(), xyz, ids=ids, id_type=PointField.INT32, conf=np.r_[c, c])]


def _float_id(s, poses, conf):
    p, c = _with(poses, conf, s.k)
    s.k += 1
    xyz = np.concatenate([p, p + np.float32(1.0)])
    ids = np.r_[np.zeros(17), np.full(17, 1e30)]
    return [_raw_cloud(time.time(), xyz, ids=ids, id_type=PointField.FLOAT32, conf=np.r_[c, c])]


def _two_hundred_people(s, poses, conf):
    p, c = _with(poses, conf, s.k)
    s.k += 1
    people = [(0, p, c)] + [(i, p + np.float32(0.01 * i), c) for i in range(1, 200)]
    return [make_input_cloud(time.time(), people)]


def _future_outlier(s, poses, conf):
    return [make_input_cloud(time.time() + 0.4, [(0, *_with(poses, conf, s.k))])]


ROWS = [
    ("one joint at 1e30 on the existing track", "implausible_joint", _one_joint_existing),
    ("one joint at 1e30 on a new track", "implausible_joint", _one_joint_new_track),
    ("every joint at 1e30", "all_nan", _all_joints_huge),
    ("is_bigendian over little-endian bytes", ("implausible_joint", "implausible_pose", "all_nan"), _bigendian_lie),
    ("track_id -1 as INT32", "bad_track_id", _negative_id),
    ("track_id 1e30 as FLOAT32", "bad_track_id", _float_id),
    ("200 ids in one frame", "too_many_points", _two_hundred_people),
    ("a stamp 0.4 s ahead", "stamps_resynced", _future_outlier),
]


@pytest.mark.parametrize("name,reason,attack", ROWS, ids=[r[0] for r in ROWS])
def test_attack_row(session, valid_person, name, reason, attack):
    poses, conf = valid_person
    got = session.client.received["/human_pose_refined"]
    start = len(got)
    session.stream(poses, conf, 10)
    t_attack = session.stream(poses, conf, 40, attack_at=5, attack=attack)
    session.client.spin_for(0.5)
    assert session.node.proc.poll() is None, session.node.output()[-3000:]
    new = [m for _, m in got[start:]]
    for m in new:  # never NaN or absurd, whatever came in
        pts = cloud_to_array(m)
        for f in ("x", "y", "z", "confidence"):
            assert np.isfinite(pts[f]).all(), (name, f)
        assert (np.abs(np.stack([pts["x"], pts["y"], pts["z"]])) < 1e3).all(), name
    after = [m for m in new if t_attack < stamp_of(m) <= t_attack + 1.0]
    answered = [m for m in after if 0 in set(cloud_to_array(m)["track_id"].tolist())]
    assert answered, f"{name}: the valid person was not answered within 1 s"
    dropped = session.dropped()
    reasons = (reason,) if isinstance(reason, str) else reason
    assert sum(dropped.get(r, 0) for r in reasons) >= 1, (name, dropped)
    assert "Traceback" not in session.node.output()


# --- start-up abuse: one line, exit status 2, no traceback -----------------------------------------

BAD_START = [
    ("max_queue:=0", "max_queue"), ("fps:=0.0", "fps"), ("fps:=-30.0", "fps"), ("device:=cuda", "device"),
    ("input_topic:='bad topic!'", "input_topic"), ("diagnostics_period_s:=-1.0", "diagnostics_period_s"),
    ("max_future_s:=-1.0", "max_future_s"), ("max_tracks:=0", "max_tracks"),
    ("track_timeout_s:=-1.0", "track_timeout_s"),
    ("threads:=0", "threads"), ("lag_frames:='8'", "lag_frames"), ("lag_frames:=99", "lag_frames"),
]


@pytest.mark.parametrize("param,name", BAD_START, ids=[b[0] for b in BAD_START])
def test_bad_start_up_value_is_one_line_and_exit_2(tmp_path, param, name):
    proc = NodeProcess(fresh_domain(), ["-p", param], tmp_path / "node.log")
    code = proc.proc.wait(timeout=120)
    out = proc.output()
    proc.stop()
    assert code == 2, out[-2000:]
    assert "Traceback" not in out and name in out, out[-2000:]
    assert len([line for line in out.splitlines() if "error" in line.lower()]) == 1, out


@pytest.mark.parametrize("content,expect", [
    ("stride_refiner:\n  ros__parameters:\n    fps: [1, 2\n", "not valid YAML"),
    ("refine_node:\n  ros__parameters:\n    lag_frames: 8\n", "configures no parameter of node stride_refiner"),
    ("stride_refiner:\n  ros__parameters:\n    lag: 8\n",
     "unknown parameter 'lag' ignored (did you mean 'lag_frames'?)"),
    ("stride_refiner:\n  ros__parameters:\n    fps: 30\n    lag_frames: 2\n", "lag 2 frames"),
])
def test_params_files_are_checked(tmp_path, content, expect):
    f = tmp_path / "p.yaml"
    f.write_text(content)
    proc = NodeProcess(fresh_domain(), ["--params-file", str(f)], tmp_path / "node.log")
    deadline = time.time() + 60
    while time.time() < deadline and expect not in proc.output() and proc.proc.poll() is None:
        time.sleep(0.2)
    out = proc.output()
    proc.stop()
    assert expect in out and "Traceback" not in out, out[-2000:]


def test_model_file_that_is_text_is_one_line(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_text("not a model\n")
    proc = NodeProcess(fresh_domain(), ["-p", f"model_path:={bad}"], tmp_path / "node.log")
    code = proc.proc.wait(timeout=120)
    out = proc.output()
    proc.stop()
    assert code == 2 and "Traceback" not in out and str(bad) in out, out[-2000:]


# --- the adaptation child, killed ------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid and fields[0] != "Z":
                    out.append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_killed_adaptation_child_is_noticed_and_restarted(tmp_path, valid_person):
    s = Session("onnx", tmp_path, extra=("adapt:=true",))
    try:
        poses, conf = valid_person
        s.stream(poses, conf, 30)
        kids = [k for k in _children(s.node.proc.pid) if b"spawn_main" in open(f"/proc/{k}/cmdline", "rb").read()]
        assert kids, "no adaptation child"
        for k in kids:
            os.kill(k, signal.SIGKILL)
        s.stream(poses, conf, 60)
        assert s.node.proc.poll() is None
        out = s.node.output()
        assert "the adaptation process died" in out and "restarting" in out, out[-3000:]
        assert not [k for k in kids if _alive(k)], "the killed child stayed a zombie"
        n_before = len(s.client.received["/human_pose_refined"])
        s.stream(poses, conf, 15)
        assert len(s.client.received["/human_pose_refined"]) > n_before
    finally:
        s.close()


def test_children_die_with_a_killed_node(tmp_path):
    proc = NodeProcess(fresh_domain(), ["-p", "adapt:=true"], tmp_path / "node.log")
    try:
        deadline = time.time() + 60
        kids: list[int] = []
        while time.time() < deadline and not kids:
            kids = _children(proc.proc.pid)
            time.sleep(0.3)
        assert kids, proc.output()[-2000:]
        os.kill(proc.proc.pid, signal.SIGKILL)
        proc.proc.wait(timeout=10)
        deadline = time.time() + 10
        while time.time() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        assert not any(_alive(k) for k in kids), "children outlived the killed node"
    finally:
        proc.stop()


# --- silence: tracks expire without new input; diagnostics say stale -----------------------------------

def test_tracks_expire_and_diagnostics_go_stale_without_input(tmp_path, valid_person):
    s = Session("onnx", tmp_path, extra=("track_timeout_s:=1.0", "stale_after_s:=1.0"))
    try:
        poses, conf = valid_person
        s.stream(poses, conf, 20)
        s.client.spin_for(2.5)  # nothing arrives
        s.client.received["/diagnostics"].clear()
        assert s.client.spin_until(lambda: s.client.received["/diagnostics"], 5)
        st = s.client.received["/diagnostics"][-1][1].status[0]
        kv = {v.key: v.value for v in st.values}
        assert kv["tracks"] == "0", kv
        assert st.level == st.WARN and "stale" in st.message, st.message
    finally:
        s.close()
