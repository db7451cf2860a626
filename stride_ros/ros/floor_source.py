# SPDX-License-Identifier: MIT
"""Where both nodes get the floor: TF, or parameters.

- `floor_frame` (e.g. `base_footprint`): a TF frame whose z = 0 plane is the floor, z up. The plane
  in the data's frame follows from the transform between the two, looked up for each message's
  frame (a camera on a pan-tilt head moves relative to the floor). With tf2_ros importable (a ROS
  installation) its buffer and listener are used; otherwise a small listener on `/tf` and
  `/tf_static` (tf2_msgs/TFMessage, built by `stride-ros build-interfaces`) keeps the newest
  transform of every edge and chains them.
- `floor_plane`: "nx,ny,nz,d" in the input's frame (a point X lies n.X - d above the floor).
- `camera_height_m` + `camera_pitch_deg`: a camera optical frame looking down at that angle, no roll.

Every parameter form is checked at start-up (core/floor.py: a unit normal, finite, a camera above
its floor): a bad one ends the node with one line naming it. Without any, `floor()` is None and the
node's /diagnostics say that distance rests on body size.
"""
from __future__ import annotations

import threading

import numpy as np

from ..core.errors import InputError
from ..core.floor import Floor, parse_floor


def floor_from_params(plane: str, height_m: float, pitch_deg: float, frame: str) -> Floor | None:
    """The fixed floor the parameters give (None: none, or it comes from TF); InputError naming the bad one."""
    given = [n for n, v in (("floor_frame", frame), ("floor_plane", plane), ("camera_height_m", height_m)) if v]
    if len(given) > 1:
        raise InputError(f"parameters {' and '.join(given)}: give the floor one way only")
    if plane:
        return parse_floor(plane, "parameter floor_plane", origin_is_camera=False)
    if height_m:
        return Floor.from_camera(height_m, pitch_deg, "parameters camera_height_m/camera_pitch_deg")
    if pitch_deg and not frame:
        raise InputError("parameter camera_pitch_deg: needs camera_height_m")
    return None


def quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    n = np.sqrt(x * x + y * y + z * z + w * w)
    if not np.isfinite(n) or n < 1e-9:
        raise ValueError("zero quaternion")
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


class TransformTree:
    """The newest transform of every TF edge, chained on request (what tf2's buffer does, without its
    time travel: the newest transform is used, which is right for the floor of a mounted camera)."""

    def __init__(self):
        self._edges: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}  # child -> (parent, R, t)
        self._lock = threading.Lock()

    def add(self, parent: str, child: str, R: np.ndarray, t: np.ndarray) -> None:
        with self._lock:
            self._edges[child.lstrip("/")] = (parent.lstrip("/"), R, t)

    def _to_root(self, frame: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
        chain, seen = [], set()
        while frame in self._edges and frame not in seen:
            seen.add(frame)
            parent, R, t = self._edges[frame]
            chain.append((frame, R, t))
            frame = parent
        chain.append((frame, np.eye(3), np.zeros(3)))
        return chain

    def lookup(self, target: str, source: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(R, t) with p_target = R p_source + t, or None when the frames are not connected."""
        target, source = target.lstrip("/"), source.lstrip("/")
        with self._lock:
            up_s, up_t = self._to_root(source), self._to_root(target)
        if up_s[-1][0] != up_t[-1][0]:
            return None

        def to_root(chain):  # p_root = R p + t, composing child -> parent steps
            R, t = np.eye(3), np.zeros(3)
            for _, Re, te in chain[:-1]:
                R, t = Re @ R, Re @ t + te
            return R, t
        Rs, ts = to_root(up_s)
        Rt, tt = to_root(up_t)
        return Rt.T @ Rs, Rt.T @ (ts - tt)


class FloorSource:
    """The floor for a message's frame: fixed (parameters) or from TF (`floor_frame`)."""

    def __init__(self, node, floor_frame: str, plane: str, height_m: float, pitch_deg: float):
        self.fixed = floor_from_params(plane, height_m, pitch_deg, floor_frame)
        self.frame = floor_frame
        self.how = "none"
        self._buffer = self._tree = None
        if self.fixed is not None:
            self.how = self.fixed.source
        elif floor_frame:
            self._listen(node)

    def _listen(self, node) -> None:
        try:  # a ROS installation
            import tf2_ros  # type: ignore
            self._buffer = tf2_ros.Buffer()
            self._listener = tf2_ros.TransformListener(self._buffer, node)
            self.how = f"TF (tf2_ros): {self.frame}"
            return
        except ImportError:
            pass
        try:
            from tf2_msgs.msg import TFMessage  # type: ignore
        except ImportError:
            raise InputError(f"parameter floor_frame {self.frame!r}: neither tf2_ros nor tf2_msgs is importable "
                             "(run `stride-ros build-interfaces`, or give floor_plane / camera_height_m)") from None
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        self._tree = TransformTree()
        static = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                            reliability=ReliabilityPolicy.RELIABLE)
        node.create_subscription(TFMessage, "/tf_static", self._on_tf, static)
        node.create_subscription(TFMessage, "/tf", self._on_tf, QoSProfile(depth=100))
        self.how = f"TF (/tf, /tf_static): {self.frame}"

    def _on_tf(self, msg) -> None:
        for tr in msg.transforms:
            q, v = tr.transform.rotation, tr.transform.translation
            try:
                R = quaternion_matrix(q.x, q.y, q.z, q.w)
            except ValueError:
                continue
            self._tree.add(tr.header.frame_id, tr.child_frame_id, R, np.array([v.x, v.y, v.z]))

    def floor(self, frame_id: str) -> Floor | None:
        """The floor in `frame_id` (None: none configured, or TF does not connect the frames yet)."""
        if self.fixed is not None or not self.frame:
            return self.fixed
        got = None
        if self._buffer is not None:  # pragma: no cover - needs a ROS installation's tf2_ros
            import rclpy.time
            try:
                tf = self._buffer.lookup_transform(self.frame, frame_id, rclpy.time.Time())
            except Exception:  # noqa: BLE001 - tf2's LookupException and friends
                return None
            q, v = tf.transform.rotation, tf.transform.translation
            got = quaternion_matrix(q.x, q.y, q.z, q.w), np.array([v.x, v.y, v.z])
        elif self._tree is not None:
            got = self._tree.lookup(self.frame, frame_id)
        if got is None:
            return None
        try:
            return Floor.from_transform(*got, what=f"TF {self.frame} <- {frame_id}")
        except InputError:
            return None
