# SPDX-License-Identifier: MIT
"""Where the person is, in metres: the camera chain scored end to end on real video.

Each case is a real landmarks file with absolute truth (data/chaindata.py). Every row starts from
the same landmarks and ends in what a robot would receive, absolute joints in the camera's optical
frame, scored from the case's first detection on the 15 comparable joints:

- `placement`, `placement_floor`: this project's placement (vision/chain.py), without and with the
  floor, each frame on its own and held through gaps (what a consumer of `/human_pose` has);
- `pnp`, `pnp_floor`: independent equivalents of the data's two reference placements (OpenCV's
  SQPnP on the landmarks seen with visibility > 0.5, a failed solve counted as no detection; then
  the same scaled about the camera centre so that the lowest heel or toe sits 3 cm above the floor),
  held through gaps;
- `stream_lagN` / `stream_lagN_nofloor`: the streaming refiner (exactly the node's code) on the
  placement with / without the floor, causal: after a track ends its last pose is held; a
  `_pelvis` suffix anchors the refined body at its pelvis instead of its seen joints' centroid
  (`StreamConfig.anchor`); a `_blend` suffix learns each person's estimator share in the background
  (`adapt_params: blend`, stream/blend.py): the same run with and without it, row by row; the refined
  joints are kept on the camera's viewing rays as `camera.launch.py` does (`camera_rays`,
  stream/rays.py), a `_norays` suffix leaves them where the prior put them; without a floor the
  refined body is scaled about the camera to the placement's distance (`DistanceKeeper`), a `_nokeep`
  suffix leaves it where the prior's pose put it;
- `offline`: the prior over the whole clip (`refine --mode offline`) on the floored placement, kept on
  the rays and grounded on the floor as that command does; `offline_nofloor` on the placement without
  the floor, at its distance; `_pelvis` anchors it at its pelvis, `_norays` leaves the rays out,
  `_nokeep` the distance.

Columns: Abs (mean joint distance as published) on all, seen and missed frames; MPJPE (pelvises
together) and PA-MPJPE on seen frames; Accel (root-relative, frames whose neighbours exist); the
pelvis depth error on seen frames as a share of the true distance.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..core.floor import Floor
from ..core.skeleton import NUM_JOINTS
from ..data.chaindata import ChainCase
from ..data.realdata import COMPARABLE
from ..stream.rays import RayParams
from . import metrics

ROWS_DEFAULT = ("placement", "pnp", "pnp_floor", "placement_floor", "stream_lag0_nofloor_norays",
                "stream_lag0_nofloor", "stream_lag0_nofloor_nokeep", "stream_lag0_nofloor_blend",
                "stream_lag0_norays", "stream_lag0", "stream_lag0_blend", "stream_lag8", "stream_lag8_blend",
                "offline", "offline_nofloor", "offline_nofloor_nokeep", "stream_lag0_pelvis",
                "stream_lag0_nofloor_pelvis")
COLUMNS = ("abs_all", "abs_seen", "abs_missed", "mpjpe_seen", "pa_mpjpe_seen", "accel", "depth_pct_seen")
PNP_MIN_VISIBILITY = 0.5
PNP_SOLE_M = 0.03


# --- reference placements ----------------------------------------------------------------------------
def pnp_sequence(case: ChainCase, floor: Floor | None) -> np.ndarray:
    """The data README's reference placements, made independently with OpenCV: [T, 17, 3], NaN where
    BlazePose found nobody or the solve failed."""
    import cv2

    from ..vision.landmarks import to_joints
    lm = case.landmarks
    out = np.full((len(lm), NUM_JOINTS, 3), np.nan, np.float32)
    feet = [29, 30, 31, 32]
    for t in range(len(lm)):
        W, px, V = lm.world[t], lm.image[t], lm.visibility[t]
        if not (np.isfinite(W).all() and np.isfinite(px).all()):
            continue
        use = V > PNP_MIN_VISIBILITY
        if use.sum() < 4:
            continue
        ok, rv, tv = cv2.solvePnP(W[use].astype(np.float64), px[use].astype(np.float64), lm.K, None,
                                  flags=cv2.SOLVEPNP_SQPNP)
        if not ok:
            continue
        X = W.astype(np.float64) @ cv2.Rodrigues(rv)[0].T + tv.reshape(3)
        if floor is not None:
            lowest = float((X[feet] @ floor.normal).min())
            if lowest < 0:
                X = X * (PNP_SOLE_M + floor.d) / lowest
        out[t] = to_joints(X)
    return out


# --- rows ----------------------------------------------------------------------------------------------
@dataclass
class Inputs:
    """What the rows of one case share (placed once per floor setting)."""
    case: ChainCase
    placed: dict = field(default_factory=dict)  # floor? -> PlacedSequence

    def placement(self, floor: bool):
        if floor not in self.placed:
            from ..vision.chain import place_sequence
            self.placed[floor] = place_sequence(self.case.landmarks, self.case.landmarks.floor if floor else None)
        return self.placed[floor]


def held(poses: np.ndarray) -> np.ndarray:
    """Causal: each frame without an output repeats the last one (frames before the first keep NaN)."""
    out = poses.copy()
    have = ~np.isnan(out).any((1, 2))
    last = None
    for t in range(len(out)):
        if have[t]:
            last = out[t]
        elif last is not None:
            out[t] = last
    return out


def stream_row(model, inputs: Inputs, lag: int, floor: bool, backend=None, rays: bool = True,
               **overrides) -> np.ndarray:
    """The node's output at `lag`, frame by frame: the most observed track each frame; after every
    track ended, its last pose is held (causal)."""
    from ..stream.association import Person
    from ..stream.refiner import StreamConfig, StreamingRefiner
    p = inputs.placement(floor)
    lm = inputs.case.landmarks
    cfg = StreamConfig(lag=lag, fps=lm.fps, floor=lm.floor if floor else None, rays=rays, **overrides)
    r = StreamingRefiner(model, cfg, backend)
    T = len(lm)
    out = np.full((T, NUM_JOINTS, 3), np.nan, np.float32)

    def take(frames):
        for fr in frames:
            if fr.tracks:
                tp = max(fr.tracks.values(), key=lambda tp: int(tp.observed.sum()))
                out[fr.meta] = tp.poses
    try:
        for t in range(T):
            seen = not np.isnan(p.poses[t]).all()
            people = [Person(p.poses[t], p.confidence[t], None, p.keypoints_px[t])] if seen else []
            take(r.push(t / lm.fps, people, meta=t).frames)
        take(r.flush())
    finally:
        r.close()
    return held(out)


def offline_row(model, inputs: Inputs, anchor: str = "centroid", rays: bool = True, floor: bool = True,
                keep_distance: bool = True) -> np.ndarray:
    """`refine --mode offline` on the placement: the prior over the whole clip, kept on the viewing
    rays, then the floor (or, without one, at the placement's distance)."""
    from ..offline.adapt import AdaptConfig, refine_offline
    from ..stream.grounding import ground_track
    from ..stream.rays import rays_sequence
    p = inputs.placement(floor)
    plane = inputs.case.landmarks.floor if floor else None
    out = refine_offline(model, p.poses, p.confidence, p.fps, AdaptConfig(epochs=0, anchor=anchor),
                         up=None if plane is None else plane.normal).poses
    if rays:
        out = rays_sequence(out, p.poses, p.confidence, p.fps, keep_distance=plane is None and keep_distance)
    return out if plane is None else ground_track(out, p.poses, plane, p.fps)


def build_rows(names: list[str], model) -> dict[str, Callable[[Inputs], np.ndarray]]:
    import re
    rows: dict[str, Callable[[Inputs], np.ndarray]] = {}
    for name in names:
        m = re.fullmatch(r"stream_lag(\d+)(_nofloor)?(_pelvis)?(_blend)?(_norays)?(_nokeep)?", name)
        o = re.fullmatch(r"offline(_nofloor)?(_pelvis)?(_norays)?(_nokeep)?", name)
        if name in ("placement", "placement_floor"):
            rows[name] = lambda i, f=name.endswith("floor"): held(i.placement(f).poses)
        elif name in ("pnp", "pnp_floor"):
            rows[name] = lambda i, f=name.endswith("floor"): held(pnp_sequence(i.case, i.case.landmarks.floor
                                                                              if f else None))
        elif m:
            kw = {**({"anchor": "pelvis"} if m.group(3) else {}),
                  **({"adapt": True, "adapt_params": "blend"} if m.group(4) else {}),
                  "rays": not m.group(5),
                  **({"ray": RayParams(keep_distance_tau_s=-1.0)} if m.group(6) else {})}
            rows[name] = lambda i, lag=int(m.group(1)), f=not m.group(2), kw=kw: stream_row(model, i, lag, f, **kw)
        elif o:
            rows[name] = lambda i, a=("pelvis" if o.group(2) else "centroid"), r=not o.group(3), f=not o.group(1), \
                k=not o.group(4): offline_row(model, i, a, r, f, k)
        else:
            from ..core.errors import InputError
            raise InputError(f"unknown chain row {name!r} (known: placement, placement_floor, pnp, pnp_floor, "
                             "stream_lagN[_nofloor][_pelvis][_blend][_norays][_nokeep], "
                             "offline[_nofloor][_pelvis][_norays][_nokeep])")
    return rows


# --- scoring -------------------------------------------------------------------------------------------
def case_errors(pred: np.ndarray, case: ChainCase) -> dict[str, np.ndarray]:
    """Per-frame errors (mm; depth as a share) from the case's first detection; frames the row has no
    output for yet count as missing output (NaN)."""
    f = case.first
    P, G = pred[f:][:, COMPARABLE], case.gt[f:][:, COMPARABLE]
    have = ~np.isnan(P).any((1, 2))
    Pz = np.where(have[:, None, None], P, 0.0)
    err = {k: np.where(have, v, np.nan) for k, v in metrics.per_frame_errors(Pz, G).items()}
    dist = np.linalg.norm(G[:, 0], axis=-1)
    err["depth_pct"] = np.where(have, np.abs(Pz[:, 0, 2] - G[:, 0, 2]) / dist * 100, np.nan)
    err["distance"] = np.where(have, np.linalg.norm(Pz[:, 0], axis=-1), np.nan)
    return err


def summarize(errs: list[dict], cases: list[ChainCase]) -> dict[str, float]:
    def pooled(key: str, which: str) -> float:
        vals = []
        for e, c in zip(errs, cases):
            miss = c.missing[c.first:]
            m = {"all": np.ones_like(miss), "seen": ~miss, "missed": miss}[which]
            v = e[key][m]
            vals.append(v[np.isfinite(v)])
        v = np.concatenate(vals) if vals else np.array([])
        return float(v.mean()) if v.size else float("nan")
    return {"abs_all": pooled("abs", "all"), "abs_seen": pooled("abs", "seen"), "abs_missed": pooled("abs", "missed"),
            "mpjpe_seen": pooled("mpjpe", "seen"), "pa_mpjpe_seen": pooled("pa_mpjpe", "seen"),
            "accel": pooled("accel", "all"), "depth_pct_seen": pooled("depth_pct", "seen")}


@dataclass
class ChainReport:
    rows: dict[str, dict] = field(default_factory=dict)  # name -> {"pooled": ..., "per_case": {case: ...}}
    cases: list[str] = field(default_factory=list)
    frames: int = 0
    missed_share: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"cases": self.cases, "frames": self.frames, "missed_share": self.missed_share, "rows": self.rows,
                "seconds": self.seconds, "joints": [int(j) for j in COMPARABLE]}


def evaluate_case(case: ChainCase, rows: dict[str, Callable], keep: bool = False) -> tuple[dict, dict, dict]:
    inputs = Inputs(case)
    errs, secs, outputs = {}, {}, {}
    for name, fn in rows.items():
        t0 = time.perf_counter()
        out = fn(inputs)
        secs[name] = time.perf_counter() - t0
        errs[name] = case_errors(out, case)
        if keep:
            outputs[name] = out
    return errs, secs, outputs


_WORKER: dict = {}


def _init(names: list[str], model_path: str | None) -> None:
    import torch

    from ..model.checkpoint import load_model
    torch.set_num_threads(1)
    _WORKER["rows"] = build_rows(names, load_model(model_path))


def _run(case: ChainCase, keep: bool):
    return evaluate_case(case, _WORKER["rows"], keep)


def run_chain(cases: list[ChainCase], names: list[str], model_path: str | None = None, jobs: int = 1,
              keep: str | None = None, progress: bool = True) -> tuple[ChainReport, dict]:
    """Every row on every case; returns the report and, for case `keep`, each row's output."""
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(cases), desc=f"chain: {len(names)} rows", unit="case")
    results: list = [None] * len(cases)
    if jobs > 1 and len(cases) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_init,
                                 initargs=(names, model_path)) as ex:
            futs = {ex.submit(_run, c, c.name == keep): i for i, c in enumerate(cases)}
            for fut in as_completed(futs):
                results[futs[fut]] = fut.result()
                if bar:
                    bar.update()
    else:
        _init(names, model_path)
        for i, c in enumerate(cases):
            results[i] = _run(c, c.name == keep)
            if bar:
                bar.update()
    if bar:
        bar.close()
    rep = ChainReport(cases=[c.name for c in cases], frames=int(sum(len(c.missing) - c.first for c in cases)))
    rep.missed_share = float(np.mean(np.concatenate([c.missing[c.first:] for c in cases])))
    traces = {}
    for name in names:
        errs = [r[0][name] for r in results]
        rep.rows[name] = {"pooled": summarize(errs, cases),
                          "per_case": {c.name: summarize([e], [c]) for c, e in zip(cases, errs)}}
        rep.seconds[name] = float(sum(r[1][name] for r in results))
    for c, r in zip(cases, results):
        if r[2]:
            traces = {"case": c, "outputs": r[2]}
    return rep, traces


def format_chain(rep: ChainReport, reference: str = "pnp_floor") -> str:
    head = (f"{'row':<22}" + "".join(f"{h:>11}" for h in ("Abs all", "Abs seen", "Abs missed", "MPJPE seen",
                                                         "PA seen", "Accel", "depth %")) + f"{'seen/ref':>10}")
    lines = [f"camera chain: {len(rep.cases)} cases, {rep.frames} frames from each first detection, "
             f"{100 * rep.missed_share:.0f}% missed by the detector; 15 comparable joints; mm (Accel mm/frame^2); "
             f"ref = {reference}", head, "-" * len(head)]
    ref = rep.rows.get(reference, {}).get("pooled")
    for name, r in rep.rows.items():
        p = r["pooled"]
        ratio = f"{p['abs_seen'] / ref['abs_seen']:.3f}" if ref else ""
        lines.append(f"{name:<22}" + "".join(f"{p[c]:11.1f}" for c in COLUMNS[:-1]) + f"{p['depth_pct_seen']:10.2f}%"
                     + f"{ratio:>10}")
    return "\n".join(lines)


def format_per_case(rep: ChainReport, names: list[str]) -> str:
    head = f"{'case':<28}" + "".join(f"{n[:16]:>17}" for n in names)
    lines = ["Abs on seen frames per case (mm):", head, "-" * len(head)]
    for case in rep.cases:
        lines.append(f"{case:<28}" + "".join(f"{rep.rows[n]['per_case'][case]['abs_seen']:17.1f}" for n in names))
    return "\n".join(lines)


def plot_distance(traces: dict, path, rows: list[str]) -> None:
    """One case's camera-to-pelvis distance over time against the truth, missed frames shaded."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    case: ChainCase = traces["case"]
    fps = case.landmarks.fps
    t = np.arange(len(case.gt)) / fps
    fig, ax = plt.subplots(figsize=(12, 4.5))
    edges = np.flatnonzero(np.diff(np.r_[0, case.missing.astype(int), 0]))
    for k, (a, b) in enumerate(zip(edges[::2], edges[1::2])):
        ax.axvspan(t[a], t[min(b, len(t) - 1)], color="grey", alpha=0.2, lw=0, label="detector lost the person"
                   if k == 0 else None)
    ax.plot(t, np.linalg.norm(case.gt[:, 0], axis=-1), color="black", lw=2, label="truth (motion capture)")
    for name in rows:
        if name in traces["outputs"]:
            ax.plot(t, np.linalg.norm(traces["outputs"][name][:, 0], axis=-1), lw=1, label=name)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("camera to pelvis (m)")
    ax.set_title(f"{case.name}: where the person is, over time")
    ax.legend(loc="upper left", fontsize=8, ncol=3, framealpha=0.9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
