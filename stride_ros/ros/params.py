# SPDX-License-Identifier: MIT
"""The refiner node's parameters: declared once here, with type, default, meaning and bounds.

`config/refine.yaml`, the README's table and the node's ParameterDescriptors all come from (and are
tested against) `NodeParams`. Values are cast and checked once at start-up: a float accepts an
integer (`fps: 30`), nothing else is coerced (`lag_frames: "8"` is an error), and every problem is
one line naming the parameter. Plain Python: no ROS import, so the CLI and tests can use it.
"""
from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from ..core.errors import InputError
from ..model import BACKEND_KINDS

_TOPIC = re.compile(r"^~?/?[A-Za-z_{][A-Za-z0-9_{}]*(/[A-Za-z_{][A-Za-z0-9_{}]*)*$")


def _p(default: Any, doc: str, *, lo: float | None = None, lo_open: bool = False, hi: float | None = None,
       choices: tuple | None = None, topic: bool = False, optional_topic: bool = False, runtime: bool = False):
    """A parameter: default, one-line meaning (with units), bounds. runtime: may change while running."""
    return field(default=default, metadata=dict(doc=doc, lo=lo, lo_open=lo_open, hi=hi, choices=choices,
                                                topic=topic, optional_topic=optional_topic, runtime=runtime))


@dataclass(frozen=True)
class NodeParams:
    input_topic: str = _p("/human_pose", "skeletons from the upstream estimator", topic=True)
    input_type: str = _p("point_cloud2", "point_cloud2 or pose_array", choices=("point_cloud2", "pose_array"))
    output_topic: str = _p("/human_pose_refined", "refined skeletons (PointCloud2); with a lead, the forecast",
                           topic=True)
    markers_topic: str = _p("/human_pose_refined/markers", "RViz MarkerArray", topic=True)
    publish_markers: bool = _p(True, "publish RViz markers")
    publish_hri: bool = _p(True, "ROS4HRI (REP-155) bodies: ids on hri_prefix/tracked, TF frames body_ID and "
                           "JOINT_ID on /tf, hri_prefix/ID/skeleton2d when camera_info_topic is set (needs "
                           "hri_msgs and tf2_msgs: `stride-ros build-interfaces`; without them, off)")
    hri_prefix: str = _p("/humans/bodies", "namespace of the ROS4HRI body topics", topic=True)
    input_qos: str = _p("sensor_data", "sensor_data (best effort) or reliable", choices=("sensor_data", "reliable"))
    input_depth: int = _p(10, "input queue depth (QoS history)", lo=1)
    lag_frames: int = _p(0, "output lag in frames: 0 = causal, N = N frames of future context, N frames late "
                         "(shipped prior: 0..24)", lo=0)
    lead_ms: float = _p(0.0, "forecast horizon in ms: publish the pose at capture time + lead, stamped so "
                        "(0 = off; at most the prior's horizon, 500 ms for the shipped one)", lo=0.0)
    lead_auto: bool = _p(False, "lead by the measured delay (capture stamp -> publish), smoothed, capped at the "
                         "prior's horizon (overrides lead_ms)")
    publish_lagged: bool = _p(False, "with a lead: also publish the refined-at-lag output on lagged_topic")
    lagged_topic: str = _p("/human_pose_refined/lagged", "refined-at-lag output when a lead is on", topic=True)
    fps: float = _p(30.0, "nominal input rate (Hz); gaps in stamps are counted in these periods", lo=0.0,
                    lo_open=True, hi=1000.0)
    model_path: str = _p("", "prior checkpoint; empty = the shipped models/stride_small.pt")
    backend: str = _p("auto", "auto (onnx on CPU when onnxruntime is installed, else torch), torch, onnx, "
                      "tensorrt (unverified)", choices=("auto", *BACKEND_KINDS))
    device: str = _p("cpu", "cpu or cuda", choices=("cpu", "cuda"))
    threads: int = _p(1, "CPU threads for inference (adaptation takes its own)", lo=1, hi=64)
    adapt: bool = _p(False, "test-time adaptation in the background, in its own process")
    adapt_params: str = _p("blend", "what it learns: blend (each person's share of the estimator's pose) or the "
                           "prior's weights (top, norms, all)",
                           choices=("blend", "top", "norms", "all"))
    body_model: bool = _p(False, "impose each person's own bone lengths (a running median, left and right "
                          "averaged) on the output")
    camera_rays: bool = _p(False, "input from pose_estimator (optical frame, joints on their viewing rays): keep "
                           "refined joints on those rays and, without a floor, at the placement's distance "
                           "(camera.launch.py: on)")
    adapt_interval_s: float = _p(4.0, "seconds between adaptation bursts", lo=0.0)
    adapt_epochs: int = _p(6, "adaptation epochs per burst", lo=1)
    max_adapted_tracks: int = _p(4, "people who may hold adapted weights at once (memory bound)", lo=0)
    track_timeout_s: float = _p(3.0, "a person not seen for this long (s) is dropped", lo=0.0, lo_open=True)
    max_tracks: int = _p(8, "people tracked at most", lo=1, hi=256)
    floor_frame: str = _p("", "a TF frame whose z = 0 plane is the floor, z up (e.g. base_footprint): the floor in "
                          "each message's frame is looked up (empty: none from TF)")
    floor_plane: str = _p("", "the floor as 'nx,ny,nz,d' in the input's frame: a point X lies n.X - d metres above "
                          "it, n the unit up vector (empty: none)")
    camera_height_m: float = _p(0.0, "the floor from the camera's mounting: its height above the floor (m) for an "
                                "optical-frame input (0: none)", lo=0.0)
    camera_pitch_deg: float = _p(0.0, "with camera_height_m: how far the camera looks below the horizon (deg)",
                                 lo=-89.0, hi=89.0)
    trust_track_ids: bool = _p(True, "follow the input's track_id (a strong cue: an id that jumps where no body "
                               "can go starts or re-finds the right track); false: ignore the ids, associate "
                               "people by position, body and image overlap (input without track_id always is)")
    max_future_s: float = _p(1.0, "stamps further ahead of the node's clock (s) are dropped", lo=0.0, lo_open=True)
    max_queue: int = _p(32, "messages waiting for processing; beyond, the oldest are dropped", lo=1)
    max_abs_m: float = _p(100.0, "a joint further than this (m) from the frame's origin is implausible: "
                          "treated as missing", lo=0.0, lo_open=True)
    pose_array_persons: int = _p(1, "pose_array input: messages (people) per frame to wait for", lo=1)
    diagnostics_period_s: float = _p(1.0, "period of /diagnostics (s)", lo=0.0, lo_open=True)
    stale_after_s: float = _p(3.0, "/diagnostics says WARN (stale) after this long (s) without input", lo=0.0,
                              lo_open=True)
    image_topic: str = _p("", "optional: image to draw the refined skeleton on", optional_topic=True)
    camera_info_topic: str = _p("", "optional: camera_info (intrinsics) of the camera the skeletons are in: "
                                "the overlay and ROS4HRI skeleton2d", optional_topic=True)
    overlay_topic: str = _p("/human_pose_refined/overlay", "overlay image output", topic=True)

    @classmethod
    def specs(cls) -> dict[str, tuple[Any, str, type]]:
        """name -> (default, description, type), in declaration order."""
        return {f.name: (f.default, f.metadata["doc"], _type(f)) for f in fields(cls)}

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> "NodeParams":
        """Cast and check every value (missing ones take their default); InputError on the first bad one."""
        out = {}
        for f in fields(cls):
            v = values.get(f.name, f.default)
            out[f.name] = check(f.name, v, _type(f), f.metadata)
        return cls(**out)

    def describe(self, name: str) -> str:
        f = next(f for f in fields(self) if f.name == name)
        return f.metadata["doc"]


def _type(f) -> type:
    t = f.type if isinstance(f.type, type) else {"str": str, "int": int, "float": float, "bool": bool}[f.type]
    assert f.default is not MISSING
    return t


def check(name: str, v: Any, t: type, meta: dict) -> Any:
    """One parameter's value, cast to its type and checked, or an InputError naming it."""
    kind = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}[t]
    if t is float and isinstance(v, int) and not isinstance(v, bool):
        v = float(v)  # `fps: 30` in YAML is an int: accepted where a float is meant
    if not isinstance(v, t) or (t is int and isinstance(v, bool)):
        raise InputError(f"parameter {name}: expected {kind}, got {type(v).__name__} {v!r}")
    if t is float and not (v == v and abs(v) != float("inf")):
        raise InputError(f"parameter {name}: {v!r} is not a finite number")
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (v <= lo if meta.get("lo_open") else v < lo):
        raise InputError(f"parameter {name}: {v!r} must be {'>' if meta.get('lo_open') else '>='} {lo:g}")
    if hi is not None and v > hi:
        raise InputError(f"parameter {name}: {v!r} must be <= {hi:g}")
    if meta.get("choices") and v not in meta["choices"]:
        raise InputError(f"parameter {name}: {v!r} is not one of {', '.join(meta['choices'])}")
    if (meta.get("topic") or (meta.get("optional_topic") and v)) and not _TOPIC.match(v):
        raise InputError(f"parameter {name}: {v!r} is not a valid ROS topic name")
    return v


def node_sections(doc: dict, node_name: str) -> list[str]:
    """The top-level keys of a params file that address `node_name` (plain, /-prefixed, or /**)."""
    names = {node_name, "/" + node_name, "/**", "**"}
    return [k for k in doc if isinstance(k, str) and (k in names or k.rstrip("/").split("/")[-1] == node_name)]
