# SPDX-License-Identifier: MIT
"""`stride-ros video`: the whole chain over a video file, a stream or a camera, with a picture of what it did.

Estimator (exactly as `stride-ros estimate`) -> the streaming refiner the node runs (exactly as
`stride-ros refine --mode stream`) -> an overlay video: BlazePose's skeleton thin, the refined one
thick, joints the refiner inferred (nobody found in the frame, or BlazePose's visibility below
0.5) marked with a ring. Beside the video: both pose files (`<name>.raw.npz`, `<name>.refined.npz`)
and a PNG (`<name>.summary.png`) of jitter (Accel) and bone-length variation, raw vs refined,
frame by frame: the two things a viewer can check without ground truth.

A file is estimated whole, then refined, then drawn. A camera (`--camera N`) or a stream URL runs
live, in one pass: each frame is estimated, refined and drawn as it arrives (with a lag of N frames,
drawn N frames later, on its own image), shown with `--show`, recorded with `-o` (optional for a
live source: without it nothing is written). It ends at `--max-frames`, on Ctrl-C, on q/Esc in the
window, or when the source stops sending; the outputs then hold what was processed until then.

`--max-people N` (N > 1), for a file or a live source: everyone found goes through the refiner as
the node runs them (each with the id the estimator's association gives, as the pose_estimator node
publishes it), both pose files take the several-people form (the refined one with the refiner's
own ids), everyone is drawn in their id's colour with "id K" above the head, and the PNG follows
each id over time (video_people.py).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..vision.drawing import caption_size
from .common import (
    add_estimator_args,
    add_model_args,
    add_source_args,
    check_lag,
    estimate_video,
    load_model,
    make_backend,
    nonneg_int,
    open_source,
    out_path,
    progress,
    video_intrinsics,
)

HELP = ("estimator + streaming refiner over a video file, a stream or a camera: overlay video, both pose files, "
        "a summary PNG")
INFERRED_BELOW = 0.5  # a joint BlazePose sees with less visibility is drawn as inferred
RAW_BGR, REFINED_BGR = (0, 165, 255), (80, 220, 80)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_args(p)
    p.add_argument("-o", "--output",
                   help="overlay video (.mp4); the pose files and the PNG are written beside it (required for a "
                   "file; for a camera or a stream optional: without it nothing is recorded)")
    p.add_argument("--show", action="store_true",
                   help="show the overlay in a window as it is drawn (q or Esc: stop a live run); without a "
                   "display, one line says so and the run goes on")
    p.add_argument("--lag", type=nonneg_int, default=0, help="the refiner's output lag in frames (default 0 = causal)")
    p.add_argument("--body-model", action="store_true",
                   help="impose each person's running-median bone lengths (the node's body_model parameter)")
    add_estimator_args(p)
    add_model_args(p, device=True, backend=True)


def outputs(out: Path) -> dict[str, Path]:
    return {"video": out, "raw": out.with_suffix(".raw.npz"), "refined": out.with_suffix(".refined.npz"),
            "png": out.with_suffix(".summary.png")}


def run(a: argparse.Namespace) -> int:
    from ..vision.capture import source_of

    if source_of(a.video, a.camera).kind != "file":
        return run_live(a)
    if not a.output:
        raise InputError(f"{a.video}: -o OUT.mp4 is needed for a file (only a camera or a stream can run unrecorded)")
    from ..data.posefile import PoseSequence, save_poses
    from ..stream.refiner import StreamConfig
    from ..stream.sequence import stream_sequence
    from ..vision.blazepose import import_mediapipe
    from ..vision.capture import Capture
    from ..vision.drawing import Preview
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
    preview = Preview.open(a.show)
    series = estimate_video(Capture(source_of(a.video)), intr, smooth=not a.no_smoothing, limit=a.max_frames,
                            max_people=a.max_people, tiles=not a.no_tiles, floor=a.floor)
    if not series.found.any():
        raise InputError(f"{a.video}: BlazePose found nobody in any of {len(series.poses)} frames: nothing to refine")
    if series.several:
        return _file_people(a, info, intr, series, paths, model, backend, preview)
    T = len(series.poses)
    raw = PoseSequence(series.poses, info.fps, series.confidence, np.arange(T) / info.fps)
    cfg = StreamConfig(lag=a.lag, fps=info.fps, body_model=a.body_model, floor=a.floor, rays=True)
    refined, conf, status = stream_sequence(model, raw, cfg, backend)
    save_poses(paths["raw"], raw, protect=(Path(a.video),), intrinsics=intr.as_array(), **series.extras())
    save_poses(paths["refined"], PoseSequence(refined, info.fps, conf, raw.stamps), protect=(Path(a.video),))
    inferred = ~series.found[:, None] | (series.confidence < INFERRED_BELOW)
    write_overlay(info, paths["video"], intr.K, series.poses, refined, inferred, preview)
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


def _file_people(a: argparse.Namespace, info, intr, series, paths: dict[str, Path], model, backend, preview) -> int:
    """A file with --max-people > 1: every person through the refiner as the node runs them, the
    several-people pose files, everyone drawn under their id (video_people.py)."""
    from ..data.posefile import PoseSequence, save_poses
    from ..stream.refiner import StreamConfig
    from ..stream.sequence import people_of, stream_people
    from .video_people import summarise, write_overlay_people

    T = len(series.poses)
    raw = PoseSequence(series.poses, info.fps, series.confidence, np.arange(T) / info.fps, series.track_ids)
    cfg = StreamConfig(lag=a.lag, fps=info.fps, body_model=a.body_model, floor=a.floor, rays=True)
    res = stream_people(model, people_of(raw, series.keypoints_px), raw.stamps, cfg, backend)
    if not (res.track_ids >= 0).any():
        raise InputError(f"{a.video}: nobody could be refined (no person showed the pelvis or both hips)")
    save_poses(paths["raw"], raw, protect=(Path(a.video),), intrinsics=intr.as_array(), **series.extras())
    save_poses(paths["refined"], PoseSequence(res.poses, info.fps, res.confidence, raw.stamps, res.track_ids),
               protect=(Path(a.video),))
    write_overlay_people(info, paths["video"], intr.K, series, res.poses, res.confidence, res.track_ids, preview)
    print(f"video: {series.summary_line()}")
    body = ", body model" if a.body_model else ""
    lines = summarise(series, res.poses, res.track_ids, info.fps, paths["png"], Path(a.video).name,
                      f"refined (lag {a.lag}, backend {backend.kind}{body})")
    print("\n".join(lines))
    print(f"identity events {res.status['identities'] or 'none'}; dropped {res.status['dropped'] or 'none'}")
    print(f"intrinsics: {intr.describe()}")
    for p in paths.values():
        print(f"wrote {p}")
    return 0


def run_live(a: argparse.Namespace) -> int:
    """A camera or a stream, in one pass: estimate, refine, draw, show and record each frame as it comes.
    With --max-people > 1 everyone found goes through the refiner under the ids the estimator's
    association gives them (as the pose_estimator node publishes them), and everyone is drawn."""
    from ..data.posefile import PoseSequence, save_poses
    from ..stream.association import Associator, Person
    from ..stream.identify import identify
    from ..stream.refiner import StreamConfig, StreamingRefiner
    from ..stream.sequence import frame_persons
    from ..vision.drawing import Preview
    from ..vision.estimator import PoseEstimator, Series
    from ..vision.video import to_rgb
    from .common import check_estimator
    from .video_people import draw_people, people_arrays, summarise

    several = a.max_people > 1
    if not a.output and not a.show:
        raise InputError("nothing to do: give -o OUT.mp4 to record, --show to watch, or both")
    paths = None
    if a.output:
        paths = outputs(out_path(a.output, [], ".mp4"))
        for p in paths.values():
            out_path(str(p), [])
    if paths is None and (why := Preview.unavailable()):
        raise InputError(f"--show: {why}, and no -o OUT.mp4 to record to: nothing to do")
    preview = Preview.open(a.show)
    if paths is None and preview is None:
        raise InputError("nothing to do: no window could open (above) and no -o OUT.mp4 to record to")
    model = load_model(a.model, a.device, threads=1)
    check_lag(model, a.lag)
    backend = make_backend(a.backend, a.device)
    check_estimator(a.max_people)
    # before the camera starts: its frames are not kept waiting
    est = PoseEstimator(smooth=not a.no_smoothing, max_people=a.max_people, tiles=not a.no_tiles, floor=a.floor)
    try:
        cap = open_source(a.video, a.camera)  # the last check: a frame came
    except BaseException:
        est.close()
        raise
    try:
        intr = video_intrinsics(a.intrinsics, cap.width, cap.height, cap.source.name)
    except BaseException:
        cap.close()
        est.close()
        raise
    writer = None
    if paths is not None:
        import cv2
        writer = cv2.VideoWriter(str(paths["video"]), cv2.VideoWriter_fourcc(*"mp4v"), cap.fps, (cap.width, cap.height))
        if not writer.isOpened():
            cap.close()
            est.close()
            raise InputError(f"{paths['video']}: OpenCV cannot write an mp4 video here")
    print(f"video: {cap.describe()}; {'recording to ' + str(paths['video']) if paths else 'not recording'}"
          f"{', showing' if preview else ''}; {f'up to {a.max_people} people; ' if several else ''}"
          f"stop with Ctrl-C{' or q in the window' if preview else ''}", flush=True)
    refiner = StreamingRefiner(model, StreamConfig(lag=a.lag, fps=cap.fps, body_model=a.body_model, floor=a.floor,
                                                   rays=True), backend)
    assoc = Associator(fps=cap.fps)  # the estimator's ids, as stride-ros estimate and the node give them
    thick = caption_size(cap.width)
    estimates: list = []  # per frame: an Estimate (one person) or a FrameEstimate (several)
    id_rows: list[list[int | None]] = []  # several: each found person's id
    held: dict[int, np.ndarray] = {}  # frame index -> its image, until the refiner emits that frame (the lag)
    refined: dict[int, dict] = {}  # frame index -> {track id: TrackPose}
    drawn = 0

    def draw(img: np.ndarray, i: int, tracks: dict) -> None:
        e = estimates[i]
        if several:
            raw = [(k, p.poses) for p, k in zip(e.people, id_rows[i]) if k is not None and p.found]
            draw_people(img, i, intr.K, raw, [(tid, tp.poses, tp.confidence < INFERRED_BELOW)
                                              for tid, tp in sorted(tracks.items())], thick)
            return
        tp = next(iter(tracks.values()), None)
        raw = e.poses if e.found else np.full((17, 3), np.nan, np.float32)
        inferred = None if tp is None else ~tp.observed | (e.confidence < INFERRED_BELOW)
        draw_frame(img, i, intr.K, raw, None if tp is None else tp.poses, inferred, thick)

    def emit(frames) -> None:
        nonlocal drawn
        for fr in frames:
            img = held.pop(fr.meta, None)
            for k in [k for k in held if k < fr.meta]:  # frames the refiner dropped: never drawn
                del held[k]
            if fr.tracks:
                refined[fr.meta] = dict(fr.tracks)
            if img is None:
                continue
            draw(img, fr.meta, fr.tracks)
            if writer is not None:
                writer.write(img)
                drawn += 1
            if preview is not None:
                preview.show(img)

    def people_in(f) -> list | dict:
        """Estimate one frame and keep it; the people to push, as the node would receive them."""
        rgb = to_rgb(f.bgr)
        if not several:
            e = est(rgb, intr)
            estimates.append(e)
            return frame_persons(e.poses, e.confidence) if e.found else {}
        fe = est.people(rgb, intr, f.stamp)
        ids = identify(assoc, f.stamp, fe).ids
        estimates.append(fe)
        id_rows.append(ids)
        return [Person(e.poses, e.confidence, k, e.keypoints_px) for e, k in zip(fe.people, ids)
                if k is not None and e.found]

    stopped = ""
    try:
        with progress(a.max_frames, "live") as bar:
            for f in cap.frames(a.max_frames):
                persons = people_in(f)
                held[f.index] = f.bgr
                emit(refiner.push(f.stamp, persons, meta=f.index).frames)
                bar.update(1)
                if preview is not None and preview.closed:
                    stopped = "the window was closed"
                    break
    except KeyboardInterrupt:
        stopped = "stopped by Ctrl-C"
    finally:
        cap.close()
        emit(refiner.flush())
        refiner.close()
        est.close()
        if writer is not None:
            writer.release()
        if preview is not None:
            preview.close()
    T = len(estimates)
    stopped = stopped or cap.stop_reason
    if not T:
        raise InputError(f"{cap.source}: no frame was processed ({stopped or 'nothing came'})")
    series = Series.of_people(estimates, id_rows) if several else Series.of(estimates)
    stamps = np.asarray(cap.stamps[:T], np.float64)
    span = stamps[-1] - stamps[0]
    rate = f"{(T - 1) / span:.1f} frames/s" if span > 0 else "one frame"
    busy = f"; {cap.skipped} frames skipped: they came while the estimator was busy" if cap.live else ""
    print(f"video: {T} frames in {span:.1f} s ({rate}{busy}); {series.summary_line()}")
    if stopped:
        print(f"video: {stopped}; kept what was processed until then")
    if paths is None:
        return 0
    raw = PoseSequence(series.poses, cap.fps, series.confidence, stamps, series.track_ids)
    save_poses(paths["raw"], raw, intrinsics=intr.as_array(), image_size=np.array([cap.width, cap.height]),
               **series.extras())
    print(f"wrote {paths['video']} ({drawn} frames)")
    print(f"wrote {paths['raw']}")
    if not refined:
        print("video: nobody was found, so nothing was refined: no refined pose file, no summary PNG")
        return 0
    if several:
        poses, conf, ids = people_arrays(refined, T)
        save_poses(paths["refined"], PoseSequence(poses, cap.fps, conf, stamps, ids))
        print(f"wrote {paths['refined']}")
        png = paths["png"] if series.found.sum() > 2 else None
        print("\n".join(summarise(series, poses, ids, cap.fps, png, cap.source.name,
                                  f"refined (lag {a.lag}, backend {backend.kind})", t=stamps - stamps[0])))
        if png is not None:
            print(f"wrote {png}")
        return 0
    poses = _held_fill({i: next(iter(tr.values())).poses for i, tr in refined.items()}, T)
    conf = np.zeros((T, 17), np.float32)
    save_poses(paths["refined"], PoseSequence(poses, cap.fps, conf, stamps))
    print(f"wrote {paths['refined']}")
    if series.found.sum() > 2:
        from ..vision.quality import compare
        q = compare(series.poses, poses)
        plot_summary(series, poses, cap.fps, q, paths["png"], title=cap.source.name, t=stamps - stamps[0])
        print(f"refined (lag {a.lag}, backend {backend.kind}): Accel {q['accel_raw']:.1f} -> "
              f"{q['accel_refined']:.1f} mm/frame^2, bone-length variation {q['bones_raw']:.1f} -> "
              f"{q['bones_refined']:.1f} mm")
        print(f"wrote {paths['png']}")
    return 0


def _held_fill(rows: dict[int, np.ndarray], T: int) -> np.ndarray:
    """[T, 17, 3] from the refined frames by index; a frame without one holds the nearest earlier (the
    first ones: the first refined), so the file has no NaN, as the contract asks of refined poses."""
    out = np.full((T, 17, 3), np.nan, np.float32)
    for i, p in rows.items():
        out[i] = p
    have = np.flatnonzero(~np.isnan(out).any((1, 2)))
    prev = have[np.clip(np.searchsorted(have, np.arange(T), side="right") - 1, 0, len(have) - 1)]
    return out[prev]


def draw_frame(img: np.ndarray, i: int, K: np.ndarray, raw: np.ndarray, refined: np.ndarray | None,
               inferred: np.ndarray | None, thick: int) -> None:
    """One frame of the overlay, in place: the raw skeleton thin, the refined one thick (inferred joints
    ringed), and a caption on a dark box that says which is which."""
    from ..vision.camera import project
    from ..vision.drawing import draw_skeleton, put_caption
    if refined is not None:
        draw_skeleton(img, project(refined.astype(np.float64), K), REFINED_BGR, thick, inferred)
    draw_skeleton(img, project(raw.astype(np.float64), K), RAW_BGR, 1)
    label = f"frame {i}: raw thin, refined thick, o = inferred" + ("   [no detection]" if np.isnan(raw).all() else "")
    put_caption(img, label, 0.25 * thick, max(1, thick // 2))


def write_overlay(info, path: Path, K: np.ndarray, raw: np.ndarray, refined: np.ndarray,
                  inferred: np.ndarray, preview=None) -> None:
    """Each frame with the raw skeleton (thin) and the refined one (thick, inferred joints ringed)."""
    import cv2

    from ..vision.video import read_frames
    thick = caption_size(info.width)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, (info.width, info.height))
    if not writer.isOpened():
        raise InputError(f"{path}: OpenCV cannot write an mp4 video here")
    T = len(raw)
    try:
        with progress(T, "drawing") as bar:
            for i, img in enumerate(read_frames(info, T)):
                draw_frame(img, i, K, raw[i], refined[i], inferred[i], thick)
                writer.write(img)
                if preview is not None:
                    preview.show(img)
                bar.update(1)
    finally:
        writer.release()
        if preview is not None:
            preview.close()


def plot_summary(series, refined: np.ndarray, fps: float, q: dict, path: Path, title: str,
                 t: np.ndarray | None = None) -> None:
    """Accel and bone-length deviation per frame, raw vs refined; frames without a detection shaded.
    t: each frame's time (s; default index / fps)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..vision.quality import accel_mm, bone_lengths_mm
    t = np.arange(len(refined)) / fps if t is None else t
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
