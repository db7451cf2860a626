# SPDX-License-Identifier: MIT
"""`stride-ros video`: the whole chain offline over a video file, with a picture of what it did.

Estimator (exactly as `stride-ros estimate`) -> the streaming refiner the node runs (exactly as
`stride-ros refine --mode stream`) -> an overlay video: BlazePose's skeleton thin, the refined one
thick, joints the refiner inferred (nobody found in the frame, or BlazePose's visibility below
0.5) marked with a ring. Beside the video: both pose files (`<name>.raw.npz`, `<name>.refined.npz`)
and a PNG (`<name>.summary.png`) of jitter (Accel) and bone-length variation, raw vs refined,
frame by frame: the two things a viewer can check without ground truth.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from .common import (
    add_estimator_args,
    add_model_args,
    check_lag,
    estimate_video,
    load_model,
    make_backend,
    nonneg_int,
    out_path,
    progress,
    video_intrinsics,
)

HELP = "estimator + streaming refiner over a video file: overlay video, both pose files, a summary PNG"
INFERRED_BELOW = 0.5  # a joint BlazePose sees with less visibility is drawn as inferred
RAW_BGR, REFINED_BGR, INFERRED_BGR = (0, 165, 255), (80, 220, 80), (235, 235, 235)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", help="input video file")
    p.add_argument("-o", "--output", required=True,
                   help="overlay video (.mp4); the pose files and the PNG are written beside it")
    p.add_argument("--lag", type=nonneg_int, default=0, help="the refiner's output lag in frames (default 0 = causal)")
    p.add_argument("--body-model", action="store_true",
                   help="impose each person's running-median bone lengths (the node's body_model parameter)")
    add_estimator_args(p)
    add_model_args(p, device=True, backend=True)


def outputs(out: Path) -> dict[str, Path]:
    return {"video": out, "raw": out.with_suffix(".raw.npz"), "refined": out.with_suffix(".refined.npz"),
            "png": out.with_suffix(".summary.png")}


def run(a: argparse.Namespace) -> int:
    from ..data.posefile import PoseSequence, save_poses
    from ..stream.refiner import StreamConfig
    from ..stream.sequence import stream_sequence
    from ..vision.blazepose import import_mediapipe
    from ..vision.quality import compare
    from ..vision.video import probe

    paths = outputs(out_path(a.output, [a.video], ".mp4"))
    for p in paths.values():
        out_path(str(p), [a.video])
    info = probe(a.video, a.max_frames)
    intr = video_intrinsics(a.intrinsics, info.width, info.height, a.video)
    model = load_model(a.model, a.device, threads=1)
    check_lag(model, a.lag)
    backend = make_backend(a.backend, a.device)
    import_mediapipe()
    series = estimate_video(info, intr, smooth=not a.no_smoothing, limit=a.max_frames)
    if not series.found.any():
        raise InputError(f"{a.video}: BlazePose found nobody in any of {len(series.poses)} frames: nothing to refine")
    T = len(series.poses)
    raw = PoseSequence(series.poses, info.fps, series.confidence, np.arange(T) / info.fps)
    cfg = StreamConfig(lag=a.lag, fps=info.fps, body_model=a.body_model)
    refined, conf, status = stream_sequence(model, raw, cfg, backend)
    save_poses(paths["raw"], raw, protect=(Path(a.video),), intrinsics=intr.as_array(), **series.extras())
    save_poses(paths["refined"], PoseSequence(refined, info.fps, conf, raw.stamps), protect=(Path(a.video),))
    inferred = ~series.found[:, None] | (series.confidence < INFERRED_BELOW)
    write_overlay(info, paths["video"], intr.K, series.poses, refined, inferred)
    q = compare(series.poses, refined)
    plot_summary(series, refined, info.fps, q, paths["png"], title=Path(a.video).name)
    print(f"video: {series.summary_line()}")
    body = ", body model" if a.body_model else ""
    print(f"refined (lag {a.lag}, backend {backend.kind}{body}): Accel {q['accel_raw']:.1f} -> "
          f"{q['accel_refined']:.1f} mm/frame^2 ({q['accel_raw'] / q['accel_refined']:.1f}x lower), "
          f"bone-length variation "
          f"{q['bones_raw']:.1f} -> {q['bones_refined']:.1f} mm ({q['bones_raw'] / q['bones_refined']:.1f}x lower); "
          f"{int((~series.found).sum())} frames without a detection filled; dropped {status['dropped'] or 'none'}")
    print(f"intrinsics: {intr.describe()}")
    for p in paths.values():
        print(f"wrote {p}")
    return 0


def _draw(img: np.ndarray, uv: np.ndarray, colour, width: int, inferred: np.ndarray | None = None) -> None:
    import cv2

    from ..core.skeleton import BONES
    pt = lambda j: (int(round(uv[j, 0])), int(round(uv[j, 1])))  # noqa: E731
    for a, b in BONES:
        if np.isfinite(uv[[a, b]]).all():
            cv2.line(img, pt(a), pt(b), colour, width, cv2.LINE_AA)
    for j in range(len(uv)):
        if not np.isfinite(uv[j]).all():
            continue
        if inferred is not None and inferred[j]:
            cv2.circle(img, pt(j), 3 * width, INFERRED_BGR, max(1, width // 2), cv2.LINE_AA)
        else:
            cv2.circle(img, pt(j), width + 1, colour, -1, cv2.LINE_AA)


def write_overlay(info, path: Path, K: np.ndarray, raw: np.ndarray, refined: np.ndarray,
                  inferred: np.ndarray) -> None:
    """Each frame with the raw skeleton (thin) and the refined one (thick, inferred joints ringed)."""
    import cv2

    from ..vision.camera import project
    from ..vision.video import read_frames
    thick = max(2, round(info.width / 400))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, (info.width, info.height))
    if not writer.isOpened():
        raise InputError(f"{path}: OpenCV cannot write an mp4 video here")
    T = len(raw)
    try:
        with progress(T, "drawing") as bar:
            for i, img in enumerate(read_frames(info, T)):
                _draw(img, project(refined[i].astype(np.float64), K), REFINED_BGR, thick, inferred[i])
                _draw(img, project(raw[i].astype(np.float64), K), RAW_BGR, 1)
                label = f"frame {i}: raw thin, refined thick, o = inferred" + (
                    "   [no detection]" if np.isnan(raw[i]).all() else "")
                cv2.putText(img, label, (10, 10 + 12 * thick), cv2.FONT_HERSHEY_SIMPLEX, 0.25 * thick,
                            (255, 255, 255), max(1, thick // 2), cv2.LINE_AA)
                writer.write(img)
                bar.update(1)
    finally:
        writer.release()


def plot_summary(series, refined: np.ndarray, fps: float, q: dict, path: Path, title: str) -> None:
    """Accel and bone-length deviation per frame, raw vs refined; frames without a detection shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..vision.quality import accel_mm, bone_lengths_mm
    t = np.arange(len(refined)) / fps
    fig, ax = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    def bone_deviation(p: np.ndarray) -> np.ndarray:  # each sequence against its own typical bone lengths
        L = bone_lengths_mm(p)
        with np.errstate(all="ignore"):
            return np.abs(L - np.nanmedian(L, axis=0)).mean(axis=1)

    rows = [("Accel (mm/frame²)", accel_mm), ("|bone length - its median| (mm)", bone_deviation),
            ("pelvis distance (m)", lambda p: np.linalg.norm(p[:, 0], axis=-1))]
    for k, (name, fn) in enumerate(rows):
        ax[k].plot(t, fn(series.poses), lw=0.8, color="tab:orange", label="raw (BlazePose, placed)")
        ax[k].plot(t, fn(refined), lw=1.6, color="tab:green", label="refined")
        ax[k].set_ylabel(name)
        for i in np.flatnonzero(~series.found):
            ax[k].axvspan(t[i] - 0.5 / fps, t[i] + 0.5 / fps, color="0.85", lw=0)
    ax[0].legend(loc="upper right")
    ax[-1].set_xlabel("time (s); grey: no detection")
    fig.suptitle(f"{title}: Accel {q['accel_raw']:.1f} -> {q['accel_refined']:.1f} mm/frame², bone-length "
                 f"variation {q['bones_raw']:.1f} -> {q['bones_refined']:.1f} mm")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
