# SPDX-License-Identifier: MIT
"""The accuracy benchmark: cases (estimator output + truth) -> every method -> metrics.

A case is either simulated (ground-truth motion through one family of the estimator zoo, seeded by
clip name, so every method sees the same input) or real (a real estimator's output with its
motion-capture truth, realdata.py). Every method sees the same input per case, so rows compare
directly; methods come from methods.py. Real cases are scored on the joints both sides define the
same way, and their "occluded" frames are the frames the detector missed.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..core.errors import InputError
from ..core.timeseries import MODEL_FPS, resample
from ..data.bvh import load_h36m
from ..data.posefile import load_poses
from ..data.simulator import Simulated, SimulatorConfig, clip_seed, describe, simulate
from . import metrics

# (poses with NaN, confidence, fps) -> complete poses
Method = Callable[[np.ndarray, np.ndarray, float], np.ndarray]

EVAL_FPS = MODEL_FPS  # clips are scored at the prior's own rate
COLUMNS = ("mpjpe", "pa_mpjpe", "n_mpjpe", "accel", "abs")
# frames until the person is fully seen again: what a lag-N refiner can and cannot know
REVEAL_BINS = ((0, 0, "seen"), (1, 8, "1-8"), (9, 16, "9-16"), (17, 32, "17-32"), (33, None, "33+"))


def frames_to_reveal(occluded: np.ndarray) -> np.ndarray:
    """Per frame, how many frames later the next frame with no hidden joint comes (0: this frame is
    fully seen; clip end counts as never: a large number). A lag-N refiner sees the end of an
    occlusion only where this is at most N; offline sees it everywhere."""
    T = len(occluded)
    out = np.zeros(T, np.int64)
    nxt = 10 ** 6
    for t in range(T - 1, -1, -1):
        nxt = t if not occluded[t] else nxt
        out[t] = nxt - t
    return out


def reveal_masks(reveal: np.ndarray) -> dict[str, np.ndarray]:
    return {name: (reveal >= lo) & (reveal <= (hi if hi is not None else np.inf)) for lo, hi, name in REVEAL_BINS}


@dataclass
class Clip:
    name: str
    gt: np.ndarray  # [T, 17, 3] world frame (Y up), metres, at EVAL_FPS


def clips_from_paths(paths: list[str | Path], fps: float = EVAL_FPS) -> list[Clip]:
    """BVH or complete-pose .npz files, or folders of them, as ground truth."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(list(p.rglob("*.bvh")) + list(p.rglob("*.npz")))
            if not found:
                raise InputError(f"{p}: folder holds no .bvh or .npz files")
            files += found
        else:
            files.append(p)
    manifest_fps = {}
    try:
        from ..data.mocap import list_clips
        manifest_fps = {c.path.resolve(): c.fps for c in list_clips()}
    except InputError:
        pass
    clips = []
    for f in files:
        if f.suffix.lower() == ".bvh":
            poses, _ = load_h36m(f, fps_out=fps, fps_in=manifest_fps.get(f.resolve()))
        elif f.suffix.lower() == ".npz":
            seq = load_poses(f)
            if seq.several:
                raise InputError(f"{f}: ground truth for the benchmark is one person [T, 17, 3] (several people: "
                                 "evaluate --crowd)")
            if np.isnan(seq.poses).any():
                raise InputError(f"{f}: ground truth must be complete (it has NaN joints)")
            poses = resample(seq.poses, seq.fps, fps)
        elif not f.exists():
            raise InputError(f"{f}: no such file")
        else:
            raise InputError(f"{f}: unsupported file type (expected .bvh or .npz)")
        clips.append(Clip(f.stem, poses))
    return clips


def clips_from_split(split: str = "val", data_dir=None, fps: float = EVAL_FPS,
                     max_clips: int | None = None) -> list[Clip]:
    from ..data.mocap import CACHE_FPS, load_cached
    items = sorted(load_cached(data_dir, split=split).items())
    clips = [Clip(name, resample(p, CACHE_FPS, fps)) for name, (p, _) in items]
    return clips[:max_clips] if max_clips else clips


@dataclass
class Case:
    """One estimator stream with its truth, as every method will see it."""
    name: str
    sim: Simulated  # poses (NaN missing), confidence, gt, occluded [T, 17], fps
    joints: np.ndarray | None = None  # scored joints (None: all 17); the pelvis must come first


def simulated_cases(clips: list[Clip], family: str = "sim", seed: int = 0,
                    sim_cfg: SimulatorConfig = SimulatorConfig()) -> list[Case]:
    """Each clip through one estimator family. `sim` reproduces the original benchmark exactly."""
    from ..data.zoo import FAMILIES, corrupt
    if family not in FAMILIES:
        raise InputError(f"--family {family}: unknown (known: {', '.join(FAMILIES)})")
    cases = []
    for c in clips:
        if family == "sim":
            sim = simulate(c.gt, EVAL_FPS, clip_seed(seed, c.name), sim_cfg)
        else:
            fps = FAMILIES[family].fps
            gt = c.gt if fps == EVAL_FPS else resample(c.gt, EVAL_FPS, fps)
            sim = corrupt(family, gt, fps, np.random.default_rng(clip_seed(seed, c.name)))
        cases.append(Case(c.name, sim))
    return cases


def real_cases(folder=None, motions: list[str] | None = None) -> list[Case]:
    """The real development set (realdata.py) as cases: occluded = the detector found nobody."""
    from ..data.realdata import COMPARABLE, load_cases
    out = []
    for rc in load_cases(folder, motions):
        occ = np.repeat(rc.missing[:, None], rc.gt.shape[1], 1)
        out.append(Case(rc.name, Simulated(rc.poses, rc.confidence, rc.gt, occ, rc.fps, np.eye(4)), COMPARABLE))
    return out


@dataclass
class Report:
    methods: dict[str, dict] = field(default_factory=dict)
    estimator_visible: dict[str, float] = field(default_factory=dict)
    n_clips: int = 0
    n_frames: int = 0
    occluded_share: float = 0.0
    reveal_share: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    simulator: dict = field(default_factory=dict)
    source: str = "simulated: sim"  # which cases: a zoo family, or real estimator output
    occluded_label: str = "occluded"  # real cases: frames the detector missed
    joints: list[int] | None = None

    def to_json(self) -> dict:
        return {"source": self.source, "n_clips": self.n_clips, "n_frames": self.n_frames,
                "occluded_share": self.occluded_share, "occluded_label": self.occluded_label,
                "joints": self.joints, "reveal_share": self.reveal_share, "seed": self.seed,
                "simulator": self.simulator, "estimator_visible_frames": self.estimator_visible,
                "methods": self.methods}


def evaluate_case(case: Case, methods: dict[str, Method], keep: bool = False) -> dict:
    """Score every method on one case."""
    sim, J = case.sim, case.joints
    shown = np.where(np.isnan(sim.poses), sim.gt, sim.poses)
    res = {"occ": sim.occluded_frames, "reveal": frames_to_reveal(sim.occluded_frames),
           "visible": metrics.per_frame_errors(shown, sim.gt, J), "errs": {}, "secs": {},
           "sim": sim if keep else None, "outputs": {}}
    for name, fn in methods.items():
        t0 = time.perf_counter()
        floor = {"floor": sim.floor()} if getattr(fn, "wants_floor", False) else {}
        out = fn(sim.poses, sim.confidence, sim.fps, **floor)
        res["secs"][name] = time.perf_counter() - t0
        res["errs"][name] = metrics.per_frame_errors(out, sim.gt, J)
        if keep:
            res["outputs"][name] = out
    return res


_WORKER_METHODS: dict = {}


def _worker_init(factory) -> None:
    import torch
    torch.set_num_threads(1)
    _WORKER_METHODS.update(factory())


def _worker_case(case: Case, keep: bool) -> dict:
    return evaluate_case(case, _WORKER_METHODS, keep)


def run_benchmark(cases: list[Case], methods: dict[str, Method], seed: int = 0, progress: bool = True,
                  keep_clip: str | None = None, jobs: int = 1, factory=None, source: str = "simulated: sim",
                  sim_cfg: SimulatorConfig = SimulatorConfig()) -> tuple[Report, dict]:
    """Evaluate every method on every case. Returns the report and, for `keep_clip`, its traces.

    jobs > 1 spreads cases over processes; `factory` (picklable, returns the methods) builds each
    process's own methods (models are loaded once per process, not sent per case).
    """
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(cases), desc=f"evaluating {len(methods)} methods", unit="case")
    results: list[dict | None] = [None] * len(cases)
    if jobs > 1 and factory is not None and len(cases) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                 initargs=(factory,)) as ex:
            futs = {ex.submit(_worker_case, c, c.name == keep_clip): i for i, c in enumerate(cases)}
            for fut in as_completed(futs):
                results[futs[fut]] = fut.result()
                if bar:
                    bar.update()
    else:
        for i, case in enumerate(cases):
            results[i] = evaluate_case(case, methods, case.name == keep_clip)
            if bar:
                bar.set_postfix_str(case.name)
                bar.update()
    if bar:
        bar.close()
    traces: dict = {}
    for case, r in zip(cases, results):
        if r["sim"] is not None:
            traces = {"sim": r["sim"], "outputs": r["outputs"], "joints": case.joints}
    all_masks = [np.ones(len(c.sim.gt), bool) for c in cases]
    occ_masks = [r["occ"] for r in results]
    real = source.startswith("real")
    report = Report(n_clips=len(cases), n_frames=int(sum(len(c.sim.gt) for c in cases)), seed=seed,
                    simulator={} if real else describe(sim_cfg), source=source,
                    occluded_label="missed" if real else "occluded",
                    joints=None if cases[0].joints is None else [int(j) for j in cases[0].joints])
    report.occluded_share = float(np.concatenate(occ_masks).mean()) if cases else 0.0
    report.estimator_visible = metrics.summarize([r["visible"] for r in results], [~m for m in occ_masks])
    bins = [reveal_masks(r["reveal"]) for r in results]
    report.reveal_share = {b: float(np.concatenate([m[b] for m in bins]).mean()) if cases else 0.0
                           for _, _, b in REVEAL_BINS}
    for name in methods:
        errs = [r["errs"][name] for r in results]
        report.methods[name] = {
            "all": metrics.summarize(errs, all_masks),
            "occluded": metrics.summarize(errs, occ_masks),
            "seen": metrics.summarize(errs, [~m for m in occ_masks]),
            "by_reveal": {b: _or_none(metrics.summarize(errs, [m[b] for m in bins])["mpjpe"])
                          for _, _, b in REVEAL_BINS},
            "seconds": float(sum(r["secs"][name] for r in results)),
            "per_clip": {c.name: metrics.summarize([e], [m])["mpjpe"] for c, e, m in zip(cases, errs, all_masks)},
            "per_clip_occluded": {c.name: _or_none(metrics.summarize([e], [m])["mpjpe"])
                                  for c, e, m in zip(cases, errs, occ_masks)},
        }
    return report, traces


def _or_none(x: float) -> float | None:
    return None if np.isnan(x) else x  # an empty bin: null in JSON, not NaN


def _nan_if_none(x: float | None) -> float:
    return float("nan") if x is None else x


def format_table(report: Report, reference: str = "one_euro") -> str:
    o_ = "miss" if report.occluded_label == "missed" else "occ"
    head = (f"{'method':<22}" + "".join(f"{c:>9}" for c in ("MPJPE", "PA-MPJPE", "N-MPJPE", "Accel", "Abs"))
            + " |" + "".join(f"{o_ + ' ' + c:>11}" for c in ("MPJPE", "PA", "Accel", "Abs"))
            + f" | {'MPJPE/ref':>9} {o_ + '/ref':>8}")
    joints = "all 17 joints" if report.joints is None else f"{len(report.joints)} comparable joints"
    lines = [f"{report.source}: {report.n_clips} cases, {report.n_frames} frames, "
             f"{100 * report.occluded_share:.0f}% of frames {report.occluded_label}; {joints}; errors in mm "
             f"(Accel mm/frame^2); ref = {reference}",
             head, "-" * len(head)]
    ref = report.methods.get(reference)
    for name, m in report.methods.items():
        a, o = m["all"], m["occluded"]
        ratio = occ_ratio = ""
        if ref:
            ratio = f"{a['mpjpe'] / ref['all']['mpjpe']:.3f}"
            occ_ratio = f"{o['mpjpe'] / ref['occluded']['mpjpe']:.3f}"
        lines.append(f"{name:<22}" + "".join(f"{a[c]:9.1f}" for c in COLUMNS) + " |"
                     + "".join(f"{o[c]:11.1f}" for c in ("mpjpe", "pa_mpjpe", "accel", "abs"))
                     + f" | {ratio:>9} {occ_ratio:>8}")
    if report.reveal_share:
        names = [b for _, _, b in REVEAL_BINS]
        lines += ["", "MPJPE by frames until the person is fully seen again (a lag-N refiner knows the end "
                  "of an occlusion only within N):",
                  f"{'method':<22}" + "".join(f"{b:>9}" for b in names),
                  f"{'share of frames':<22}" + "".join(f"{100 * report.reveal_share[b]:8.0f}%" for b in names)]
        for name, m in report.methods.items():
            lines.append(f"{name:<22}" + "".join(f"{_nan_if_none(m['by_reveal'][b]):9.1f}" for b in names))
    v = report.estimator_visible
    lines.append(f"(estimator input on its visible frames: MPJPE {v['mpjpe']:.1f}, PA {v['pa_mpjpe']:.1f}, "
                 f"Accel {v['accel']:.1f}, Abs {v['abs']:.1f})")
    lines.append("Abs on fully seen frames (position included; / the estimator's own): " + ", ".join(
        f"{name} {m['seen']['abs']:.1f} ({m['seen']['abs'] / max(v['abs'], 1e-9):.2f})"
        for name, m in report.methods.items() if "seen" in m))
    return "\n".join(lines)


def format_per_case(report: Report, names: list[str]) -> str:
    """MPJPE per case (and on its occluded/missed frames) for a few methods."""
    o_ = "miss" if report.occluded_label == "missed" else "occ"
    head = f"{'case':<28}" + "".join(f"{n[:14]:>15}{o_:>6}" for n in names)
    lines = [head, "-" * len(head)]
    for case in next(iter(report.methods.values()))["per_clip"]:
        row = f"{case:<28}"
        for n in names:
            m = report.methods[n]
            occ = m["per_clip_occluded"][case]
            row += f"{m['per_clip'][case]:15.1f}" + (f"{occ:6.0f}" if occ is not None else f"{'-':>6}")
        lines.append(row)
    return "\n".join(lines)


def plot_clip(traces: dict, path: str | Path, title: str = "", note: str | None = None,
              explain: str | None = None) -> None:
    """Error over time for one clip, occluded spans shaded (cf. Fig. 1 of the STRIDE supplement).

    The y axes are clipped at 1.3 x the 97th percentile over every line, so one baseline's spike does
    not flatten the rest (what is cut off is said on the plot). The legend sits above the plot, clear of
    those notes; `explain`: one more line under the figure (what a reader would otherwise ask about)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sim: Simulated = traces["sim"]
    J = traces.get("joints")
    t = np.arange(len(sim.gt)) / sim.fps
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.2]})
    full = sim.occluded.all(-1)
    part = sim.occluded.any(-1) & ~full
    for mask, alpha, label in ((full, 0.25, "full occlusion"), (part, 0.1, "partial occlusion")):
        edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
        for k, (a, b) in enumerate(zip(edges[::2], edges[1::2])):
            for axis in (ax, ax2):
                axis.axvspan(t[a], t[min(b, len(t) - 1)], color="grey", alpha=alpha, lw=0,
                             label=label if (k == 0 and axis is ax) else None)
    curves = {}
    for name, out in traces["outputs"].items():
        o, g = (out, sim.gt) if J is None else (out[:, J], sim.gt[:, J])
        curves[name] = (metrics.mpjpe_per_frame(o, g), metrics.abs_error_per_frame(o, g))
    for k, axis in enumerate((ax, ax2)):
        top = 1.3 * float(np.percentile(np.concatenate([c[k] for c in curves.values()]), 97))
        for name, c in curves.items():
            style = dict(lw=0.9, ls=":", color="black") if name.startswith("raw") else dict(lw=1.2)
            axis.plot(t, c[k], label=name if axis is ax else None, **style)
            if c[k].max() > top:
                axis.annotate(f"{name} peaks at {c[k].max():.0f}", (t[int(np.argmax(c[k]))], top), fontsize=7,
                              ha="center", va="top")
        axis.set_ylim(0, top)
    ax.set_ylabel("MPJPE (mm)")
    ax2.set_ylabel("abs. error (mm)")
    ax2.set_xlabel("time (s)")
    ax.set_title(title or "error over time", pad=24)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), fontsize=8, ncol=5, frameon=False)
    ax.grid(alpha=0.3)
    ax2.grid(alpha=0.3)
    text = note or ("MPJPE: mean joint error after putting the pelvises together (the pose's shape); "
                    "abs. error: mean joint error as published (where the person is, as a robot needs it).\n"
                    "Shaded: frames where the estimator saw part (light) or none (dark) of the person.")
    if explain:
        import textwrap
        text += "\n" + textwrap.fill(explain, 190)
    fig.text(0.01, 0.005, text, fontsize=7)
    fig.tight_layout(rect=(0, 0.02 * (text.count("\n") + 1), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_json(report: Report, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report.to_json(), indent=1))

