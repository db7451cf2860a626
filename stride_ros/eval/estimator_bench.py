# SPDX-License-Identifier: MIT
"""The camera-fed estimator's speed, by how many people are in the frame: what a camera chain can run at.

The cost of the multi-person estimator grows with the people it tracks (one landmark model run and
one placement per person, plus the person detector whenever it may still find someone), so one
frame rate says little. Frames are composed from a real video at 1280x720 (720p, the usual robot
camera): the video itself, and the video beside its own mirror image, which doubles the people in
view. Every frame's cost is measured (BlazePose + placement, the `pose_estimator` node's per-frame
work without ROS), as wall time and as the process's CPU time (all of MediaPipe's threads): on a
machine shared with other work the wall time grows with the load, the CPU time much less. Rows
are grouped by the people the estimator found in the frame, so a row's count is a measurement,
not an assumption. The single-person estimator (max_people 1) runs over the plain video as the
reference row.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from ..core.errors import InputError
from ..core.machine import machine

SIZE = (1280, 720)  # width, height of every composed frame
WARMUP = 10  # frames left out of the figures: the first ones build graphs and caches


@dataclass
class EstimatorRow:
    config: str  # what ran (max_people, tiles)
    layout: str  # "plain" or "doubled"
    people: int  # people the estimator found in these frames
    frames: int
    p50_ms: float  # wall time per frame
    p99_ms: float
    cpu_ms: float  # mean CPU time per frame (all threads)

    @property
    def fps(self) -> float:
        return 1000.0 / self.p50_ms if self.p50_ms > 0 else float("nan")

    def line(self) -> str:
        return (f"{self.config:<30} {self.layout:<8} {self.people:>6} {self.frames:>6} {self.p50_ms:8.1f} "
                f"{self.p99_ms:8.1f} {self.fps:8.1f} {self.cpu_ms:8.1f}")


def _fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scaled to fit `size` (aspect kept), centred on black."""
    import cv2
    w, h = size
    s = min(w / frame.shape[1], h / frame.shape[0])
    img = cv2.resize(frame, (max(1, round(frame.shape[1] * s)), max(1, round(frame.shape[0] * s))),
                     interpolation=cv2.INTER_AREA)
    out = np.zeros((h, w, 3), np.uint8)
    y, x = (h - img.shape[0]) // 2, (w - img.shape[1]) // 2
    out[y:y + img.shape[0], x:x + img.shape[1]] = img
    return out


def compose(frame: np.ndarray, layout: str, size: tuple[int, int] = SIZE) -> np.ndarray:
    """One RGB frame at `size`: "plain" = the video's frame; "doubled" = the central 80 % of it beside its
    mirror image (twice the people, each about 2/3 the size)."""
    if layout == "plain":
        return _fit(frame, size)
    if layout != "doubled":
        raise ValueError(f"layout {layout!r}")
    w = frame.shape[1]
    mid = frame[:, round(0.1 * w):round(0.9 * w)]
    return _fit(np.concatenate([mid, mid[:, ::-1]], 1), size)


def composed(video: str, layout: str, limit: int) -> tuple[Iterator[np.ndarray], float]:
    """The video's frames (at most `limit`), composed, decoded as they are used (a clip in memory would
    take gigabytes), and its frame rate. InputError (one line) for a file that does not decode."""
    from ..vision.video import probe, read_frames, to_rgb
    info = probe(video, limit)
    return (compose(to_rgb(f), layout) for f in read_frames(info, limit)), info.fps


def time_estimator(frames: Iterable[np.ndarray], fps: float, max_people: int, tiles: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame wall seconds, CPU seconds and people found; frames in order (the video mode tracks),
    stamped index / fps."""
    from ..vision.camera import guess_intrinsics
    from ..vision.estimator import PoseEstimator
    intr = guess_intrinsics(*SIZE)
    est = PoseEstimator(max_people=max_people, tiles=tiles)
    secs, cpu, people = [], [], []
    try:
        for i, f in enumerate(frames):
            t0, c0 = time.perf_counter(), time.process_time()
            fr = est.people(f, intr, i / fps)
            secs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            people.append(len(fr.placed))
    finally:
        est.close()
    if len(secs) <= WARMUP:
        raise InputError(f"{len(secs)} frames decoded; the estimator benchmark needs more than {WARMUP}")
    return np.array(secs[WARMUP:]), np.array(cpu[WARMUP:]), np.array(people[WARMUP:])


def rows_of(config: str, layout: str, secs: np.ndarray, cpu: np.ndarray, people: np.ndarray) -> list[EstimatorRow]:
    rows = []
    for n in np.unique(people):
        s = secs[people == n] * 1000
        rows.append(EstimatorRow(config, layout, int(n), len(s), float(np.percentile(s, 50)),
                                 float(np.percentile(s, 99)), float(cpu[people == n].mean() * 1000)))
    return rows


def run_estimator_bench(video: str, frames: int = 230, max_people: int = 4, tiles: bool = True,
                        progress: bool = True) -> dict:
    """Every configuration over both layouts; rows by people found."""
    runs = [("max_people 1 (single-person)", 1, False, "plain")]
    for layout in ("plain", "doubled"):
        runs.append((f"max_people {max_people}, tiles {'on' if tiles else 'off'}", max_people, tiles, layout))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(runs), desc="estimator benchmark", unit="run")
    rows: list[EstimatorRow] = []
    count = 0
    load = os.getloadavg()[0]  # other work on the machine: the wall times grow with it, the CPU times much less
    for config, mp, tl, layout in runs:
        clip, fps = composed(video, layout, frames)
        secs, cpu, people = time_estimator(clip, fps, mp, tl)
        count = len(secs) + WARMUP
        rows += rows_of(config, layout, secs, cpu, people)
        if bar:
            bar.update()
    if bar:
        bar.close()
    return {"machine": machine(), "load": [load, os.getloadavg()[0]], "video": str(video), "size": list(SIZE),
            "frames": count, "rows": [r.__dict__ for r in rows]}


def format_estimator_bench(res: dict) -> str:
    w, h = res["size"]
    load = f"load average {res['load'][0]:.1f} at the start, {res['load'][1]:.1f} at the end"
    lines = [f"machine: {res['machine']}; {load}",
             f"estimator at {w}x{h}: {res['video']}, {res['frames']} frames per run (the first {WARMUP} left out); "
             "per-frame time of BlazePose + placement, grouped by the people found in the frame",
             f"{'config':<30} {'layout':<8} {'people':>6} {'frames':>6} {'p50 ms':>8} {'p99 ms':>8} {'fps p50':>8} "
             f"{'cpu ms':>8}"]
    lines += [EstimatorRow(**r).line() for r in res["rows"]]
    return "\n".join(lines)
