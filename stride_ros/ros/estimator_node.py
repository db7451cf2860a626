# SPDX-License-Identifier: MIT
"""The ROS 2 node `pose_estimator`: camera images in, absolute skeletons on `/human_pose` out.

It gives a ROS user with only a camera the refiner's input: sensor_msgs/Image (+ CameraInfo) ->
MediaPipe BlazePose -> 17 joints placed in the image's optical frame (vision/estimator.py, the
same code as `stride-ros estimate`) -> a PointCloud2 in the contract's layout, stamped with the
image's stamp and frame. Nobody in view = an empty cloud. Up to `max_people` people per image
(default 1: the single-person estimator, about half the cost of the multi-person one), each with
a `track_id` from the association the refiner runs (stream/identify.py): stable per person while
tracked, a new one for someone who appears where no tracked body could have gone.

It never queues images. The executor thread only puts each arriving image in a one-slot mailbox
(replacing any image still there), and one worker thread estimates whatever is newest when it is free.
An image replaced before the worker took it is skipped and counted (`dropped_busy`): a camera
faster than the estimator costs frames, never latency. A bad input (an encoding it cannot
convert, CameraInfo with no focal length, a calibration for another resolution) is dropped,
counted by reason and logged once; nothing a message does can stop the node. Its own
/diagnostics report rate, latency, what it skipped, the placement's self-check and the people
found (how many per image, tracks, MediaPipe's doubled skeletons dropped).
"""
from __future__ import annotations

import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, fields

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header

from ..core.counting import DropCounter
from ..core.errors import InputError
from ..stream.association import Associator
from ..stream.identify import identify
from ..vision.camera import Intrinsics, from_matrix, guess_intrinsics
from ..vision.estimator import DEFAULT_MAX_PEOPLE, FrameEstimate, PoseEstimator
from ..vision.multipose import MAX_PEOPLE
from .cloud import make_cloud
from .floor_source import FloorSource
from .lifecycle import spin
from .params import _p, check
from .stamps import stamp_of

NODE_NAME = "pose_estimator"
# DDS keeps this few images for the intake, which takes each at once: the one-slot mailbox, not DDS,
# decides what is skipped, so every skipped image is seen and counted (depth 1 would let DDS drop
# them uncounted); none waits longer than it takes the executor to run a callback.
IMAGE_DEPTH = 3
ROS_OWN = {"use_sim_time", "start_type_description_service"}

try:  # a ROS install has it; the PyPI wheels do not (and PyPI's cv-bridge is the ROS 1 one)
    from cv_bridge import CvBridge  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    CvBridge = None


@dataclass(frozen=True)
class EstimatorParams:
    """The node's parameters: default, meaning (with units), bounds; checked once at start-up."""
    image_topic: str = _p("/image_raw", "camera images (sensor_msgs/Image; rectified if the lens distorts)",
                          topic=True)
    camera_info_topic: str = _p("/camera_info", "the camera's intrinsics (sensor_msgs/CameraInfo); empty = none: "
                                "use fx, fy, cx, cy, or the guess", optional_topic=True)
    output_topic: str = _p("/human_pose", "skeletons out (PointCloud2, the refiner's input)", topic=True)
    image_transport: str = _p("raw", "raw: sensor_msgs/Image on image_topic; compressed: sensor_msgs/CompressedImage "
                              "(JPEG/PNG) on image_topic + '/compressed', as image_transport's compressed plugin "
                              "publishes it (a 720p frame is ~0.1 MB instead of 2.7 MB: docs/results.md, "
                              "the camera chain)",
                              choices=("raw", "compressed"))
    image_qos: str = _p("sensor_data", "images: sensor_data (best effort, matches any camera) or reliable "
                        "(large images over a lossy link)", choices=("sensor_data", "reliable"))
    fx: float = _p(0.0, "focal length x (px) when camera_info_topic is empty; 0 = guess (image width)", lo=0.0)
    fy: float = _p(0.0, "focal length y (px) when camera_info_topic is empty; 0 = fx", lo=0.0)
    cx: float = _p(-1.0, "principal point x (px) when camera_info_topic is empty; -1 = image centre", lo=-1.0)
    cy: float = _p(-1.0, "principal point y (px) when camera_info_topic is empty; -1 = image centre", lo=-1.0)
    frame_id: str = _p("", "frame of the output; empty = the image's own frame_id (its optical frame)")
    max_people: int = _p(DEFAULT_MAX_PEOPLE, "people found per image, each published with a track_id (1: the "
                         "single-person estimator; more: MediaPipe's multi-person landmarker, about twice the cost "
                         "per image and more per person: `stride-ros bench --estimator`)", lo=1, hi=MAX_PEOPLE)
    tiles: bool = _p(True, "with max_people > 1: look for people in two overlapping square tiles of a wide image "
                     "(people far from the camera are found far more often; the person detector runs twice)")
    smooth_landmarks: bool = _p(True, "MediaPipe's own landmark smoothing (its default; one person only)")
    min_detection_confidence: float = _p(0.5, "BlazePose: score to accept a new person (0-1)", lo=0.0, hi=1.0)
    min_tracking_confidence: float = _p(0.5, "BlazePose: score to keep tracking, else detect again (0-1)",
                                        lo=0.0, hi=1.0)
    floor_frame: str = _p("", "a TF frame whose z = 0 plane is the floor, z up (e.g. base_footprint): each person is "
                          "scaled about the camera to stand on it (empty: none from TF)")
    floor_plane: str = _p("", "the floor as 'nx,ny,nz,d' in the camera's optical frame (a point X lies n.X - d above "
                          "it; empty: none)")
    camera_height_m: float = _p(0.0, "the floor from the camera's mounting: its height above the floor (m; 0: none)",
                                lo=0.0)
    camera_pitch_deg: float = _p(0.0, "with camera_height_m: how far the camera looks below the horizon (deg)",
                                 lo=-89.0, hi=89.0)
    reproj_warn_px: float = _p(25.0, "/diagnostics says WARN when the mean reprojection error (px) exceeds this",
                               lo=0.0, lo_open=True)
    diagnostics_period_s: float = _p(1.0, "period of /diagnostics (s)", lo=0.0, lo_open=True)
    stale_after_s: float = _p(3.0, "/diagnostics says WARN (stale) after this long (s) without an image",
                              lo=0.0, lo_open=True)

    @classmethod
    def specs(cls) -> dict[str, tuple]:
        return {f.name: (f.default, f.metadata["doc"]) for f in fields(cls)}

    @classmethod
    def from_values(cls, values: dict) -> "EstimatorParams":
        types = {"str": str, "float": float, "bool": bool, "int": int}
        return cls(**{f.name: check(f.name, values.get(f.name, f.default), types[f.type], f.metadata)
                      for f in fields(cls)})


# --- images -> RGB arrays -------------------------------------------------------------------------------
_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}  # what the numpy fallback converts


class UnsupportedEncoding(ValueError):
    """An image encoding this node cannot turn into RGB."""


def image_to_rgb(msg, bridge=None) -> np.ndarray:
    """sensor_msgs/Image -> [H, W, 3] uint8 RGB. UnsupportedEncoding, or ValueError for a malformed image."""
    if bridge is not None:  # pragma: no cover - needs a ROS installation's cv_bridge
        try:
            return np.ascontiguousarray(bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
        except Exception as e:  # noqa: BLE001 - CvBridgeError and friends
            raise UnsupportedEncoding(f"cv_bridge cannot convert {msg.encoding!r} to rgb8: {e}") from None
    from .overlay import image_view
    if msg.encoding not in _CHANNELS:
        raise UnsupportedEncoding(f"image encoding {msg.encoding!r} not supported without cv_bridge "
                                  f"({', '.join(_CHANNELS)})")
    if msg.width == 0 or msg.height == 0:
        raise ValueError(f"empty image ({msg.width}x{msg.height})")
    channels = _CHANNELS[msg.encoding]
    if msg.step < msg.width * channels or len(msg.data) < msg.step * msg.height:
        raise ValueError(f"image of {len(msg.data)} bytes for {msg.height} rows of step {msg.step} "
                         f"({msg.width} px of {msg.encoding}): truncated or inconsistent")
    arr = image_view(msg)  # the message's buffer; the one copy below is the RGB image
    try:
        import cv2  # the estimator extra has it: one pass instead of numpy's strided copy (0.04 vs 2.3 ms at 720p)
    except ImportError:  # pragma: no cover - the node needs the estimator extra anyway
        cv2 = None
    if cv2 is not None:
        code = {"mono8": cv2.COLOR_GRAY2RGB, "bgr8": cv2.COLOR_BGR2RGB, "bgra8": cv2.COLOR_BGRA2RGB,
                "rgba8": cv2.COLOR_RGBA2RGB}.get(msg.encoding)
        return cv2.cvtColor(arr, code) if code is not None else arr.copy()
    if msg.encoding == "mono8":
        return np.repeat(arr, 3, axis=2)
    if msg.encoding.startswith("bgr"):
        return np.ascontiguousarray(arr[..., 2::-1])
    return np.ascontiguousarray(arr[..., :3])


def compressed_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG, PNG: whatever OpenCV decodes) -> [H, W, 3] uint8 RGB.
    UnsupportedEncoding for data OpenCV cannot decode."""
    import cv2

    from .overlay import message_bytes
    data = message_bytes(msg.data)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise UnsupportedEncoding(f"compressed image ({msg.format!r}, {data.size} bytes) could not be decoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def camera_info_intrinsics(msg) -> Intrinsics:
    """CameraInfo -> Intrinsics; InputError for one that cannot place anyone (zero focal length)."""
    k = np.asarray(msg.k, np.float64)
    if k.shape != (9,) or not np.isfinite(k).all():
        raise InputError(f"CameraInfo k {k.tolist()} is not 9 finite numbers")
    if k[0] <= 0 or k[4] <= 0:
        raise InputError(f"CameraInfo with focal length fx {k[0]:g}, fy {k[4]:g} (an uncalibrated camera?): "
                         "ignored; images wait for a valid one")
    size = (int(msg.width), int(msg.height)) if msg.width and msg.height else None
    return from_matrix(k, "camera_info", size)


class EstimatorNode(Node):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        specs = EstimatorParams.specs()
        for name, (default, desc) in specs.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=desc, read_only=True,
                                                                      dynamic_typing=True))
        self._warn_unknown(set(specs))
        self.p = p = EstimatorParams.from_values({n: self.get_parameter(n).value for n in specs})
        self.estimator = PoseEstimator(video=True, smooth=p.smooth_landmarks, min_detection=p.min_detection_confidence,
                                       min_tracking=p.min_tracking_confidence, max_people=p.max_people,
                                       tiles=p.tiles)
        self.floors = FloorSource(self, p.floor_frame, p.floor_plane, p.camera_height_m, p.camera_pitch_deg)
        self.estimator.floor = self.floors.fixed
        self.assoc = Associator()
        self._last_stamp: float | None = None
        self.bridge = CvBridge() if CvBridge is not None else None
        self.intr: Intrinsics | None = None
        self._drops = DropCounter(self.get_logger().warning, "dropped ({reason}): {detail} [logged once per cause]")
        self.dropped = self._drops.counts
        self.frames_in = self.frames_done = self.frames_found = self.implausible = 0
        self.frames_several = self.persons_published = self.most_people = 0
        self.untracked: Counter[str] = Counter()  # placed people the association left out, by its reason
        self.people_kv: dict[str, str] = {}  # the worker's people counters for /diagnostics, replaced whole
        self._drops_reported = 0
        self.latencies: deque[float] = deque(maxlen=300)  # image received -> cloud published (s)
        self.ages: deque[float] = deque(maxlen=300)  # image stamp -> cloud published (s, node clock)
        self.compute: deque[float] = deque(maxlen=300)  # estimator time per frame (s)
        # where a frame's time goes (s): image stamp -> received (camera + DDS; same clock only), waiting
        # for the worker, image -> RGB, building and publishing the cloud
        self.stages: dict[str, deque[float]] = {k: deque(maxlen=300)
                                                for k in ("transport", "wait", "convert", "publish")}
        self.done_at: deque[float] = deque(maxlen=60)  # when frames were published (perf_counter)
        self.reproj: deque[float] = deque(maxlen=60)
        self._last_image: float | None = None
        self._started = time.perf_counter()
        self._slot: tuple | None = None  # the newest image not yet taken: (msg, t_received)
        self._cv = threading.Condition()
        self._stop = False

        image_qos = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=IMAGE_DEPTH,
                               reliability=(QoSReliabilityPolicy.RELIABLE if p.image_qos == "reliable"
                                            else QoSReliabilityPolicy.BEST_EFFORT))
        reliable = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=10,
                              reliability=QoSReliabilityPolicy.RELIABLE)
        self.pub = self.create_publisher(PointCloud2, p.output_topic, reliable)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", reliable)
        compressed = p.image_transport == "compressed"
        self.image_topic = p.image_topic.rstrip("/") + "/compressed" if compressed else p.image_topic
        self.create_subscription(CompressedImage if compressed else Image, self.image_topic, self._on_image, image_qos)
        if p.camera_info_topic:
            self.create_subscription(CameraInfo, p.camera_info_topic, self._guard(self._on_info, "camera_info"),
                                     reliable if p.image_qos == "reliable" else image_qos)
        self.create_timer(p.diagnostics_period_s, self._guard(self._publish_diagnostics, "diagnostics"))
        self._thread = threading.Thread(target=self._work_loop, name="pose-estimator", daemon=True)
        self._thread.start()
        self.get_logger().info(
            f"{NODE_NAME}: {self.image_topic} -> {p.output_topic}; intrinsics from "
            f"{p.camera_info_topic or self._fixed_note()}; images via "
            f"{'cv_bridge' if self.bridge else 'the numpy converter'}; MediaPipe BlazePose (full), "
            + ("one person" if p.max_people == 1 else f"up to {p.max_people} people{', in tiles' if p.tiles else ''}"))

    # --- parameters ---------------------------------------------------------------------------------
    def _warn_unknown(self, known: set[str]) -> None:
        import difflib
        for name in sorted(getattr(self, "_parameter_overrides", {})):
            if name in known or name in ROS_OWN or name.startswith("qos_overrides."):
                continue
            near = difflib.get_close_matches(name, known, n=1)
            self.get_logger().warning(f"unknown parameter '{name}' ignored"
                                      + (f" (did you mean '{near[0]}'?)" if near else ""))

    def _fixed_note(self) -> str:
        return "parameters fx/fy/cx/cy" if self.p.fx > 0 else "a guess (focal length = image width, centre)"

    def _fixed_intrinsics(self, width: int, height: int) -> Intrinsics:
        """No CameraInfo topic: the parameters, with the guess for whatever they leave at its default."""
        g = guess_intrinsics(width, height)
        if self.p.fx <= 0:
            return g
        return Intrinsics(self.p.fx, self.p.fy or self.p.fx, self.p.cx if self.p.cx >= 0 else g.cx,
                          self.p.cy if self.p.cy >= 0 else g.cy, source="parameters")

    # --- intake (executor thread): never blocks, never queues ------------------------------------------
    def _guard(self, fn, what: str):
        def run(*args):
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - the callback boundary
                self._count("callback_error", f"{what}: {type(e).__name__}: {e}")
        return run

    def _on_image(self, msg: Image | CompressedImage) -> None:
        try:
            with self._cv:
                self.frames_in += 1
                if self._slot is not None:
                    self._count("busy", "the estimator was busy: the older image was skipped for the newer "
                                "one (expected when the camera is faster than the estimator)")
                self._slot = (msg, time.perf_counter(), self._now())
                self._cv.notify()
            self._last_image = time.perf_counter()
        except Exception as e:  # noqa: BLE001 - the callback boundary
            self._count("callback_error", f"image intake: {type(e).__name__}: {e}")

    def _on_info(self, msg: CameraInfo) -> None:
        try:
            intr = camera_info_intrinsics(msg)
        except InputError as e:
            self._count("bad_camera_info", str(e))
            return
        old = self.intr
        if old is None or not np.array_equal(intr.as_array(), old.as_array()) or intr.size != old.size:
            self.get_logger().info(f"intrinsics: {intr.describe()}")
        self.intr = intr

    def _count(self, reason: str, detail: str, n: int = 1) -> None:
        self._drops.note(reason, detail, n)

    # --- worker thread --------------------------------------------------------------------------------
    def _work_loop(self) -> None:
        while True:
            with self._cv:
                while self._slot is None and not self._stop:
                    self._cv.wait(timeout=0.5)
                if self._stop:
                    return
                msg, t_recv, t_recv_clock = self._slot
                self._slot = None
            try:
                self._process(msg, t_recv, t_recv_clock)
            except Exception as e:  # noqa: BLE001 - one bad image must never stop the node
                self._count("processing_error", f"{type(e).__name__}: {e}")

    def _intrinsics_for(self, width: int, height: int) -> Intrinsics | None:
        if not self.p.camera_info_topic:
            return self._fixed_intrinsics(width, height)
        intr = self.intr
        if intr is None:
            self._count("no_camera_info", f"no valid CameraInfo on {self.p.camera_info_topic} yet: images wait "
                        "for one (set camera_info_topic to '' to use fx/fy/cx/cy or the guess)")
            return None
        if intr.size is not None and intr.size != (width, height):
            self._count("camera_info_size", f"CameraInfo is for {intr.size[0]}x{intr.size[1]} images, the image is "
                        f"{width}x{height}: dropped (it would misplace everyone)")
            return None
        return intr

    def _process(self, msg: Image | CompressedImage, t_recv: float, t_recv_clock: float) -> None:
        t_take = time.perf_counter()
        if isinstance(msg, Image):  # the size is in the message: no conversion for an image that waits
            intr = self._intrinsics_for(msg.width, msg.height)
            if intr is None:
                return
        try:
            rgb = image_to_rgb(msg, self.bridge) if isinstance(msg, Image) else compressed_to_rgb(msg)
        except UnsupportedEncoding as e:
            self._count("unsupported_encoding", str(e))
            return
        except ValueError as e:
            self._count("bad_image", str(e))
            return
        if not isinstance(msg, Image):
            intr = self._intrinsics_for(rgb.shape[1], rgb.shape[0])
            if intr is None:
                return
        t_rgb = time.perf_counter()
        stamp = stamp_of(msg)
        if self.floors.frame:  # from TF, in this image's frame (None until TF connects them)
            self.estimator.floor = self.floors.floor(msg.header.frame_id)
        frame = self.estimator.people(rgb, intr, stamp)
        t_est = time.perf_counter()
        published = self._publish(msg.header, stamp, frame)
        now = time.perf_counter()
        self.frames_done += 1
        self.latencies.append(now - t_recv)
        self.compute.append(frame.seconds)
        self.done_at.append(now)
        for stage, dt in (("wait", t_take - t_recv), ("convert", t_rgb - t_take), ("publish", now - t_est)):
            self.stages[stage].append(dt)
        age = self._now() - stamp
        if 0 <= age < 60:  # clocks that disagree (a replay, another machine) say nothing
            self.ages.append(age)
            self.stages["transport"].append(t_recv_clock - stamp)
        for e in frame.people:  # BlazePose saw someone the placement could not put in front of the camera
            if not e.found and e.issues:
                self._count("placement_failed", "; ".join(e.issues) + " (that person not published)")
        placed = frame.placed
        self.persons_published += published
        self.most_people = max(self.most_people, published)
        self.frames_found += bool(published)
        self.frames_several += published >= 2
        for e in placed:
            self.reproj.append(e.reproj_px)
        self.implausible += any(e.issues for e in placed)
        self.people_kv = {  # built here, read by the diagnostics timer on the executor thread
            "frames_with_several": str(self.frames_several),  # two or more people published
            "people_most": str(self.most_people),
            "persons_published": str(self.persons_published),
            "tracks_live": str(len(self.assoc.tracks)),
            "duplicates_dropped": str(self.estimator.duplicates),  # MediaPipe's doubled skeletons
            **{f"persons_untracked_{r}": str(n) for r, n in sorted(self.untracked.items())},
            **{f"association_{k}": str(n) for k, n in sorted(self.assoc.events.items())},
        }

    def _publish(self, img_header, stamp: float, frame: FrameEstimate) -> int:
        """Every placed person with their identity (stream/identify.py) in one cloud; how many."""
        if self._last_stamp is not None and stamp < self._last_stamp - 1.0:  # a replay started over
            self.get_logger().info(f"image stamps went back {self._last_stamp - stamp:.1f} s: identities start afresh")
            self.assoc.reset()
        self._last_stamp = stamp
        ident = identify(self.assoc, stamp, frame)
        for reason in ident.untracked:
            self.untracked[reason] += 1
        persons = [(key, e.poses, e.confidence) for e, key in zip(frame.people, ident.ids) if key is not None]
        header = Header(stamp=img_header.stamp, frame_id=self.p.frame_id or img_header.frame_id)
        self.pub.publish(make_cloud(PointCloud2, PointField, header, persons))
        return len(persons)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- diagnostics ----------------------------------------------------------------------------------
    def rate_hz(self) -> float:
        t = list(self.done_at)
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) >= 2 and t[-1] > t[0] else 0.0

    def diagnostics(self) -> DiagnosticArray:
        ms = lambda d, q: f"{np.percentile(np.array(d) * 1000, q):.1f}" if d else "-"  # noqa: E731
        reproj = float(np.mean(self.reproj)) if self.reproj else float("nan")
        intr = self.intr.describe() if self.intr is not None else (
            self._fixed_note() if not self.p.camera_info_topic else "waiting for CameraInfo")
        kv = {
            "rate_hz": f"{self.rate_hz():.1f}",
            "estimator_ms_p50": ms(self.compute, 50),
            "estimator_ms_p99": ms(self.compute, 99),
            "latency_p50_ms": ms(self.latencies, 50),  # image received -> skeleton published
            "latency_p99_ms": ms(self.latencies, 99),
            "capture_to_publish_p99_ms": ms(self.ages, 99),  # image stamp -> published (same clock only)
            **{f"{stage}_ms_{name}": ms(d, q) for stage, d in self.stages.items()
               for name, q in (("p50", 50), ("p99", 99))},
            "frames_in": str(self.frames_in),
            "frames_estimated": str(self.frames_done),
            "frames_with_person": str(self.frames_found),
            **self.people_kv,
            "reprojection_px_mean": "-" if np.isnan(reproj) else f"{reproj:.1f}",
            "implausible_frames": str(self.implausible),
            "intrinsics": intr,
            "floor": (f"in use: {self.estimator.floor.describe()}" if self.estimator.floor is not None else
                      f"waiting for TF {self.floors.frame}" if self.floors.frame else
                      "none: distance rests on BlazePose's body size"),
            "converter": "cv_bridge" if self.bridge else "numpy",
        }
        for reason, n in sorted(self.dropped.items()):
            kv[f"dropped_{reason}"] = str(n)
        status = DiagnosticStatus(name=f"{NODE_NAME}: estimation", hardware_id=self.get_name())
        bad = sum(n for r, n in self.dropped.items() if r != "busy")
        new_bad, self._drops_reported = bad - self._drops_reported, bad
        idle = time.perf_counter() - (self._last_image if self._last_image is not None else self._started)
        stale = idle > self.p.stale_after_s
        off = reproj > self.p.reproj_warn_px
        status.level = DiagnosticStatus.WARN if (stale or new_bad or off) else DiagnosticStatus.OK
        status.message = (f"stale: no image on {self.image_topic} for {idle:.1f} s" if stale else
                          "dropping images (see dropped_*)" if new_bad else
                          f"placement off: reprojection {reproj:.1f} px (intrinsics wrong?)" if off else "ok")
        status.values = [KeyValue(key=k, value=v) for k, v in kv.items()]
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        arr.status = [status]
        return arr

    def _publish_diagnostics(self) -> None:
        self.pub_diag.publish(self.diagnostics())

    def shutdown(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self.estimator.close()


def main(args: list[str] | None = None) -> int:
    """Spin until SIGINT/SIGTERM (ros/lifecycle.py: a clean exit, start-up errors in one line)."""
    return spin(NODE_NAME, EstimatorNode, args)


if __name__ == "__main__":
    sys.exit(main())
