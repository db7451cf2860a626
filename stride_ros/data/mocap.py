# SPDX-License-Identifier: MIT
"""The CMU motion capture in ../shared/data: where it is, the fixed subject split, a compact cache.

The split is by CMU subject and fixed here, so no tuning (baselines, training, adaptation) ever
touches the validation subjects. Validation holds three subjects with unlike motion (basketball
dribbling, walking, everyday actions); subject 13 records the same kinds of activity as 14 and
stays in training, so validation measures new performances of known activity types rather than
motions never seen. The salsa couple stays in training: its two partners dance the same takes,
so splitting them would leak.
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from .bvh import load_h36m

VALIDATION_SUBJECTS = ("06", "08", "14")
CACHE_FPS = 60.0  # cached rate: lets training resample (speed augmentation) down to 30 fps
GLITCH_SPEED_M_S = 15.0  # a joint faster than this is a tracking flip (as the data README's QA)
CACHE_VERSION = 2


def find_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The mocap folder: --data DIR, else $STRIDE_ROS_DATA; nothing else is guessed (an installed
    package has no checkout beside it, and no machine's path belongs in the code)."""
    for given, what in ((explicit, "--data"), (os.environ.get("STRIDE_ROS_DATA"), "STRIDE_ROS_DATA")):
        if not given:
            continue
        c = Path(given)
        if (c / "train" / "MANIFEST.csv").exists():
            return c
        if (c / "MANIFEST.csv").exists():
            return c.parent
        raise InputError(f"{what} {c}: no motion capture there (expected train/MANIFEST.csv inside)")
    raise InputError("motion-capture data not found: pass --data DIR or set STRIDE_ROS_DATA to the folder "
                     "holding train/MANIFEST.csv (e.g. ../shared/data/mocap)")


@dataclass(frozen=True)
class ClipInfo:
    name: str  # e.g. "14_03"
    path: Path
    subject: str  # "14", or "60-61" for the salsa couple
    fps: float  # true capture rate (the manifest's, not the header's)
    description: str

    @property
    def split(self) -> str:
        return "val" if self.subject in VALIDATION_SUBJECTS else "train"


def list_clips(data_dir: Path | None = None, split: str | None = None) -> list[ClipInfo]:
    data_dir = find_data_dir(data_dir)
    rows = list(csv.DictReader(open(data_dir / "train" / "MANIFEST.csv")))
    clips = []
    for r in rows:
        folder = r["file"].split("/")[0]
        subject = folder.replace("cmu", "").replace("_salsa", "")
        clips.append(ClipInfo(name=Path(r["file"]).stem if "salsa" not in folder else f"salsa_{r['trial']}",
                              path=data_dir / "train" / r["file"], subject=subject,
                              fps=float(r["fps"]), description=r["description"]))
    if split:
        clips = [c for c in clips if c.split == split]
    return clips


def glitch_free_segments(poses: np.ndarray, fps: float, min_frames: int) -> list[np.ndarray]:
    """Cut a clip at tracking flips (joints moving faster than GLITCH_SPEED_M_S)."""
    speed = np.linalg.norm(np.diff(poses, axis=0), axis=-1).max(-1) * fps
    bad = np.flatnonzero(speed > GLITCH_SPEED_M_S)
    edges = [-1] + list(bad) + [len(poses) - 1]
    segs = []
    for a, b in zip(edges[:-1], edges[1:]):
        lo, hi = a + 1 + (3 if a >= 0 else 0), b + 1 - (3 if b < len(poses) - 1 else 0)
        if hi - lo >= min_frames:
            segs.append(poses[lo:hi])
    return segs


def _cache_key(data_dir: Path) -> str:
    manifest = (data_dir / "train" / "MANIFEST.csv").read_bytes()
    return hashlib.sha256(manifest + f"v{CACHE_VERSION}@{CACHE_FPS}".encode()).hexdigest()[:12]


def cache_dir() -> Path:
    return Path(os.environ.get("STRIDE_ROS_CACHE", Path.home() / ".cache" / "stride_ros"))


def load_cached(data_dir: Path | None = None, split: str | None = None,
                progress: bool = True) -> dict[str, tuple[np.ndarray, ClipInfo]]:
    """All clips as [T, 17, 3] float32 at CACHE_FPS, glitch-free segments suffixed '#k'.

    The first call converts the BVH files (about a minute) into one compact .npz (~20 MB) keyed by
    the manifest's hash; later calls load it in under a second.
    """
    data_dir = find_data_dir(data_dir)
    clips = list_clips(data_dir)
    path = cache_dir() / f"mocap_{_cache_key(data_dir)}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {}
        it = clips
        if progress:
            from tqdm import tqdm
            it = tqdm(clips, desc="converting BVH", unit="clip")
        for c in it:
            poses, _ = load_h36m(c.path, fps_in=c.fps, fps_out=CACHE_FPS)
            for k, seg in enumerate(glitch_free_segments(poses, CACHE_FPS, min_frames=int(2 * CACHE_FPS))):
                arrays[f"{c.name}#{k}"] = seg
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)
    by_name = {c.name: c for c in clips}
    out = {}
    with np.load(path) as z:
        for key in z.files:
            info = by_name[key.split("#")[0]]
            if split is None or info.split == split:
                out[key] = (z[key], info)
    return out
