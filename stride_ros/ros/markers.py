# SPDX-License-Identifier: MIT
"""RViz markers for refined skeletons: bones as lines, joints as spheres, one colour per person;
observed joints opaque, inferred joints pale and translucent.

Markers are built through a small kit of message constructors so the same code serves the live
node (rclpy classes) and bag writing (a rosbags typestore, whose classes need every field).
"""
from __future__ import annotations

import array
import colorsys
from types import SimpleNamespace

import numpy as np

from ..core.skeleton import BONES

MARKER_LIFETIME_S = 0.5  # a person who stops being published vanishes from RViz soon after
LINE_LIST, SPHERE_LIST, ADD = 5, 7, 0  # visualization_msgs/msg/Marker constants


def rclpy_kit() -> SimpleNamespace:
    from builtin_interfaces.msg import Duration
    from geometry_msgs.msg import Point, Pose, Quaternion, Vector3
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import ColorRGBA, Header
    from visualization_msgs.msg import Marker, MarkerArray, MeshFile
    return SimpleNamespace(Marker=Marker, MarkerArray=MarkerArray, Point=Point, Pose=Pose, Quaternion=Quaternion,
                           Vector3=Vector3, ColorRGBA=ColorRGBA, Duration=Duration, Header=Header,
                           CompressedImage=CompressedImage, MeshFile=MeshFile, Time=None,
                           empty_bytes=lambda: array.array("B"))


def rosbags_kit(typestore) -> SimpleNamespace:
    t = typestore.types
    return SimpleNamespace(
        Marker=t["visualization_msgs/msg/Marker"], MarkerArray=t["visualization_msgs/msg/MarkerArray"],
        Point=t["geometry_msgs/msg/Point"], Pose=t["geometry_msgs/msg/Pose"],
        Quaternion=t["geometry_msgs/msg/Quaternion"], Vector3=t["geometry_msgs/msg/Vector3"],
        ColorRGBA=t["std_msgs/msg/ColorRGBA"], Duration=t["builtin_interfaces/msg/Duration"],
        Header=t["std_msgs/msg/Header"], Time=t["builtin_interfaces/msg/Time"],
        CompressedImage=t["sensor_msgs/msg/CompressedImage"], MeshFile=t["visualization_msgs/msg/MeshFile"],
        empty_bytes=lambda: np.zeros(0, np.uint8))


def track_colour(tid: int) -> tuple[float, float, float]:
    h = (tid * 0.61803398875) % 1.0  # golden-ratio hues: neighbours' colours stay distinct
    return colorsys.hsv_to_rgb(h, 0.85, 0.95)


def _marker(k: SimpleNamespace, header, ns: str, mid: int, mtype: int, scale: float, points, colors):
    empty_header = header
    return k.Marker(
        header=header, ns=ns, id=mid, type=mtype, action=ADD,
        pose=k.Pose(position=k.Point(x=0.0, y=0.0, z=0.0), orientation=k.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)),
        scale=k.Vector3(x=scale, y=scale, z=scale), color=k.ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0),
        lifetime=k.Duration(sec=0, nanosec=int(MARKER_LIFETIME_S * 1e9)), frame_locked=False,
        points=points, colors=colors, texture_resource="",
        texture=k.CompressedImage(header=empty_header, format="", data=k.empty_bytes()),
        uv_coordinates=[], text="", mesh_resource="", mesh_file=k.MeshFile(filename="", data=k.empty_bytes()),
        mesh_use_embedded_materials=False)


def skeleton_markers(k: SimpleNamespace, header, persons, ns: str = "stride"):
    """persons: [(track_id, poses [17, 3], confidence [17], observed [17] bool)] -> MarkerArray."""
    markers = []
    for tid, poses, conf, observed in persons:
        r, g, b = track_colour(int(tid))
        pts = [k.Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in poses]
        line_pts, line_cols = [], []
        for a, c in BONES:
            col = k.ColorRGBA(r=r, g=g, b=b, a=1.0 if (observed[a] and observed[c]) else 0.35)
            line_pts += [pts[a], pts[c]]
            line_cols += [col, col]
        joint_cols = [k.ColorRGBA(r=r, g=g, b=b, a=1.0) if observed[j]
                      else k.ColorRGBA(r=0.75, g=0.75, b=0.75, a=float(0.2 + conf[j]))  # inferred: pale grey
                      for j in range(len(poses))]
        markers.append(_marker(k, header, f"{ns}/bones", int(tid), LINE_LIST, 0.02, line_pts, line_cols))
        markers.append(_marker(k, header, f"{ns}/joints", int(tid), SPHERE_LIST, 0.05, pts, joint_cols))
    return k.MarkerArray(markers=markers)
