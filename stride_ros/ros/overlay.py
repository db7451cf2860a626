# SPDX-License-Identifier: MIT
"""Optional overlay: the refined skeleton drawn on the camera image (OpenCV), for a quick look.

Images are converted with ROS's cv_bridge when it is installed, otherwise with a small numpy
converter for the common encodings (rgb8, bgr8, mono8, rgba8, bgra8). Joints are projected with the
camera_info intrinsics; the skeleton must be in that camera's optical frame.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from ..core.skeleton import BONES
from .markers import track_colour
from .stamps import stamp_of

try:  # a ROS install has it; PyPI's cv-bridge is the old ROS 1 one and does not work with ROS 2
    from cv_bridge import CvBridge  # type: ignore
except ImportError:  # pragma: no cover
    CvBridge = None

_CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}


def image_to_numpy(msg) -> np.ndarray:
    """sensor_msgs/Image -> HxWxC uint8 (the fallback converter)."""
    if msg.encoding not in _CHANNELS:
        raise ValueError(f"image encoding {msg.encoding!r} not supported (rgb8, bgr8, mono8, rgba8, bgra8)")
    return image_view(msg).copy()


def message_bytes(data) -> np.ndarray:
    """A message's uint8[] field as a numpy view: rclpy hands an array.array, users may set bytes (a
    list of ints is copied)."""
    buffer = data if isinstance(data, (bytes, bytearray, memoryview)) or hasattr(data, "buffer_info") else bytes(data)
    return np.frombuffer(buffer, np.uint8)


def image_view(msg) -> np.ndarray:
    """HxWxC uint8 view of the message's own buffer, no copy (a 720p image is 2.7 MB: each copy
    costs about a millisecond). Valid while the message lives; copy to keep it."""
    c = _CHANNELS[msg.encoding]
    buf = message_bytes(msg.data)
    rows = buf[: msg.height * msg.step].reshape(msg.height, msg.step)[:, : msg.width * c]
    return rows.reshape(msg.height, msg.width, c)


def numpy_to_image(arr: np.ndarray, encoding: str, header, Image):
    arr = np.ascontiguousarray(arr, np.uint8)
    h, w = arr.shape[:2]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    import array as _array
    return Image(header=header, height=h, width=w, encoding=encoding, is_bigendian=0, step=w * c,
                 data=_array.array("B", arr.tobytes()))


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """[N, 3] optical-frame points -> [N, 2] pixels (NaN behind the camera)."""
    z = points[:, 2:3]
    uv = (points @ K.T)[:, :2] / np.where(z > 1e-6, z, np.nan)
    return uv


def draw_skeletons(img: np.ndarray, K: np.ndarray, persons) -> np.ndarray:
    """persons: [(track_id, poses [17, 3], observed [17])] drawn in place (BGR/RGB agnostic)."""
    import cv2
    for tid, poses, observed in persons:
        col = tuple(int(255 * v) for v in track_colour(int(tid)))
        uv = project(poses, K)
        for a, b in BONES:
            if np.isfinite(uv[[a, b]]).all():
                cv2.line(img, tuple(int(v) for v in uv[a]), tuple(int(v) for v in uv[b]), col,
                         2 if observed[a] and observed[b] else 1, cv2.LINE_AA)
        for j in range(len(uv)):
            if np.isfinite(uv[j]).all():
                cv2.circle(img, tuple(int(v) for v in uv[j]), 4 if observed[j] else 2,
                           col if observed[j] else (160, 160, 160), -1, cv2.LINE_AA)
    return img


class Overlay:
    """Keeps the last images and draws each refined frame on the image with the nearest stamp."""

    def __init__(self, node, image_topic: str, info_topic: str, out_topic: str):
        from sensor_msgs.msg import CameraInfo, Image
        self.node, self.Image = node, Image
        self.K: np.ndarray | None = None
        self.images: deque = deque(maxlen=30)
        self.bridge = CvBridge() if CvBridge is not None else None
        try:
            import cv2  # noqa: F401
            self.enabled = True
        except ImportError:
            self.enabled = False
            node.get_logger().warning("overlay disabled: OpenCV (cv2) is not installed")
        node.create_subscription(Image, image_topic, self.images.append, 5)
        node.create_subscription(CameraInfo, info_topic, self._on_info, 5)
        self.pub = node.create_publisher(Image, out_topic, 5)

    def _on_info(self, msg) -> None:
        self.K = np.array(msg.k, dtype=np.float64).reshape(3, 3)

    def draw(self, frame) -> None:
        if not self.enabled or self.K is None or not self.images:
            return
        stamp = frame.stamp
        msg = min(list(self.images), key=lambda m: abs(stamp_of(m) - stamp))
        img = (self.bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough").copy() if self.bridge
               else image_to_numpy(msg))
        persons = [(tid, tp.poses, tp.observed) for tid, tp in frame.tracks.items()]
        out = draw_skeletons(img, self.K, persons)
        self.pub.publish(self.bridge.cv2_to_imgmsg(out, encoding=msg.encoding, header=msg.header) if self.bridge
                         else numpy_to_image(out, msg.encoding, msg.header, self.Image))
