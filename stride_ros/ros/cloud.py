# SPDX-License-Identifier: MIT
"""PointCloud2 <-> persons, per the interface contract (README): float32 x, y, z, optional confidence
and track_id,
17 points per person in the contract's joint order, persons one after another.

Works on any object shaped like sensor_msgs/msg/PointCloud2 (rclpy messages, rosbags messages),
so the node and bag replay share it. When ROS's `sensor_msgs_py` is installed its reader is used;
otherwise a small numpy structured-array reader (the same dtype logic) does the job.
"""
from __future__ import annotations

import array
from typing import Any, Hashable

import numpy as np

from ..core.skeleton import NUM_JOINTS
from ..stream.association import Person

try:  # a ROS install has it; the PyPI wheels do not
    from sensor_msgs_py import point_cloud2 as _pc2  # type: ignore
except ImportError:  # pragma: no cover - depends on the environment
    _pc2 = None

# sensor_msgs/msg/PointField datatypes
INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)
_NP = {INT8: "i1", UINT8: "u1", INT16: "i2", UINT16: "u2", INT32: "i4", UINT32: "u4", FLOAT32: "f4", FLOAT64: "f8"}


class CloudError(ValueError):
    """A cloud that does not follow the contract; `reason` is the counter key."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def cloud_dtype(msg: Any) -> np.dtype:
    endian = ">" if msg.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for f in msg.fields:
        if f.datatype not in _NP:
            continue
        names.append(f.name)
        formats.append(endian + _NP[f.datatype] if f.count <= 1 else (endian + _NP[f.datatype], (f.count,)))
        offsets.append(f.offset)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": msg.point_step})


def cloud_to_array(msg: Any) -> np.ndarray:
    """Structured array of the cloud's points (all fields)."""
    n = msg.width * msg.height
    if n == 0:
        return np.zeros(0, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    if _pc2 is not None and hasattr(_pc2, "read_points_numpy") and not isinstance(msg.data, np.ndarray):
        try:
            return np.asarray(_pc2.read_points(msg, skip_nans=False))  # pragma: no cover
        except Exception:  # noqa: BLE001 - fall back to our reader on anything odd
            pass
    dtype = cloud_dtype(msg)
    buf = msg.data if isinstance(msg.data, (bytes, bytearray)) else np.asarray(msg.data, dtype=np.uint8).tobytes()
    if msg.point_step <= 0 or len(buf) < msg.point_step * n:
        raise CloudError("truncated_cloud", f"cloud has {len(buf)} bytes for {n} points of {msg.point_step}")
    if msg.row_step and msg.height > 1 and msg.row_step != msg.point_step * msg.width:
        rows = [np.frombuffer(buf, dtype, count=msg.width, offset=r * msg.row_step) for r in range(msg.height)]
        return np.concatenate(rows)
    return np.frombuffer(buf, dtype, count=n)


UINT32_MAX = 2**32 - 1


def _decode(msg: Any, max_points: int | None, notes: list[tuple[str, str]] | None
            ) -> tuple[np.ndarray, np.ndarray | None, list[int | None] | None]:
    """(xyz [N, 17, 3], confidence [N, 17] or None, track ids per person or None without the field)."""
    names = {f.name: f for f in msg.fields}
    for axis in ("x", "y", "z"):
        if axis not in names or names[axis].datatype != FLOAT32:
            raise CloudError("bad_fields", f"cloud lacks a float32 '{axis}' field (fields: {sorted(names)})")
    claimed = int(msg.width) * int(msg.height)
    if max_points is not None and claimed > max_points:
        raise CloudError("too_many_points", f"cloud of {claimed} points: more than {max_points} "
                         "(max_tracks people x 17 joints x 4); not decoded")
    pts = cloud_to_array(msg)
    n = len(pts)
    if n == 0:
        return np.zeros((0, NUM_JOINTS, 3), np.float32), None, None
    if n % NUM_JOINTS:
        raise CloudError("wrong_point_count", f"{n} points is not a multiple of {NUM_JOINTS} joints")
    xyz = np.stack([pts["x"], pts["y"], pts["z"]], -1).astype(np.float32).reshape(-1, NUM_JOINTS, 3)
    conf = None
    if "confidence" in names:
        conf = np.asarray(pts["confidence"], np.float32).reshape(-1, NUM_JOINTS)
    keys = None
    if "track_id" in names:
        ids = np.asarray(pts["track_id"], np.float64).reshape(-1, NUM_JOINTS)[:, 0]
        ok = np.isfinite(ids) & (ids >= 0) & (ids <= UINT32_MAX) & (ids == np.round(ids))
        if not ok.all() and notes is not None:
            notes.append(("bad_track_id", f"track ids {ids[~ok].tolist()[:3]} are not integers in 0..{UINT32_MAX}: "
                          "those persons dropped"))
        keys = [int(i) if k else -1 for i, k in zip(ids, ok)]
    return xyz, conf, keys


def cloud_to_persons(msg: Any, max_points: int | None = None,
                     notes: list[tuple[str, str]] | None = None,
                     ) -> dict[Hashable, tuple[np.ndarray, np.ndarray | None]]:
    """Persons in a cloud keyed by track_id (by position without the field): {id: (poses [17, 3],
    confidence [17] or None)}; {} = nobody seen. For reading clouds whose ids are known to be unique
    (the refiner's output); the refiner's input goes through `cloud_to_people`.

    max_points: a cloud claiming more points is refused before anything is decoded (a 50 MB
    message must not cost its size in memory). A person whose track_id is not an integer in
    0..2^32-1 is left out (the others stay) and noted in `notes` as (reason, detail)."""
    xyz, conf, keys = _decode(msg, max_points, notes)
    keys = list(range(len(xyz))) if keys is None else keys
    valid = [k for k in keys if k >= 0]
    if len(set(valid)) != len(valid):
        raise CloudError("duplicate_track_id", f"track ids {valid} repeat within one cloud")
    return {k: (xyz[i], None if conf is None else conf[i]) for i, k in enumerate(keys) if k >= 0}


def cloud_to_people(msg: Any, max_points: int | None = None,
                    notes: list[tuple[str, str]] | None = None) -> list[Person]:
    """The refiner's input: every person in the cloud, in order, with its track_id (None without the
    field: the refiner then associates people itself). Repeated ids are passed on: the refiner counts
    them and associates those people by position. A person with an invalid id is left out (noted)."""
    xyz, conf, keys = _decode(msg, max_points, notes)
    return [Person(xyz[i], None if conf is None else conf[i], None if keys is None else keys[i])
            for i in range(len(xyz)) if keys is None or keys[i] >= 0]


OUT_FIELDS = (("x", 0, FLOAT32), ("y", 4, FLOAT32), ("z", 8, FLOAT32), ("confidence", 12, FLOAT32),
              ("track_id", 16, UINT32))
OUT_DTYPE = np.dtype({"names": [f[0] for f in OUT_FIELDS], "formats": ["<f4", "<f4", "<f4", "<f4", "<u4"],
                      "offsets": [f[1] for f in OUT_FIELDS], "itemsize": 20})


def persons_to_bytes(persons: list[tuple[int, np.ndarray, np.ndarray]]) -> tuple[bytes, int]:
    """[(track_id, poses [17, 3], confidence [17])] -> (little-endian point bytes, point count).
    Any point count per person is written as given (tests build malformed clouds with it)."""
    n = sum(len(poses) for _, poses, _ in persons)
    arr = np.zeros(n, OUT_DTYPE)
    start = 0
    for tid, poses, conf in persons:
        s = slice(start, start + len(poses))
        start += len(poses)
        arr["x"][s], arr["y"][s], arr["z"][s] = poses[:, 0], poses[:, 1], poses[:, 2]
        arr["confidence"][s] = conf
        arr["track_id"][s] = tid
    return arr.tobytes(), n


def make_cloud(PointCloud2, PointField, header: Any, persons: list[tuple[int, np.ndarray, np.ndarray]],
               numpy_data: bool = False):
    """Build an output cloud with the given message classes (rclpy's or a rosbags typestore's)."""
    data, n = persons_to_bytes(persons)
    fields = [PointField(name=name, offset=off, datatype=dt, count=1) for name, off, dt in OUT_FIELDS]
    payload = np.frombuffer(data, np.uint8).copy() if numpy_data else array.array("B", data)
    return PointCloud2(header=header, height=1, width=n, fields=fields, is_bigendian=False,
                       point_step=OUT_DTYPE.itemsize, row_step=OUT_DTYPE.itemsize * n, data=payload,
                       is_dense=True)
