# SPDX-License-Identifier: MIT
"""The crowd benchmark: several people who cross and hide each other -> who keeps their identity.

Each crowd (data/crowd.py) is delivered three ways, as estimators deliver people:
- `true_ids`: every person with their true id;
- `no_ids`: no ids, the people in a new random order every frame;
- `box_ids`: the ids of a 2D box tracker (trackers.BoxTracker, IoU without a motion model) run over
  the `no_ids` delivery: it swaps ids where people cross, and gives a new one after an occlusion.
Each delivery goes through the rows:
- `input`: the delivery itself, scored (its ids, its raw poses): what the estimator publishes;
- `ids_as_given`: the streaming refiner following the delivery's ids (`trust_ids=True`); without
  ids, the position in the frame's list stands for the id (what an id-less cloud used to mean);
- `nearest`: the refiner following the ids of the nearest-last-pelvis tracker without prediction
  (trackers.NearestTracker), run over the delivery;
- `ours`: the refiner associating people itself (`trust_ids=False`; stream/association.py).
Rows that see the same input are run once: `box_ids` `nearest` and `ours` ignore the box ids
and equal the `no_ids` rows. The reference, `alone`: every person streamed alone through the
refiner with their true id, hidden as in the crowd: the pose accuracy association should keep.

Scores: tracking.py (CLEAR-MOT id switches per person-minute, IDF1, MPJPE and Abs per true
person on matched frames, coverage), on the frames each person is in the image.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..core.floor import Floor
from ..data.crowd import (
    Crowd,
    CrowdConfig,
    Delivery,
    deliver,
    make_crowd,
    project,
    run_lengths,
    save_delivery,
    save_truth,
)
from ..model.backends import Backend
from ..model.dstformer import DSTformer
from ..stream.association import Person
from ..stream.refiner import StreamConfig, StreamingRefiner
from .trackers import BoxTracker, NearestTracker, track
from .tracking import MATCH_M, TrackingScore, locate, score_tracking

DELIVERIES = ("true_ids", "no_ids", "box_ids")
ROWS = ("input", "ids_as_given", "nearest", "ours")
DELIVERY_TITLES = {"true_ids": "true ids", "no_ids": "no ids, a random order every frame",
                   "box_ids": "ids from a 2D box tracker (IoU, no motion model)"}
ROW_TITLES = {"input": "input (as delivered)", "ids_as_given": "ids as given", "nearest": "nearest pelvis tracker",
              "ours": "ours (refiner associates)", "alone": "one at a time, true ids"}
REUSED = {("box_ids", "nearest"): ("no_ids", "nearest"), ("box_ids", "ours"): ("no_ids", "ours")}


@dataclass(frozen=True)
class CrowdBenchConfig:
    people: tuple[int, ...] = (2, 3)
    crowds: int = 3  # per number of people
    seconds: float = 10.0
    seed: int = 0
    lag: int = 0
    match_m: float = MATCH_M
    box_iou: float = 0.3
    box_max_age: int = 30  # frames
    floor: bool = False  # the refiner is given each scene's floor (a mounted camera knows it)

    def crowd_seed(self, people: int, k: int) -> int:
        return self.seed * 10_000 + people * 100 + k


def persons(d: Delivery, t: int, ids: np.ndarray | None) -> list[Person]:
    """Frame t of a delivery as the refiner receives it: one Person per filled slot, with `ids`
    (None: no ids)."""
    out = []
    for s in range(d.poses.shape[1]):
        if d.person[t, s] < 0:
            continue
        tid = None if ids is None or ids[t, s] < 0 else int(ids[t, s])
        out.append(Person(d.poses[t, s], d.confidence[t, s], tid, d.keypoints_px[t, s]))
    return out


def stream_crowd(model: DSTformer, backend: Backend, d: Delivery, ids: np.ndarray | None, trust_ids: bool,
                 lag: int = 0, only: int | None = None, floor: Floor | None = None
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Push a delivery through one streaming refiner, frame by frame, as the node would receive it.
    Returns what it published: poses [T, M, 17, 3] and ids [T, M] (one column per published id, -1
    where that id was not published) and the refiner's status. `only`: just this true person.
    `floor`: the scene's floor, given to the refiner (None: distance rests on body size)."""
    T = len(d.poses)
    refiner = StreamingRefiner(model, StreamConfig(lag=lag, fps=d.fps, trust_ids=trust_ids, floor=floor), backend)
    got: dict[int, dict] = {}
    try:
        for t in range(T):
            ps = persons(d, t, ids)
            if only is not None:
                ps = [p for p, s in zip(ps, np.flatnonzero(d.person[t] >= 0)) if d.person[t, s] == only]
            for fr in refiner.push(t / d.fps, ps, meta=t).frames:
                got[fr.meta] = fr.tracks
        for fr in refiner.flush():
            got[fr.meta] = fr.tracks
        status = refiner.status()
    finally:
        refiner.close()
    keys = sorted({k for tr in got.values() for k in tr})
    col = {k: i for i, k in enumerate(keys)}
    poses = np.full((T, len(keys), 17, 3), np.nan, np.float32)
    out_ids = np.full((T, len(keys)), -1, np.int64)
    for t, tracks in got.items():
        for k, tp in tracks.items():
            poses[t, col[k]] = tp.poses
            out_ids[t, col[k]] = int(k)
    return poses, out_ids, status


def in_view(crowd: Crowd, poses: np.ndarray) -> np.ndarray:
    """[T, P]: the pelvis (or hip midpoint) of each published person lies in the camera's image."""
    loc = locate(poses)
    px = project(crowd.K, loc.astype(np.float64))
    w, h = crowd.image_size
    with np.errstate(invalid="ignore"):
        return (loc[..., 2] > 0.1) & (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h)


def slot_ids(d: Delivery) -> np.ndarray:
    """The position in the frame's list as an id (-1 for an empty slot)."""
    return np.where(d.person >= 0, np.arange(d.person.shape[1])[None], -1)


def _packed(d: Delivery) -> Delivery:
    """The delivery with the filled slots first (a list of people has no empty places)."""
    order = np.argsort(d.person < 0, axis=1, kind="stable")
    take = np.take_along_axis
    return Delivery(d.kind, d.fps, take(d.poses, order[:, :, None, None], 1), take(d.confidence, order[:, :, None], 1),
                    take(d.keypoints_px, order[:, :, None, None], 1), take(d.track_ids, order, 1),
                    take(d.person, order, 1))


def evaluate_crowd(crowd: Crowd, model: DSTformer, backend: Backend, cfg: CrowdBenchConfig,
                   keep: bool = False, files: str | Path | None = None) -> dict:
    """Every delivery x row of one crowd, and the one-at-a-time reference: scores (and outputs when
    `keep`). `files`: a folder to write the deliveries and the truth to, as multi-person pose files."""
    seed = cfg.crowd_seed(crowd.n_people, 0) + 7
    floor = Floor.from_values(crowd.floor, "crowd floor", origin_is_camera=True) if cfg.floor else None
    dl = {"true_ids": deliver(crowd, "true_ids"), "no_ids": deliver(crowd, "no_ids", seed)}
    dl["no_ids"] = _packed(dl["no_ids"])
    box = track(BoxTracker(cfg.box_iou, cfg.box_max_age), dl["no_ids"].poses, dl["no_ids"].keypoints_px)
    dl["box_ids"] = dl["no_ids"].with_ids(box, "box_ids")
    if files is not None:
        Path(files).mkdir(parents=True, exist_ok=True)
        for name, d in dl.items():
            save_delivery(Path(files) / f"{crowd.name}.{name}.npz", crowd, d)
        save_truth(Path(files) / f"{crowd.name}.gt.npz", crowd)
    def score(pred: np.ndarray, ids: np.ndarray) -> TrackingScore:
        return score_tracking(crowd.gt, pred, ids, crowd.fps, crowd.in_view, cfg.match_m, in_view(crowd, pred))

    scores: dict[str, dict[str, TrackingScore]] = {k: {} for k in DELIVERIES}
    outputs: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for name in DELIVERIES:
        d = dl[name]
        for row in ROWS:
            if (name, row) in REUSED:
                src = REUSED[(name, row)]
                scores[name][row] = scores[src[0]][src[1]]
                if keep:
                    outputs[(name, row)] = outputs[src]
                continue
            if row == "input":
                if name == "no_ids":
                    continue
                pred, ids = d.poses, d.track_ids
            else:
                given = {"ids_as_given": d.track_ids if name != "no_ids" else slot_ids(d),
                         "nearest": track(NearestTracker(), d.poses), "ours": None}[row]
                pred, ids, _ = stream_crowd(model, backend, d, given, row != "ours", cfg.lag, floor=floor)
            scores[name][row] = score(pred, ids)
            if keep:
                outputs[(name, row)] = (pred, ids)
    alone = None
    for k in range(crowd.n_people):
        pred, ids, _ = stream_crowd(model, backend, dl["true_ids"], dl["true_ids"].track_ids, True, cfg.lag, only=k,
                                    floor=floor)
        s = score_tracking(crowd.gt[:, k:k + 1], pred, ids, crowd.fps, crowd.in_view[:, k:k + 1], cfg.match_m,
                           in_view(crowd, pred))
        s.people = {str(k): s.people["0"]}
        alone = s if alone is None else alone.merge(s)
    scores["alone"] = {"alone": alone}
    return {"scores": scores, "outputs": outputs}


def occlusion_summary(crowds: list[Crowd]) -> dict:
    """What the crowds hold: mutual occlusions (a person in view, not reported, covered by others) by
    duration, crossings in the image, the share of in-view frames a person is reported."""
    runs = np.array([n / c.fps for c in crowds for k in range(c.n_people)
                     for n in run_lengths(c.hidden_by_others[:, k])])
    stats = [c.stats() for c in crowds]
    out = {
        "crowds": len(crowds),
        "person_seconds_in_view": float(sum(c.in_view.sum() / c.fps for c in crowds)),
        "occlusions": int(len(runs)),
        "occlusion_s": {"median": float(np.median(runs)) if len(runs) else None,
                        "max": float(runs.max()) if len(runs) else None,
                        "over_0.5": int((runs > 0.5).sum()), "over_1.0": int((runs > 1.0).sum()),
                        "over_1.5": int((runs > 1.5).sum())},
        "crossings": int(sum(s["crossings"] for s in stats)),
        "reported_share": float(sum(c.reported.sum() for c in crowds) / max(sum(c.in_view.sum() for c in crowds), 1)),
        "covered_joint_share": float(np.mean([s["covered_joint_share"] for s in stats])) if stats else 0.0,
    }
    return out


def run_crowd_benchmark(model: DSTformer, backend: Backend, clips: dict[str, np.ndarray],
                        cfg: CrowdBenchConfig = CrowdBenchConfig(), crowd_cfg: CrowdConfig = CrowdConfig(),
                        progress: bool = True, files: str | Path | None = None) -> tuple[dict, dict]:
    """Every crowd through every delivery and row; (report, traces of the first crowd for a plot).
    `files`: also write every crowd's deliveries and truth there (multi-person pose files)."""
    plan = [(n, k) for n in cfg.people for k in range(cfg.crowds)]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(plan), desc="crowds", unit="crowd")
    crowds, pooled, traces = [], {}, {}
    for i, (n, k) in enumerate(plan):
        crowd = make_crowd(clips, n, cfg.seconds, cfg.crowd_seed(n, k), crowd_cfg)
        r = evaluate_crowd(crowd, model, backend, cfg, keep=(i == 0), files=files)
        crowds.append(crowd)
        for name, rows in r["scores"].items():
            for row, s in rows.items():
                have = pooled.setdefault(name, {}).get(row) or TrackingScore(s.fps, s.threshold_m)
                pooled[name][row] = have.merge(s, prefix=f"{crowd.name}/")
        if i == 0:
            traces = {"crowd": crowd, "outputs": r["outputs"]}
        if bar:
            bar.set_postfix_str(crowd.name)
            bar.update()
    if bar:
        bar.close()
    report = {
        "config": asdict(cfg), "match_m": cfg.match_m,
        "scenes": occlusion_summary(crowds),
        "crowds": [{"name": c.name, **c.stats()} for c in crowds],
        "results": {name: {row: s.to_json() for row, s in rows.items()} for name, rows in pooled.items()},
    }
    report["summary"] = _summary(pooled)
    return report, traces


def _summary(pooled: dict) -> dict:
    """The figures the targets are stated in."""
    ref = pooled["alone"]["alone"]
    out = {}
    for name in DELIVERIES:
        for row, s in pooled[name].items():
            ratio = s.mpjpe / ref.mpjpe if np.isfinite(ref.mpjpe) and ref.mpjpe > 0 else float("nan")
            per = [p.mpjpe / ref.people[k].mpjpe for k, p in s.people.items()
                   if k in ref.people and ref.people[k].mpjpe_n and p.mpjpe_n]
            out[f"{name}/{row}"] = {"switches_per_person_minute": _num(s.switches_per_person_minute),
                                    "idf1": _num(s.idf1), "mpjpe_vs_alone": _num(ratio),
                                    "worst_person_mpjpe_vs_alone": _num(max(per)) if per else None}
    box_in = pooled["box_ids"].get("input")
    for row in ("ids_as_given", "ours"):
        s = pooled["box_ids"].get(row)
        if box_in is not None and s is not None:
            out[f"box_ids/{row}"]["fewer_switches_than_input"] = (
                _num(box_in.switches / s.switches) if s.switches else (None if not box_in.switches else "all"))
    return out


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 4)


def format_report(report: dict) -> str:
    """The tables: one per delivery, a row per method, and what the scenes held."""
    sc = report["scenes"]
    o = sc["occlusion_s"]
    cfg = report["config"]
    lines = [f"{sc['crowds']} crowds of {','.join(map(str, cfg['people']))} people, {cfg['seconds']:g} s each, "
             f"seed {cfg['seed']}, lag {cfg['lag']}; matched within {report['match_m']:g} m of the true pelvis; "
             + ("the refiner given each scene's floor" if cfg.get("floor")
                else "no floor (distance rests on body size)"),
             f"scenes: {sc['person_seconds_in_view']:.0f} person-seconds in view, {sc['crossings']} crossings in the "
             f"image, {sc['occlusions']} mutual occlusions (person not reported; median "
             f"{_fmt(o['median'], 2)} s, max {_fmt(o['max'], 2)} s, {o['over_0.5']} > 0.5 s, {o['over_1.0']} > 1 s, "
             f"{o['over_1.5']} > 1.5 s), {100 * sc['covered_joint_share']:.1f} % of reported joints covered", ""]
    head = f"{'':<28}{'switches/min':>13}{'IDF1':>8}{'MPJPE':>8}{'Abs':>8}{'coverage':>10}"
    for name in DELIVERIES:
        rows = report["results"].get(name, {})
        lines += [f"{DELIVERY_TITLES[name]}", head]
        for row in ROWS:
            r = rows.get(row)
            if r is None:
                continue
            note = "  (= no ids: ignores the ids)" if (name, row) in REUSED else ""
            lines.append(_row(ROW_TITLES[row], r) + note)
        lines.append("")
    lines.append(_row(ROW_TITLES["alone"], report["results"]["alone"]["alone"]))
    lines.append("(switches per person-minute in view; IDF1; MPJPE pelvis-aligned and Abs absolute, mm, per true "
                 "person on matched frames, pooled; coverage: matched share of in-view frames)")
    return "\n".join(lines)


def _fmt(x, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _row(title: str, r: dict) -> str:
    return (f"{title:<28}{_fmt(r['switches_per_person_minute'], 2):>13}{_fmt(r['idf1'], 3):>8}"
            f"{_fmt(r['mpjpe_mm']):>8}{_fmt(r['abs_mm']):>8}{_fmt(r['coverage'], 3):>10}")


def save_json(report: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=1))


def plot_tracks(traces: dict, path: str | Path, delivery: str = "no_ids") -> None:
    """Top view of one crowd: each published id's pelvis (x across, z away from the camera) over
    time, one colour per id, over the true paths (grey), for every row of one delivery."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    crowd: Crowd = traces["crowd"]
    rows = [r for r in ROWS if (delivery, r) in traces["outputs"]]
    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 4.6), sharex=True, sharey=True, squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, row in zip(axes[0], rows):
        pred, ids = traces["outputs"][(delivery, row)]
        for g in range(crowd.n_people):
            p = np.where(crowd.in_view[:, g, None], crowd.gt[:, g, 0], np.nan)
            ax.plot(p[:, 0], p[:, 2], color="0.75", lw=6, solid_capstyle="round", zorder=1)
        seen = sorted({int(i) for i in ids[ids >= 0]})
        for n, pid in enumerate(seen):
            xyz = np.full((len(ids), 3), np.nan)
            t, slot = np.nonzero(ids == pid)
            xyz[t] = locate(pred[t, slot])
            ax.plot(xyz[:, 0], xyz[:, 2], ".", ms=2.5, color=cmap(n % 10), zorder=2,
                    label=f"id {pid}" if n < 10 else None)
        ax.set_title(f"{ROW_TITLES[row]}: {len(seen)} ids", fontsize=9)
        ax.set_xlabel("x (m, across)")
        ax.grid(alpha=0.3)
        ax.set_aspect("equal", adjustable="box")
    axes[0, 0].set_ylabel("z (m, away from the camera)")
    axes[0, -1].legend(fontsize=7, loc="upper right", markerscale=3)
    fig.suptitle(f"{crowd.name} ({', '.join(crowd.clips)}), {DELIVERY_TITLES[delivery]}: published ids over "
                 "the true paths (grey, in view)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
