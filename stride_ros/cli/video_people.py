# SPDX-License-Identifier: MIT
"""`stride-ros video --max-people N` (N > 1): several people drawn, written and summed up, each under
their id.

The overlay draws every person in their id's colour (vision/drawing.py `id_colour`): the
estimator's skeleton thin, the refined one thick (joints the refiner inferred ringed), and "id K"
above the refined head. The refined pose file is the several-people form with the refiner's own
ids (CONTRACT.md). The summary PNG shows, per person, what the one-person PNG shows (Accel and
bone-length variation, raw thin vs refined thick) and each id's track over time (pelvis x and
distance), with the frames each id was present in: a person who keeps one colour and one unbroken
line kept one id. Raw and refined are compared per person (eval/continuity.py `paired_quality`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..eval.continuity import Continuity, by_id, continuity, paired_quality

INFERRED_BELOW = 0.5  # a refined joint with less confidence was inferred (the refiner's inferred joints: <= 0.3)


def people_arrays(tracks: dict[int, dict], T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """{frame index: {track id: TrackPose}} -> the several-people form (poses [T, M, 17, 3], confidence
    [T, M, 17], track_ids [T, M], ids by increasing value in each frame, -1 / NaN = empty slot)."""
    M = max([len(v) for v in tracks.values()] + [1])
    poses = np.full((T, M, 17, 3), np.nan, np.float32)
    conf = np.zeros((T, M, 17), np.float32)
    ids = np.full((T, M), -1, np.int64)
    for i, row in tracks.items():
        for k, tid in enumerate(sorted(row)):
            poses[i, k], conf[i, k], ids[i, k] = row[tid].poses, row[tid].confidence, tid
    return poses, conf, ids


def draw_people(img: np.ndarray, i: int, K: np.ndarray, raw: list[tuple[int, np.ndarray]],
                refined: list[tuple[int, np.ndarray, np.ndarray]], thick: int) -> None:
    """One frame, in place: each estimated person thin and each refined one thick in their id's colour
    (refined: inferred joints ringed, "id K" above the head), and the caption."""
    from ..vision.camera import project
    from ..vision.drawing import draw_skeleton, id_colour, put_caption, put_id_label
    for tid, poses, inferred in refined:
        draw_skeleton(img, project(poses.astype(np.float64), K), id_colour(tid), thick, inferred)
    for tid, poses in raw:
        draw_skeleton(img, project(poses.astype(np.float64), K), id_colour(tid), 1)
    label = (f"frame {i}: {len(refined)} refined, {len(raw)} found; thin = found, thick = refined, "
             "o = inferred, colour = id" + ("   [nobody found]" if not raw else ""))
    bottom = put_caption(img, label, 0.25 * thick, max(1, thick // 2))
    for tid, poses, _ in refined:
        put_id_label(img, f"id {tid}", project(poses.astype(np.float64), K), id_colour(tid), 0.25 * thick,
                     max(1, thick // 2), below=bottom)


def frame_people(series, ref_poses: np.ndarray, ref_conf: np.ndarray, ref_ids: np.ndarray, i: int):
    """Frame i's estimated people [(id, poses)] and refined people [(id, poses, inferred)] for drawing."""
    raw = [(int(series.track_ids[i, k]), series.poses[i, k]) for k in range(series.poses.shape[1])
           if series.track_ids[i, k] >= 0]
    refined = [(int(ref_ids[i, m]), ref_poses[i, m], ref_conf[i, m] < INFERRED_BELOW) for m in range(ref_ids.shape[1])
               if ref_ids[i, m] >= 0]
    return raw, refined


def write_overlay_people(info, path: Path, K: np.ndarray, series, ref_poses: np.ndarray, ref_conf: np.ndarray,
                         ref_ids: np.ndarray, preview=None) -> None:
    """Each frame of a video file with everyone drawn (draw_people)."""
    import cv2

    from ..core.errors import InputError
    from ..vision.drawing import caption_size
    from ..vision.video import read_frames
    from .common import progress
    thick = caption_size(info.width)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, (info.width, info.height))
    if not writer.isOpened():
        raise InputError(f"{path}: OpenCV cannot write an mp4 video here")
    T = len(series.poses)
    try:
        with progress(T, "drawing") as bar:
            for i, img in enumerate(read_frames(info, T)):
                draw_people(img, i, K, *frame_people(series, ref_poses, ref_conf, ref_ids, i), thick)
                writer.write(img)
                if preview is not None:
                    preview.show(img)
                bar.update(1)
    finally:
        writer.release()
        if preview is not None:
            preview.close()


def report_lines(series, ref_ids: np.ndarray, c: Continuity, q: dict, per: dict[int, dict], head: str) -> list[str]:
    """What the run says about several people: the ids, how they held, and raw vs refined per person."""
    both = int((c.people >= 2).sum())
    lines = [f"{head}: {len(c.ids)} refined id{'' if len(c.ids) == 1 else 's'}; {c.describe_ids()}",
             f"people refined per frame: mean {c.people.mean():.2f}, max {int(c.people.max(initial=0))}; "
             f"two or more in {both} of {len(c.people)} frames (the estimator found two or more in "
             f"{int((series.people >= 2).sum())})",
             c.describe_switches()]
    if per:
        lines.append("raw vs refined per person (each refined id against the estimator's person of the same id; "
                     f"pooled, weighted by frames): Accel {q['accel_raw']:.1f} -> {q['accel_refined']:.1f} "
                     f"mm/frame^2, bone-length variation {q['bones_raw']:.1f} -> {q['bones_refined']:.1f} mm; "
                     + "; ".join(f"id {t}: {v['accel_raw']:.1f} -> {v['accel_refined']:.1f}, "
                                 f"{v['bones_raw']:.1f} -> {v['bones_refined']:.1f}" for t, v in per.items()))
    return lines


def plot_people(series, ref_poses: np.ndarray, ref_ids: np.ndarray, fps: float, q: dict, path: Path, title: str,
                t: np.ndarray | None = None) -> None:
    """The summary PNG for several people (module docstring): per person Accel and bone-length deviation,
    each id's pelvis x and distance over time, and the frames each id was present in. t: each frame's
    time (s; default index / fps)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..eval.tracking import locate
    from ..vision.drawing import id_colour_rgb
    from ..vision.quality import accel_mm, bone_lengths_mm
    T = len(ref_poses)
    t = np.arange(T) / fps if t is None else t

    def bone_deviation(p: np.ndarray) -> np.ndarray:
        L = bone_lengths_mm(p)
        with np.errstate(all="ignore"):
            return np.abs(L - np.nanmedian(L, axis=0)).mean(axis=1)

    raw, ref = by_id(series.poses, series.track_ids), by_id(ref_poses, ref_ids)
    rows = [("Accel (mm/frame²)", accel_mm), ("|bone length - its median| (mm)", bone_deviation),
            ("pelvis x (m, + = right)", lambda p: locate(p)[:, 0]),
            ("pelvis distance (m)", lambda p: np.linalg.norm(locate(p), axis=-1))]
    fig, ax = plt.subplots(len(rows) + 1, 1, figsize=(10, 11), sharex=True,
                           gridspec_kw={"height_ratios": [1] * len(rows) + [0.25 + 0.12 * max(1, len(ref))]})
    with np.errstate(all="ignore"):
        for k, (name, fn) in enumerate(rows):
            for tid, p in ref.items():
                col = id_colour_rgb(tid)
                if tid in raw:
                    ax[k].plot(t, fn(raw[tid]), lw=0.7, color=col, alpha=0.6)
                ax[k].plot(t, fn(p), lw=1.6, color=col, label=f"id {tid}")
            ax[k].set_ylabel(name)
    ax[0].legend(loc="upper right", ncol=min(6, max(1, len(ref))), fontsize="small", title="thin: raw, thick: refined",
                 title_fontsize="small")
    lane = ax[-1]
    for row, (tid, p) in enumerate(ref.items()):
        col = id_colour_rgb(tid)
        on = ~np.isnan(p).any((1, 2))
        lane.fill_between(t, row - 0.35, row + 0.35, where=on, color=col, alpha=0.35, lw=0, step="mid")
        if tid in raw:
            seen = ~np.isnan(raw[tid]).any((1, 2))
            lane.plot(t[seen], np.full(seen.sum(), row), "|", color=col, ms=6)
    lane.set_yticks(range(len(ref)), [f"id {tid}" for tid in ref])
    lane.set_ylim(-0.6, max(1, len(ref)) - 0.4)
    lane.set_ylabel("present")
    for a in ax:
        for i in np.flatnonzero(~series.found):
            a.axvspan(t[i] - 0.5 / fps, t[i] + 0.5 / fps, color="0.9", lw=0, zorder=0)
    lane.set_xlabel("time (s); band: refined id live, ticks: the estimator found that id; grey: nobody found")
    fig.suptitle(f"{title}: {len(ref)} refined id{'' if len(ref) == 1 else 's'}, one colour each\n"
                 f"per person (pooled): Accel {q['accel_raw']:.1f} -> {q['accel_refined']:.1f} mm/frame², "
                 f"bone-length variation {q['bones_raw']:.1f} -> {q['bones_refined']:.1f} mm")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def summarise(series, ref_poses: np.ndarray, ref_ids: np.ndarray, fps: float, png: Path | None, title: str,
              head: str, t: np.ndarray | None = None) -> list[str]:
    """The report lines for several people, and the PNG when asked (png None: not drawn)."""
    c = continuity(ref_poses, ref_ids)
    q, per = paired_quality(series.poses, series.track_ids, ref_poses, ref_ids)
    if png is not None:
        plot_people(series, ref_poses, ref_ids, fps, q, png, title, t)
    return report_lines(series, ref_ids, c, q, per, head)
