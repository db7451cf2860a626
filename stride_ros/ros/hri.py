# SPDX-License-Identifier: MIT
"""The refined skeletons as ROS4HRI bodies (REP-155), so HRI tools (libhri, pyhri, hri_rviz) see them.

For each refined frame: `/humans/bodies/tracked` (hri_msgs/IdsList) lists the bodies; on `/tf`, a frame
`body_<id>` per person at the hip midpoint (x forward = the way the body faces, y left, z up), parented
to the skeleton's own frame (header.frame_id), and one frame `<joint>_<id>` per joint (names from
core/skeleton.JOINT_NAMES) parented to `body_<id>`; with the camera's intrinsics known,
`/humans/bodies/<id>/skeleton2d` (hri_msgs/Skeleton2D): the refined joints projected into the image.

"Up" is the floor's normal when the caller knows one; otherwise the body's own up (pelvis -> thorax),
averaged over the last few frames so the frame does not wobble with the torso. A body id is `b<track
id>` (a topic name token must start with a letter); REP-155 wants a body id never to name two bodies,
so a track id that comes back after its body was gone gets a new id (`b<track id>_<n>`).

The geometry is plain numpy (tested without ROS); `HriPublisher` owns the publishers. hri_msgs and
tf2_msgs have no wheels: `stride-ros build-interfaces` builds them where ROS does not provide them.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..core.skeleton import JOINT_NAMES
from .stamps import sec_nanosec

R_HIP, L_HIP, PELVIS, THORAX, L_SHOULDER, R_SHOULDER = 1, 4, 0, 8, 11, 14
UP_FRAMES = 8  # the body's own up: mean of the last this-many pelvis -> thorax directions
TF_TOPIC = "/tf"

# Skeleton2D's 18 keypoints (OpenPose COCO order: nose, neck, right arm, left arm, right leg, left leg,
# eyes, ears) from the 17 joints: nose <- joint 9 (the nose in the camera chain, "neck/nose" in
# Human3.6M exports), neck <- thorax (the shoulders' midpoint, as in OpenPose). Eyes and ears: none.
SKELETON2D_JOINTS: tuple[int | None, ...] = (9, 8, 14, 15, 16, 11, 12, 13, 1, 2, 3, 4, 5, 6,
                                             None, None, None, None)


def body_id(track_id: int, life: int = 0) -> str:
    """The REP-155 body id of a track: `b<id>`, `b<id>_<life>` when the track id returns after its body
    was gone (a body id names one body only)."""
    return f"b{track_id}" if life == 0 else f"b{track_id}_{life}"


def hip_midpoint(poses: np.ndarray) -> np.ndarray:
    """[17, 3] -> [3]: the origin of `body_<id>` (REP-155: the middle of the line between the hips)."""
    return (poses[R_HIP] + poses[L_HIP]) / 2


def _unit(v: np.ndarray) -> np.ndarray | None:
    n = float(np.linalg.norm(v))
    return v / n if np.isfinite(n) and n > 1e-9 else None


def trunk_up(poses: np.ndarray) -> np.ndarray | None:
    """The body's own up: the unit vector pelvis -> thorax (None if degenerate)."""
    return _unit(poses[THORAX] - poses[PELVIS])


class UpAverage:
    """The body's own up over the last `n` frames, so one frame's bend or noise does not tilt the body frame."""

    def __init__(self, n: int = UP_FRAMES):
        self.recent: deque[np.ndarray] = deque(maxlen=n)

    def update(self, poses: np.ndarray) -> np.ndarray | None:
        u = trunk_up(poses)
        if u is not None:
            self.recent.append(u)
        return _unit(np.mean(self.recent, axis=0)) if self.recent else None


def body_rotation(poses: np.ndarray, up: np.ndarray) -> np.ndarray | None:
    """[3, 3] with columns x (forward), y (left), z (= up) of the body frame in the skeleton's frame.

    Left is the mean of the right->left hip and shoulder directions, made horizontal (orthogonal to up);
    forward = left x up, so the frame is right-handed (REP-103). None when left is parallel to up.
    """
    z = _unit(np.asarray(up, np.float64))
    if z is None:
        return None
    sides = [_unit(poses[a] - poses[b]) for a, b in ((L_HIP, R_HIP), (L_SHOULDER, R_SHOULDER))]
    sides = [s for s in sides if s is not None]
    if not sides:
        return None
    left = np.sum(sides, axis=0)
    y = _unit(left - (left @ z) * z)
    if y is None:
        return None
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=1)


def joint_offsets(poses: np.ndarray, origin: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """[17, 3]: each joint in the body frame (the translations of the `<joint>_<id>` frames)."""
    return (poses - origin) @ rotation


def quaternion_xyzw(rotation: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion (x, y, z, w), w >= 0 (Shepperd's method: stable for any angle)."""
    m = rotation
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = np.array([(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4])
    elif m[0, 0] >= m[1, 1] and m[0, 0] >= m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = np.array([s / 4, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s])
    elif m[1, 1] >= m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = np.array([(m[0, 1] + m[1, 0]) / s, s / 4, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s])
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = np.array([(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, s / 4, (m[1, 0] - m[0, 1]) / s])
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def skeleton2d_points(poses: np.ndarray, confidence: np.ndarray, K: np.ndarray, width: int,
                      height: int) -> np.ndarray:
    """[18, 3] (x, y, c) for Skeleton2D: the joints projected with intrinsics K (the skeleton in that
    camera's optical frame), divided by the image size. Keypoints we do not have, joints behind the
    camera or outside the image: c = 0 (coordinates clamped into [0, 1], as the message requires)."""
    out = np.zeros((len(SKELETON2D_JOINTS), 3), np.float64)
    for k, j in enumerate(SKELETON2D_JOINTS):
        if j is None:
            continue
        X = poses[j]
        if not (np.isfinite(X).all() and X[2] > 1e-6):
            continue
        u, v, w = K @ X
        x, y = u / w / width, v / w / height
        inside = 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0
        out[k] = (min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0),
                  float(np.clip(confidence[j], 0.0, 1.0)) if inside else 0.0)
    return out


@dataclass
class BodyState:
    """One published body: its id, its up average, its skeleton2d publisher (created when first needed)."""
    id: str
    up: UpAverage = field(default_factory=UpAverage)
    rotation: np.ndarray | None = None  # the last good one: used if this frame's is degenerate
    skeleton_pub: Any = None


def interfaces_missing() -> str | None:
    """None when hri_msgs and tf2_msgs import, else why not (one line)."""
    try:
        import hri_msgs.msg  # noqa: F401
        import tf2_msgs.msg  # noqa: F401
    except ImportError as e:
        return str(e)
    return None


def attach(node, enabled: bool, prefix: str, camera_info_topic: str) -> "HriPublisher | None":
    """The node's ROS4HRI publisher, or None: turned off, or the interfaces are not installed (one INFO
    line says so; the node runs without it)."""
    if not enabled:
        return None
    missing = interfaces_missing()
    if missing:
        node.get_logger().info(f"ROS4HRI bodies not published: hri_msgs/tf2_msgs not installed ({missing}); "
                               "`stride-ros build-interfaces` builds them")
        return None
    return HriPublisher(node, prefix, camera_info_topic)


class HriPublisher:
    """Owns the ROS4HRI publishers of one node: tracked ids, /tf, and one skeleton2d per body.

    `publish(header, persons, up)` once per refined frame: persons = [(track id, poses [17, 3],
    confidence [17])] in header.frame_id; up = the floor's normal in that frame, if known.
    """

    def __init__(self, node, prefix: str = "/humans/bodies", camera_info_topic: str = "",
                 warn: Callable[[str], None] | None = None):
        from geometry_msgs.msg import TransformStamped
        from hri_msgs.msg import IdsList, NormalizedPointOfInterest2D, Skeleton2D
        from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
        from tf2_msgs.msg import TFMessage
        self.node = node
        self.prefix = prefix.rstrip("/")
        self.IdsList, self.Skeleton2D, self.Point = IdsList, Skeleton2D, NormalizedPointOfInterest2D
        self.TFMessage, self.TransformStamped = TFMessage, TransformStamped
        reliable = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=10,
                              reliability=QoSReliabilityPolicy.RELIABLE)
        self.skeleton_qos = reliable
        tf_qos = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=100,  # tf2_ros' broadcaster QoS
                            reliability=QoSReliabilityPolicy.RELIABLE, durability=QoSDurabilityPolicy.VOLATILE)
        self.pub_tracked = node.create_publisher(IdsList, f"{self.prefix}/tracked", reliable)
        self.pub_tf = node.create_publisher(TFMessage, TF_TOPIC, tf_qos)
        self.bodies: dict[int, BodyState] = {}
        self.lives: dict[int, int] = {}  # track id -> bodies it has had (a returning id gets a new body id)
        self.K: np.ndarray | None = None
        self.image_size = (0, 0)
        self.camera_frame = ""
        self._warn = warn or node.get_logger().warning
        self._warned: set[str] = set()
        self._last_header = None
        if camera_info_topic:
            from sensor_msgs.msg import CameraInfo
            node.create_subscription(CameraInfo, camera_info_topic, self._on_camera_info, 5)

    def _on_camera_info(self, msg) -> None:
        self.K = np.array(msg.k, np.float64).reshape(3, 3)
        self.image_size = (int(msg.width), int(msg.height))
        self.camera_frame = msg.header.frame_id

    def _warn_once(self, key: str, text: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self._warn(text)

    # --- bodies appear and go -------------------------------------------------------------------
    def _update_bodies(self, track_ids: list[int]) -> None:
        for tid in [t for t in self.bodies if t not in track_ids]:
            gone = self.bodies.pop(tid)
            if gone.skeleton_pub is not None:
                self.node.destroy_publisher(gone.skeleton_pub)
        for tid in track_ids:
            if tid not in self.bodies:
                life = self.lives.get(tid, 0)
                self.lives[tid] = life + 1
                self.bodies[tid] = BodyState(body_id(tid, life))

    def _skeleton_ready(self, frame_id: str) -> bool:
        """Skeleton2D needs the intrinsics, the image size, and the skeleton in that camera's frame."""
        if self.K is None:
            return False
        if not all(self.image_size):
            self._warn_once("size", "skeleton2d: camera_info has no image size: not published")
            return False
        if self.camera_frame and frame_id and self.camera_frame != frame_id:
            self._warn_once("frame", f"skeleton2d: skeletons are in '{frame_id}', the camera_info in "
                            f"'{self.camera_frame}' (projection needs the camera's frame): not published")
            return False
        return True

    # --- one refined frame ---------------------------------------------------------------------
    def publish(self, header, persons: list[tuple[int, np.ndarray, np.ndarray]],
                up: np.ndarray | None = None) -> None:
        self._last_header = header
        self._update_bodies([tid for tid, _, _ in persons])
        msg = self.IdsList(header=header, ids=[self.bodies[tid].id for tid, _, _ in persons])
        self.pub_tracked.publish(msg)
        floor_up = _unit(np.asarray(up, np.float64)) if up is not None else None
        transforms = []
        if not header.frame_id:
            self._warn_once("no_frame", "ROS4HRI: skeletons without header.frame_id: no TF frames published")
        for tid, poses, conf in persons:
            body = self.bodies[tid]
            poses = np.asarray(poses, np.float64)
            own_up = body.up.update(poses)
            z = floor_up if floor_up is not None else own_up
            rot = body_rotation(poses, z) if z is not None else None
            rot = rot if rot is not None else body.rotation
            if rot is not None and header.frame_id:
                body.rotation = rot
                origin = hip_midpoint(poses)
                frame = f"body_{body.id}"
                transforms.append(self._transform(header, header.frame_id, frame, origin, quaternion_xyzw(rot)))
                for name, off in zip(JOINT_NAMES, joint_offsets(poses, origin, rot)):
                    transforms.append(self._transform(header, frame, f"{name}_{body.id}", off, None))
            if self._skeleton_ready(header.frame_id):
                if body.skeleton_pub is None:
                    body.skeleton_pub = self.node.create_publisher(
                        self.Skeleton2D, f"{self.prefix}/{body.id}/skeleton2d", self.skeleton_qos)
                pts = skeleton2d_points(poses, np.asarray(conf, np.float64), self.K, *self.image_size)
                body.skeleton_pub.publish(self.Skeleton2D(
                    header=header, skeleton=[self.Point(x=float(x), y=float(y), c=float(c)) for x, y, c in pts]))
        if transforms:
            self.pub_tf.publish(self.TFMessage(transforms=transforms))

    def _transform(self, header, parent: str, child: str, t: np.ndarray, q: np.ndarray | None):
        m = self.TransformStamped()
        m.header.stamp = header.stamp
        m.header.frame_id = parent
        m.child_frame_id = child
        m.transform.translation.x, m.transform.translation.y, m.transform.translation.z = (float(v) for v in t)
        if q is not None:
            r = m.transform.rotation
            r.x, r.y, r.z, r.w = (float(v) for v in q)
        return m  # rotation defaults to identity (joints carry no orientation of their own)

    def forget(self, track_ids: list, stamp: float) -> None:
        """Tracks that expired with no frame to say so (input stopped): their bodies go now, and the
        tracked list without them is published, stamped `stamp`."""
        if not any(t in self.bodies for t in track_ids) or self._last_header is None:
            return
        self._update_bodies([t for t in self.bodies if t not in track_ids])
        sec, ns = sec_nanosec(stamp)
        header = type(self._last_header)(stamp=type(self._last_header.stamp)(sec=sec, nanosec=ns),
                                         frame_id=self._last_header.frame_id)
        self.pub_tracked.publish(self.IdsList(header=header, ids=[b.id for b in self.bodies.values()]))
