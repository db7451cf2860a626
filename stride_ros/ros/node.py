"""`stride_refiner`: the ROS 2 shell around the streaming refiner (CONTRACT.md's interface).

Threads: the executor's subscription callback only queues messages (bounded; the oldest are
dropped and counted in a burst); one processing thread converts, runs the refiner's bounded
per-frame step and publishes; the adaptation worker trains in its own thread. A bad message is
dropped, counted by reason, and logged once per reason; nothing in a message can stop the node.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from collections import Counter, deque

import numpy as np

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import PointCloud2, PointField
from visualization_msgs.msg import MarkerArray

from ..stream.worker import ProcessWorker
from ..model.backends import Backend
from ..model.checkpoint import load_model
from ..core.errors import InputError
from ..core.skeleton import NUM_JOINTS
from ..stream.refiner import StreamConfig, StreamingRefiner
from .cloud import CloudError, cloud_to_persons, make_cloud
from .markers import rclpy_kit, skeleton_markers


# name: (default, description) -- config/refine.yaml documents the same parameters
PARAMETERS: dict[str, tuple[object, str]] = {
    "input_topic": ("/human_pose", "skeletons from the upstream estimator"),
    "input_type": ("point_cloud2", "point_cloud2 or pose_array"),
    "output_topic": ("/human_pose_refined", "refined skeletons (PointCloud2)"),
    "markers_topic": ("/human_pose_refined/markers", "RViz MarkerArray"),
    "publish_markers": (True, "publish RViz markers"),
    "input_qos": ("sensor_data", "sensor_data (best effort) or reliable"),
    "input_depth": (10, "input queue depth (QoS history)"),
    "lag_frames": (0, "output lag in frames: 0 = causal, N = N frames of future context, N frames late"),
    "fps": (30.0, "nominal input rate; gaps in stamps are counted in these periods"),
    "model_path": ("", "prior checkpoint; empty = the shipped models/stride_small.pt"),
    "backend": ("auto", "auto (onnx on CPU when onnxruntime is installed, else torch), torch, onnx, tensorrt (unverified)"),
    "device": ("cpu", "cpu or cuda"),
    "threads": (1, "CPU threads for inference (adaptation takes its own)"),
    "adapt": (False, "test-time adaptation in the background (off: measured to cost accuracy with the shipped prior)"),
    "adapt_interval_s": (4.0, "seconds between adaptation bursts"),
    "adapt_epochs": (6, "STRIDE epochs per burst"),
    "max_adapted_tracks": (4, "people who may hold adapted weights at once (memory bound)"),
    "track_timeout_s": (3.0, "a person not seen for this long is dropped"),
    "max_tracks": (8, "people tracked at most"),
    "max_future_s": (1.0, "stamps further ahead of the node's clock are dropped"),
    "max_queue": (32, "messages waiting for processing; beyond, the oldest are dropped"),
    "pose_array_persons": (1, "pose_array input: messages (people) per frame to wait for"),
    "diagnostics_period_s": (1.0, "period of /diagnostics"),
    "image_topic": ("", "optional: image to draw the refined skeleton on"),
    "camera_info_topic": ("", "optional: camera_info of that image (intrinsics)"),
    "overlay_topic": ("/human_pose_refined/overlay", "overlay image output"),
}


class RefineNode(Node):
    def __init__(self, **kwargs):
        super().__init__("stride_refiner", **kwargs)
        for name, (default, desc) in PARAMETERS.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=desc))
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.p = p
        self.dropped: Counter[str] = Counter()
        self._logged: set[str] = set()
        self.latencies: deque[float] = deque(maxlen=600)
        self.frames_in = self.frames_out = 0
        self._drops_reported = 0

        import torch
        torch.set_num_threads(max(1, int(p["threads"])))
        self.model = load_model(p["model_path"] or None).to(p["device"])
        self.backend = Backend(p["backend"], p["device"], threads=int(p["threads"]))
        cfg = StreamConfig(lag=int(p["lag_frames"]), fps=float(p["fps"]), adapt=bool(p["adapt"]),
                           adapt_interval_s=float(p["adapt_interval_s"]), adapt_epochs=int(p["adapt_epochs"]),
                           max_adapted_tracks=int(p["max_adapted_tracks"]),
                           track_timeout_s=float(p["track_timeout_s"]), max_tracks=int(p["max_tracks"]))

        reliable = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=10,
                              reliability=QoSReliabilityPolicy.RELIABLE)
        if p["input_qos"] == "reliable":
            in_qos = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=int(p["input_depth"]),
                                reliability=QoSReliabilityPolicy.RELIABLE)
        elif p["input_qos"] == "sensor_data":  # rclpy's sensor-data profile, with our depth
            in_qos = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=int(p["input_depth"]),
                                reliability=QoSReliabilityPolicy.BEST_EFFORT,
                                durability=QoSDurabilityPolicy.VOLATILE)
        else:
            raise InputError(f"input_qos {p['input_qos']!r}: expected sensor_data or reliable")
        in_type = {"point_cloud2": PointCloud2, "pose_array": PoseArray}.get(p["input_type"])
        if in_type is None:
            raise InputError(f"input_type {p['input_type']!r}: expected point_cloud2 or pose_array")
        # after the checks (it may start the adaptation process), before the subscription (its
        # start-up takes a second or two, which an already-matched publisher would fill)
        self.refiner = StreamingRefiner(self.model, cfg, self.backend, ProcessWorker() if cfg.adapt else None)
        self.pub = self.create_publisher(PointCloud2, p["output_topic"], reliable)
        self.kit = rclpy_kit()
        self.pub_markers = self.create_publisher(MarkerArray, p["markers_topic"], reliable) if p["publish_markers"] else None
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", reliable)
        self.create_subscription(in_type, p["input_topic"], self._on_message, in_qos)
        self.overlay = None
        if p["image_topic"] and p["camera_info_topic"]:
            from .overlay import Overlay
            self.overlay = Overlay(self, p["image_topic"], p["camera_info_topic"], p["overlay_topic"])
        self._pose_arrays: dict[float, list] = {}
        self._queue: deque = deque()
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._process_loop, name="stride-refine", daemon=True)
        self.create_timer(float(p["diagnostics_period_s"]), self._publish_diagnostics)
        self._thread.start()
        self.get_logger().info(
            f"stride_refiner: {p['input_topic']} ({p['input_type']}) -> {p['output_topic']}, lag {cfg.lag} frames, "
            f"backend {self.backend.kind}/{p['device']}, adaptation {'on' if cfg.adapt else 'off'}, "
            f"model {self.model.cfg.dim}x{self.model.cfg.depth} ({self.model.num_params() / 1e6:.2f} M params)")

    # --- intake (executor thread): never blocks -------------------------------------------------
    def _on_message(self, msg) -> None:
        with self._cv:
            if len(self._queue) >= int(self.p["max_queue"]):
                self._queue.popleft()
                self._count("queue_overflow", f"more than {self.p['max_queue']} messages waiting: "
                            "dropping the oldest (a burst, or processing too slow)")
            self._queue.append((msg, time.perf_counter()))
            self._cv.notify()

    def _count(self, reason: str, detail: str) -> None:
        self.dropped[reason] += 1
        if reason not in self._logged:
            self._logged.add(reason)
            self.get_logger().warning(f"dropped message ({reason}): {detail} [logged once per cause]")

    # --- processing thread --------------------------------------------------------------------------
    def _process_loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    self._cv.wait(timeout=0.5)
                if self._stop:
                    return
                msg, t_recv = self._queue.popleft()
            try:
                self._process(msg, t_recv)
            except Exception as e:  # noqa: BLE001 - one bad message must never stop the node
                self._count("processing_error", f"{type(e).__name__}: {e}")

    def _process(self, msg, t_recv: float) -> None:
        self.frames_in += 1
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        now = self.get_clock().now().nanoseconds * 1e-9
        if now > 0 and stamp - now > float(self.p["max_future_s"]):
            self._count("future_stamp", f"stamp {stamp - now:.2f} s ahead of the node's clock")
            return
        if isinstance(msg, PoseArray):
            ready = self._collect_pose_array(msg, stamp)
            if ready is None:
                return
            frames = ready
        else:
            try:
                frames = [(stamp, cloud_to_persons(msg), msg.header)]
            except CloudError as e:
                self._count(e.reason, str(e))
                return
        before = Counter(self.refiner.dropped)
        for st, persons, header in frames:
            for fr in self.refiner.push(st, persons, meta=header):
                self._publish(fr)
        for reason, n in (Counter(self.refiner.dropped) - before).items():
            self.dropped[reason] += n
        self.latencies.append(time.perf_counter() - t_recv)

    def _collect_pose_array(self, msg: PoseArray, stamp: float):
        """pose_array input: one message per person; a frame is complete when enough arrived
        for its stamp, or when a newer stamp shows up."""
        pts = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses], np.float32)
        if pts.shape != (NUM_JOINTS, 3):
            self._count("wrong_point_count", f"PoseArray with {len(msg.poses)} poses, expected {NUM_JOINTS}")
            return None
        out = []
        for st in sorted(s for s in self._pose_arrays if s < stamp):
            out.append(self._pose_array_frame(st))
        self._pose_arrays.setdefault(stamp, []).append((pts, msg.header))
        if len(self._pose_arrays[stamp]) >= int(self.p["pose_array_persons"]):
            out.append(self._pose_array_frame(stamp))
        return out or None

    def _pose_array_frame(self, stamp: float):
        items = self._pose_arrays.pop(stamp)
        return stamp, {i: (pts, None) for i, (pts, _) in enumerate(items)}, items[0][1]

    def _publish(self, fr) -> None:
        header = fr.meta
        persons = [(int(tid), tp.poses, tp.confidence) for tid, tp in fr.tracks.items()]
        self.pub.publish(make_cloud(PointCloud2, PointField, header, persons))
        self.frames_out += 1
        if self.pub_markers is not None:
            self.pub_markers.publish(skeleton_markers(
                self.kit, header, [(int(t), tp.poses, tp.confidence, tp.observed) for t, tp in fr.tracks.items()]))
        if self.overlay is not None:
            self.overlay.draw(fr)

    # --- diagnostics ----------------------------------------------------------------------------------
    def diagnostics(self) -> DiagnosticArray:
        lat = np.array(self.latencies) * 1000 if self.latencies else np.zeros(1)
        st = self.refiner.status()
        kv = {
            "latency_p50_ms": f"{np.percentile(lat, 50):.2f}",
            "latency_p99_ms": f"{np.percentile(lat, 99):.2f}",
            "frames_in": str(self.frames_in),
            "frames_out": str(self.frames_out),
            "queue_depth": str(len(self._queue)),
            "backend": f"{self.backend.kind}/{self.p['device']}",
            "lag_frames": str(self.refiner.cfg.lag),
            "tracks": str(len(st["tracks"])),
            "adaptation": st["worker"],
        }
        for tid, t in st["tracks"].items():
            kv[f"track_{tid}_buffer_fill"] = f"{t['buffered']}/{self.refiner.buffer_len}"
            kv[f"track_{tid}_adaptation"] = f"{t['adaptation']} ({t['adapt_runs']} bursts) {t['last_result']}"
        for reason, n in sorted(self.dropped.items()):
            kv[f"dropped_{reason}"] = str(n)
        status = DiagnosticStatus(name="stride_refiner: refinement", hardware_id=self.get_name())
        total = sum(self.dropped.values())
        new_drops, self._drops_reported = total - self._drops_reported, total
        slow = np.percentile(lat, 99) > 1000.0 / float(self.p["fps"])
        status.level = DiagnosticStatus.WARN if new_drops or slow else DiagnosticStatus.OK
        status.message = ("dropping messages (see dropped_*)" if new_drops else
                          "slower than the frame rate (latency_p99_ms)" if slow else "ok")
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
        self._thread.join(timeout=2)
        self.refiner.close()


def main(args: list[str] | None = None) -> int:
    """Spin until SIGINT/SIGTERM. The signals only set a flag (rclpy's own handlers are off): with
    rclpy's, a signal arriving while the node or the executor is still being built shuts the context
    down under the constructor and ends in a traceback instead of a clean exit."""
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    node = None
    code = 0
    try:
        executor = SingleThreadedExecutor()
        node = RefineNode()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (InputError, ValueError) as e:
        print(f"stride_refiner: error: {e}", file=sys.stderr)
        code = 2
    finally:
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == "__main__":
    sys.exit(main())
