# SPDX-License-Identifier: MIT
"""Landmarks files (.npz): what a camera-fed estimator saw, before placement (CONTRACT.md).

A landmarks file keeps BlazePose's raw output with the camera, so the whole camera chain (placement,
the floor, the refiner) can be replayed and scored without the video: `stride-ros refine`, `evaluate`
and `video` accept one wherever a pose file is accepted, and `stride-ros estimate --landmarks`
records one. Keys: `world` [T, (N,) 33, 3] metres, hip-centred; `image` [T, (N,) 33, 2] pixels;
`visibility` [T, (N,) 33]; `K` [3, 3]; `image_size` [2] (width, height); `fps`; optional `floor` [4]
(n, d in the camera's optical frame) and, for several people, `track_ids` [T, N] (-1: empty slot).
Every problem is one line naming the key.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.floor import Floor
from .posefile import write_npz

NUM_LANDMARKS = 33
REQUIRED = ("world", "image", "visibility", "K", "image_size", "fps")


@dataclass
class LandmarkSequence:
    world: np.ndarray  # [T, 33, 3] or [T, N, 33, 3] float32, NaN where nobody
    image: np.ndarray  # [T, (N,) 33, 2] float32 pixels
    visibility: np.ndarray  # [T, (N,) 33] float32 in [0, 1]
    K: np.ndarray  # [3, 3]
    image_size: tuple[int, int]  # (width, height)
    fps: float
    floor: Floor | None = None
    track_ids: np.ndarray | None = None  # [T, N] int, -1 = empty slot (several people only)

    def __len__(self) -> int:
        return self.world.shape[0]

    @property
    def several(self) -> bool:
        """True for the several-people form [T, N, 33, ...]."""
        return self.world.ndim == 4

    def people(self) -> int:
        return self.world.shape[1] if self.several else 1


def is_landmarks_file(path: str | Path) -> bool:
    """A readable .npz holding `world` landmarks (a pose file holds `poses`)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return "world" in z.files and "poses" not in z.files
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        return False


def load_landmarks(path: str | Path) -> LandmarkSequence:
    """Read and check a landmarks file; InputError naming the file and the key for any problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npz landmarks file ({type(e).__name__}: {e})") from None
    for key in REQUIRED:
        if key not in data:
            raise InputError(f"{path}: no '{key}' (a landmarks file holds {', '.join(REQUIRED)}; keys: {sorted(data)})")
    world = np.asarray(data["world"], np.float32)
    if world.ndim not in (3, 4) or world.shape[-2:] != (NUM_LANDMARKS, 3) or world.shape[0] == 0:
        raise InputError(f"{path}: 'world' has shape {world.shape}, expected [T, {NUM_LANDMARKS}, 3] or "
                         f"[T, N, {NUM_LANDMARKS}, 3] with T > 0")
    lead = world.shape[:-2]
    image = np.asarray(data["image"], np.float32)
    if image.shape != (*lead, NUM_LANDMARKS, 2):
        raise InputError(f"{path}: 'image' has shape {image.shape}, expected {[*lead, NUM_LANDMARKS, 2]}")
    vis = np.asarray(data["visibility"], np.float32)
    if vis.shape != (*lead, NUM_LANDMARKS):
        raise InputError(f"{path}: 'visibility' has shape {vis.shape}, expected {[*lead, NUM_LANDMARKS]}")
    K = np.asarray(data["K"], np.float64)
    if K.shape != (3, 3) or not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise InputError(f"{path}: 'K' must be a finite 3x3 camera matrix with positive focal lengths "
                         f"(got {K.tolist() if K.size <= 9 else K.shape})")
    size = np.asarray(data["image_size"]).reshape(-1)
    if size.size != 2 or not np.isfinite(size).all() or (size <= 0).any():
        raise InputError(f"{path}: 'image_size' must be (width, height) > 0, got {size.tolist()}")
    fps = float(np.asarray(data["fps"]).reshape(-1)[0])
    if not np.isfinite(fps) or fps <= 0:
        raise InputError(f"{path}: 'fps' is {fps}, expected a positive number")
    if np.isinf(world).any() or np.isinf(image).any():
        raise InputError(f"{path}: 'world' or 'image' holds infinite values")
    floor = Floor.from_values(data["floor"], f"{path}: 'floor'", origin_is_camera=True) if "floor" in data else None
    ids = None
    if world.ndim == 4:
        if "track_ids" in data:
            ids = np.asarray(data["track_ids"])
            if ids.shape != lead or not np.issubdtype(ids.dtype, np.integer):
                raise InputError(f"{path}: 'track_ids' must be integers of shape {list(lead)}, got {ids.shape} "
                                 f"{ids.dtype}")
    vis = np.nan_to_num(vis, nan=0.0).clip(0, 1)
    return LandmarkSequence(world, image, vis, K, (int(size[0]), int(size[1])), fps, floor, ids)


def save_landmarks(path: str | Path, seq: LandmarkSequence, protect: tuple[Path, ...] = ()) -> None:
    """Write a landmarks file (atomically); refuses to overwrite any of `protect` (the command's inputs)."""
    arrays = {"world": seq.world.astype(np.float32), "image": seq.image.astype(np.float32),
              "visibility": seq.visibility.astype(np.float32), "K": np.asarray(seq.K, np.float64),
              "image_size": np.asarray(seq.image_size, np.int64), "fps": np.float64(seq.fps)}
    if seq.floor is not None:
        arrays["floor"] = seq.floor.as_array()
    if seq.track_ids is not None:
        arrays["track_ids"] = np.asarray(seq.track_ids, np.int64)
    write_npz(path, arrays, protect)
