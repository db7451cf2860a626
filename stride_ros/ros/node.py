# SPDX-License-Identifier: MIT
"""The ROS 2 node `stride_refiner`: a thin shell around the streaming refiner (stream/refiner.py).

Threads: the executor thread only queues incoming messages (bounded: a burst drops the oldest,
counted) and runs the timers; one processing thread converts, steps the refiner and publishes; the
adaptation worker trains in a child process. Parameters come from `params.NodeParams`, checked
once at start-up (a bad one: one line, exit status 2). A bad message is dropped, counted by reason
and logged once per reason; an exception anywhere in a callback is caught, counted and logged at
the callback boundary: nothing a message or a timer does can stop the node.
"""
from __future__ import annotations

import difflib
import sys
import threading
import time
from collections import deque

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseArray
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import PointCloud2, PointField
from visualization_msgs.msg import MarkerArray

from ..core.counting import DropCounter
from ..core.errors import InputError
from ..core.skeleton import NUM_JOINTS
from ..model.backends import Backend
from ..model.checkpoint import load_model
from ..stream.association import Person
from ..stream.refiner import StreamConfig, StreamingRefiner
from ..stream.worker import ProcessWorker
from . import hri
from .cloud import UINT32_MAX, CloudError, cloud_to_people, make_cloud
from .floor_source import FloorSource
from .lifecycle import spin
from .markers import rclpy_kit, skeleton_markers
from .params import NodeParams
from .stamps import sec_nanosec, stamp_of

NODE_NAME = "stride_refiner"
ROS_OWN = {"use_sim_time", "start_type_description_service"}  # parameters rclpy declares itself
DELAY_SMOOTHING = 0.1  # lead_auto: exponential smoothing of the measured delay per published frame


class RefineNode(Node):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        specs = NodeParams.specs()
        for name, (default, desc, _) in specs.items():
            runtime = name in ("lead_ms",)
            self.declare_parameter(name, default, ParameterDescriptor(
                description=desc, read_only=not runtime, dynamic_typing=True))
        self._warn_unknown(set(specs))
        p = NodeParams.from_values({n: self.get_parameter(n).value for n in specs})
        self.p = p
        self._drops = DropCounter(self.get_logger().warning, "dropped ({reason}): {detail} [logged once per cause]")
        self.dropped = self._drops.counts
        self.latencies: deque[float] = deque(maxlen=600)
        self.frames_in = self.frames_out = 0
        self._drops_reported = 0
        self._last_input: float | None = None  # node clock (s) of the last message
        self._started = self._now()
        self.delay_s: float | None = None  # lead_auto: smoothed capture-to-publish delay

        import torch
        if p.device == "cuda" and not torch.cuda.is_available():
            raise InputError("parameter device: cuda requested but no CUDA device is available")
        torch.set_num_threads(p.threads)
        self.model = load_model(p.model_path or None).to(p.device)
        c = self.model.cfg
        if p.lag_frames > c.max_stream_lag:
            raise InputError(f"parameter lag_frames: {p.lag_frames} is beyond the prior's lags 0..{c.max_stream_lag}")
        self.max_lead_s = c.max_lead / p.fps if c.max_lead else 0.0
        if (p.lead_ms > 0 or p.lead_auto) and not c.max_lead:
            raise InputError("parameters lead_ms/lead_auto: this prior has no forecast heads (max_lead 0)")
        if p.lead_ms / 1000 > self.max_lead_s + 1e-9:
            raise InputError(f"parameter lead_ms: {p.lead_ms:g} is beyond the prior's horizon "
                             f"({self.max_lead_s * 1000:.0f} ms)")
        try:
            self.backend = Backend(p.backend, p.device, threads=p.threads)
        except ValueError as e:
            raise InputError(f"parameter backend: {e}") from None
        lead_s = p.lead_ms / 1000 if not p.lead_auto else (self.max_lead_s if c.max_lead else 0.0)
        self.floors = FloorSource(self, p.floor_frame, p.floor_plane, p.camera_height_m, p.camera_pitch_deg)
        cfg = StreamConfig(lag=p.lag_frames, fps=p.fps, adapt=p.adapt, adapt_interval_s=p.adapt_interval_s,
                           adapt_epochs=p.adapt_epochs, max_adapted_tracks=p.max_adapted_tracks,
                           adapt_params=p.adapt_params,
                           track_timeout_s=p.track_timeout_s, max_tracks=p.max_tracks, max_abs_m=p.max_abs_m,
                           trust_ids=p.trust_track_ids, floor=self.floors.fixed,
                           lead_s=lead_s, body_model=p.body_model, rays=p.camera_rays)
        try:  # after the checks (it may start the adaptation process), before the subscription
            self.refiner = StreamingRefiner(self.model, cfg, self.backend, ProcessWorker() if cfg.adapt else None)
        except ValueError as e:
            raise InputError(str(e)) from None
        if p.lead_auto:
            self.refiner.lead_s = 0.0  # until a delay has been measured
        self.leading = p.lead_ms > 0 or p.lead_auto

        reliable = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=10,
                              reliability=QoSReliabilityPolicy.RELIABLE)
        in_qos = QoSProfile(history=QoSHistoryPolicy.KEEP_LAST, depth=p.input_depth,
                            reliability=(QoSReliabilityPolicy.RELIABLE if p.input_qos == "reliable"
                                         else QoSReliabilityPolicy.BEST_EFFORT),
                            durability=QoSDurabilityPolicy.VOLATILE)
        in_type = {"point_cloud2": PointCloud2, "pose_array": PoseArray}[p.input_type]
        self.pub = self.create_publisher(PointCloud2, p.output_topic, reliable)
        self.pub_lagged = (self.create_publisher(PointCloud2, p.lagged_topic, reliable)
                           if self.leading and p.publish_lagged else None)
        self.kit = rclpy_kit()
        self.pub_markers = self.create_publisher(MarkerArray, p.markers_topic, reliable) if p.publish_markers else None
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", reliable)
        self.create_subscription(in_type, p.input_topic, self._on_message, in_qos)
        self.overlay = None
        if p.image_topic and p.camera_info_topic:
            from .overlay import Overlay
            self.overlay = Overlay(self, p.image_topic, p.camera_info_topic, p.overlay_topic)
        self.hri = hri.attach(self, p.publish_hri, p.hri_prefix, p.camera_info_topic)  # ROS4HRI bodies
        self._pose_arrays: dict[float, list] = {}
        self._queue: deque = deque()
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._process_loop, name="stride-refine", daemon=True)
        self.create_timer(p.diagnostics_period_s, self._guard(self._publish_diagnostics, "diagnostics"))
        self.create_timer(0.5, self._guard(self._tick, "expiry"))
        self._thread.start()
        self.get_logger().info(
            f"{NODE_NAME}: {p.input_topic} ({p.input_type}) -> {p.output_topic}, lag {cfg.lag} frames, "
            f"lead {'auto' if p.lead_auto else f'{p.lead_ms:g} ms'}, backend {self.backend.kind}/{p.device}, "
            f"adaptation {'on' if cfg.adapt else 'off'}, "
            f"model {c.dim}x{c.depth} ({self.model.num_params() / 1e6:.2f} M)")

    # --- parameters ---------------------------------------------------------------------------------
    def _warn_unknown(self, known: set[str]) -> None:
        """Overrides for parameters this node does not have (a typo like `lag: 8`) are ignored by ROS
        silently: say so, with the nearest real name."""
        for name in sorted(getattr(self, "_parameter_overrides", {})):
            if name in known or name in ROS_OWN or name.startswith("qos_overrides."):
                continue
            near = sorted(k for k in known if k.startswith(name) or name in k) or \
                difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            self.get_logger().warning(f"unknown parameter '{name}' ignored"
                                      + (f" (did you mean '{near[0]}'?)" if near else ""))

    # --- intake (executor thread): never blocks -------------------------------------------------
    def _guard(self, fn, what: str):
        """Catch, count and log anything a callback or timer raises: it must never end the node."""
        def run(*args):
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - the callback boundary
                self._count("callback_error", f"{what}: {type(e).__name__}: {e}")
        return run

    def _on_message(self, msg) -> None:
        try:
            with self._cv:
                if len(self._queue) >= self.p.max_queue:
                    self._queue.popleft()
                    self._count("queue_overflow", f"more than {self.p.max_queue} messages waiting: "
                                "dropping the oldest (a burst, or processing too slow)")
                self._queue.append(("msg", msg, time.perf_counter()))
                self._cv.notify()
            self._last_input = self._now()
        except Exception as e:  # noqa: BLE001 - the callback boundary
            self._count("callback_error", f"intake: {type(e).__name__}: {e}")

    def _tick(self) -> None:
        """Tracks expire between messages too: after track_timeout_s with no input at all."""
        if self._last_input is None or self._now() - self._last_input <= self.p.track_timeout_s:
            return
        with self._cv:
            self._queue.append(("expire", self._now() - self._last_input, 0.0))
            self._cv.notify()

    def _count(self, reason: str, detail: str, n: int = 1) -> None:
        self._drops.note(reason, detail, n)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- processing thread --------------------------------------------------------------------------
    def _process_loop(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._stop:
                    self._cv.wait(timeout=0.5)
                if self._stop:
                    return
                kind, item, t_recv = self._queue.popleft()
            try:
                if kind == "expire":
                    last = self.refiner.last_stamp
                    if last is not None:
                        gone = self.refiner.expire_idle(last + item)
                        if gone:
                            self.get_logger().info(f"no input for {item:.1f} s: tracks {gone} expired")
                            if self.hri is not None:
                                self.hri.forget(gone, last + item)
                else:
                    self._process(item, t_recv)
            except Exception as e:  # noqa: BLE001 - one bad message must never stop the node
                self._count("processing_error", f"{type(e).__name__}: {e}")

    def _process(self, msg, t_recv: float) -> None:
        self.frames_in += 1
        stamp = stamp_of(msg)
        now = self._now()
        if now > 0 and stamp - now > self.p.max_future_s:
            self._count("future_stamp", f"stamp {stamp - now:.2f} s ahead of the node's clock")
            return
        if isinstance(msg, PoseArray):
            frames = self._collect_pose_array(msg, stamp)
            if frames is None:
                return
        else:
            notes: list[tuple[str, str]] = []
            try:
                persons = cloud_to_people(msg, max_points=self.p.max_tracks * NUM_JOINTS * 4, notes=notes)
            except CloudError as e:
                self._count(e.reason, str(e))
                return
            for reason, detail in notes:
                self._count(reason, detail)
            frames = [(stamp, persons, msg.header)]
        for st, persons, header in frames:
            if self.floors.frame:  # from TF, in this message's frame (None until TF connects them)
                self.refiner.set_floor(self.floors.floor(header.frame_id))
            res = self.refiner.push(st, persons, meta=header)
            self._drops.add(res.dropped)
            if self.leading:
                for fr in res.led:
                    self._publish(fr, self.pub, markers=True)
                if self.pub_lagged is not None:
                    for fr in res.frames:
                        self._publish(fr, self.pub_lagged, markers=False)
            else:
                for fr in res.frames:
                    self._publish(fr, self.pub, markers=True)
            if self.p.lead_auto:
                self._measure_delay(st)
        self.latencies.append(time.perf_counter() - t_recv)

    def _measure_delay(self, capture: float) -> None:
        """lead_auto: lead by the smoothed capture-to-publish delay, capped at the prior's horizon."""
        d = self._now() - capture
        if not 0 <= d < 10.0:
            return  # clocks disagree (or a replay from long ago): keep the last estimate
        self.delay_s = d if self.delay_s is None else (1 - DELAY_SMOOTHING) * self.delay_s + DELAY_SMOOTHING * d
        self.refiner.lead_s = min(self.delay_s, self.max_lead_s)

    def _collect_pose_array(self, msg: PoseArray, stamp: float):
        """pose_array input: one message per person; a frame is complete when enough arrived
        for its stamp, or when a newer stamp shows up."""
        pts = np.array([[p.position.x, p.position.y, p.position.z] for p in msg.poses], np.float64)
        if pts.shape != (NUM_JOINTS, 3):
            self._count("wrong_point_count", f"PoseArray with {len(msg.poses)} poses, expected {NUM_JOINTS}")
            return None
        with np.errstate(over="ignore"):
            pts = pts.astype(np.float32)  # values beyond float32 become inf: the refiner bounds them
        out = []
        for st in sorted(s for s in self._pose_arrays if s < stamp):
            out.append(self._pose_array_frame(st))
        self._pose_arrays.setdefault(stamp, []).append((pts, msg.header))
        if len(self._pose_arrays[stamp]) >= self.p.pose_array_persons:
            out.append(self._pose_array_frame(stamp))
        while len(self._pose_arrays) > 8:  # incomplete frames never wait forever
            self._pose_arrays.pop(min(self._pose_arrays))
        return out or None

    def _pose_array_frame(self, stamp: float):
        items = self._pose_arrays.pop(stamp)
        return stamp, [Person(pts, None) for pts, _ in items], items[0][1]  # no ids: the refiner associates

    def _publish(self, fr, pub, markers: bool) -> None:
        header = fr.meta
        if fr.stamp != stamp_of(header):  # a forecast: stamped with the time it describes
            sec, ns = sec_nanosec(fr.stamp)
            header = type(header)(stamp=type(header.stamp)(sec=sec, nanosec=ns), frame_id=header.frame_id)
        persons = []
        for tid, tp in fr.tracks.items():
            if not (isinstance(tid, (int, np.integer)) and 0 <= int(tid) <= UINT32_MAX):
                self._count("bad_track_id", f"track id {tid!r} cannot be published as uint32")
                continue
            if not (np.isfinite(tp.poses).all() and np.isfinite(tp.confidence).all()):
                self._count("nonfinite_output", f"track {tid}: non-finite output withheld")
                continue
            persons.append((int(tid), tp.poses, tp.confidence, tp.observed))
        pub.publish(make_cloud(PointCloud2, PointField, header, [(t, p, c) for t, p, c, _ in persons]))
        self.frames_out += 1
        if markers and self.pub_markers is not None:
            self.pub_markers.publish(skeleton_markers(self.kit, header, persons))
        if markers and self.overlay is not None:
            self.overlay.draw(fr)
        if markers and self.hri is not None:
            floor = self.refiner.cfg.floor
            self.hri.publish(header, [(t, p, c) for t, p, c, _ in persons], up=None if floor is None else floor.normal)

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
            "backend": f"{self.backend.kind}/{self.p.device}",
            "lag_frames": str(self.refiner.cfg.lag),
            "lead_ms": f"{st['lead_s'] * 1000:.0f}" + (" (auto)" if self.p.lead_auto else ""),
            "measured_delay_ms": "-" if self.delay_s is None else f"{self.delay_s * 1000:.0f}",
            "tracks": str(len(st["tracks"])),
            "adaptation": st["worker"],
        }
        for tid, t in st["tracks"].items():
            kv[f"track_{tid}_buffer_fill"] = f"{t['buffered']}/{self.refiner.buffer_len}"
            kv[f"track_{tid}_adaptation"] = f"{t['adaptation']} ({t['adapt_runs']} bursts) {t['last_result']}"
            for key in ("distance_m", "height_m", "scale", "contact", "floor", "estimator_share"):
                if key in t:
                    kv[f"track_{tid}_{key}"] = str(t[key])
        kv["floor"] = (f"in use: {st['floor']}" if st["floor"] else
                       f"waiting for TF {self.floors.frame} <- the input's frame" if self.floors.frame else
                       "none: distance rests on the estimator's body size")
        for event, n in sorted(st["identities"].items()):
            kv[f"identities_{event}"] = str(n)
        floor_doubted = [tid for tid, t in st["tracks"].items() if str(t.get("floor", "")).startswith("set aside")]
        for reason, n in sorted(self.dropped.items()):
            kv[f"dropped_{reason}"] = str(n)
        status = DiagnosticStatus(name=f"{NODE_NAME}: refinement", hardware_id=self.get_name())
        total = sum(self.dropped.values())
        new_drops, self._drops_reported = total - self._drops_reported, total
        slow = np.percentile(lat, 99) > 1000.0 / self.p.fps
        idle = self._now() - (self._last_input if self._last_input is not None else self._started)
        stale = idle > self.p.stale_after_s
        worker_dead = self.refiner.worker is not None and not st["worker_available"]
        status.level = (DiagnosticStatus.WARN if (new_drops or slow or stale or worker_dead or floor_doubted)
                        else DiagnosticStatus.OK)
        status.message = (f"stale: no input on {self.p.input_topic} for {idle:.1f} s" if stale else
                          "adaptation off: its process kept dying" if worker_dead else
                          f"the floor contradicts person(s) {', '.join(floor_doubted)}: set aside for them (wrong "
                          "floor, or stairs/a table?)" if floor_doubted else
                          "dropping messages (see dropped_*)" if new_drops else
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
    """Spin until SIGINT/SIGTERM (ros/lifecycle.py: a clean exit, start-up errors in one line)."""
    return spin(NODE_NAME, RefineNode, args)


if __name__ == "__main__":
    sys.exit(main())
