# SPDX-License-Identifier: MIT
"""Pose-sequence files (.npz) as the interface contract defines them (CONTRACT.md): poses [T,17,3] float32
(NaN missing), fps, optional confidence [T,17] and stamps [T]; for several people poses [T,N,17,3],
confidence [T,N,17] and track_ids [T,N] (-1: no id / empty slot; without them the slot order means
nothing)."""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.skeleton import NUM_JOINTS


@dataclass
class PoseSequence:
    poses: np.ndarray  # [T, 17, 3] float32, or [T, N, 17, 3] for several people
    fps: float
    confidence: np.ndarray | None = None  # [T, (N,) 17] float32
    stamps: np.ndarray | None = None  # [T] float64 seconds
    track_ids: np.ndarray | None = None  # [T, N] int, -1 = no id / empty slot (several people only)

    def __len__(self) -> int:
        return self.poses.shape[0]

    @property
    def several(self) -> bool:
        """The several-people form [T, N, 17, 3]."""
        return self.poses.ndim == 4

    def confidence_or_default(self) -> np.ndarray:
        """Where no confidence is given, a present joint is fully trusted and a NaN one is absent."""
        if self.confidence is not None:
            return self.confidence
        return (~np.isnan(self.poses).any(-1)).astype(np.float32)

    def stamps_or_default(self) -> np.ndarray:
        if self.stamps is not None:
            return self.stamps
        return np.arange(len(self), dtype=np.float64) / self.fps


def load_poses(path: str | Path) -> PoseSequence:
    """Read and validate a pose file; every problem is an InputError naming the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a .npz pose file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":
            raise InputError(f"{path}: not an .npz pose file (not a zip archive: was it renamed from another format?)")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npz pose file ({type(e).__name__}: {e})") from None
    if "poses" not in data:
        raise InputError(f"{path}: no 'poses' array (keys: {sorted(data)})")
    poses = data["poses"]
    if poses.ndim not in (3, 4) or poses.shape[-2:] != (NUM_JOINTS, 3):
        raise InputError(f"{path}: 'poses' has shape {tuple(poses.shape)}, expected [T, {NUM_JOINTS}, 3] (one "
                         f"person) or [T, N, {NUM_JOINTS}, 3] (several)")
    if poses.shape[0] == 0:
        raise InputError(f"{path}: 'poses' holds no frames")
    if not np.issubdtype(poses.dtype, np.floating):
        raise InputError(f"{path}: 'poses' has dtype {poses.dtype}, expected float")
    if "fps" not in data:
        raise InputError(f"{path}: no 'fps' scalar")
    fps = float(np.asarray(data["fps"]).reshape(-1)[0])
    if not np.isfinite(fps) or fps <= 0:
        raise InputError(f"{path}: 'fps' is {fps}, expected a positive number")
    if np.isinf(poses).any():
        raise InputError(f"{path}: 'poses' contains infinite values")
    check_metres(poses, path)
    T = poses.shape[0]
    lead = poses.shape[:-2]
    conf = data.get("confidence")
    if conf is not None:
        if conf.shape != (*lead, NUM_JOINTS):
            raise InputError(f"{path}: 'confidence' has shape {tuple(conf.shape)}, expected {[*lead, NUM_JOINTS]}")
        conf = np.nan_to_num(conf.astype(np.float32), nan=0.0).clip(0, 1)
    ids = data.get("track_ids")
    if ids is not None and poses.ndim == 4:
        if ids.shape != lead or not np.issubdtype(ids.dtype, np.integer):
            raise InputError(f"{path}: 'track_ids' must be integers of shape {list(lead)}, got {tuple(ids.shape)} "
                             f"{ids.dtype}")
        ids = ids.astype(np.int64)
    else:
        ids = None
    stamps = data.get("stamps")
    if stamps is not None:
        if stamps.shape != (T,):
            raise InputError(f"{path}: 'stamps' has shape {tuple(stamps.shape)}, expected [{T}]")
        stamps = stamps.astype(np.float64)
    return PoseSequence(poses.astype(np.float32), fps, conf, stamps, ids)


def check_metres(poses: np.ndarray, path: str | Path) -> None:
    """Poses must be in metres: a body's bones are 0.05-0.6 m long, so a median bone length far outside
    0.02-2 m means another unit (millimetres give ~300)."""
    from ..core.skeleton import bone_lengths
    b = bone_lengths(poses)
    b = b[np.isfinite(b) & (b > 0)]
    if b.size == 0:
        return
    med = float(np.median(b))
    if med > 2.0:
        unit = "millimetres" if med > 20 else "centimetres" if med > 5 else "an unknown unit"
        raise InputError(f"{path}: median bone length {med:.4g}: this looks like {unit}; pose files are in metres")
    if med < 0.02:
        raise InputError(f"{path}: median bone length {med:.4g} m is too small for a body; pose files are in metres")


def write_npz(path: str | Path, arrays: dict[str, np.ndarray], protect: tuple[Path, ...] = ()) -> None:
    """Write an .npz atomically (a reader never sees half a file); refuses to overwrite any of `protect`
    (the command's inputs). Shared by every file the project writes (pose and landmarks files)."""
    path = Path(path)
    for p in protect:
        if Path(p).exists() and path.exists() and path.resolve() == Path(p).resolve():
            raise InputError(f"{path}: refusing to overwrite an input file")
    if path.suffix != ".npz":
        raise InputError(f"{path}: output must end in .npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def save_poses(path: str | Path, seq: PoseSequence, protect: tuple[Path, ...] = (), **extra) -> None:
    """Write a pose file; refuses to overwrite any of `protect` (the command's inputs)."""
    arrays = {"poses": seq.poses.astype(np.float32), "fps": np.float64(seq.fps)}
    if seq.confidence is not None:
        arrays["confidence"] = seq.confidence.astype(np.float32)
    if seq.stamps is not None:
        arrays["stamps"] = seq.stamps.astype(np.float64)
    if seq.track_ids is not None:
        arrays["track_ids"] = np.asarray(seq.track_ids, np.int64)
    arrays.update(extra)
    write_npz(path, arrays, protect)
