"""The accuracy benchmark: ground-truth motion -> simulated estimator -> every method -> metrics.

Every method sees the same simulated input for a clip (seeded by clip name), so rows are directly
comparable. Later stages (the prior, STRIDE, the streaming refiner) add rows through `METHODS`.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import metrics
from .baselines import BASELINES
from .bvh import load_h36m, resample
from .errors import InputError
from .posefile import load_poses
from .simulator import Simulated, SimulatorConfig, clip_seed, describe, simulate

# (poses with NaN, confidence, fps) -> complete poses
Method = Callable[[np.ndarray, np.ndarray, float], np.ndarray]

EVAL_FPS = 30.0
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
        from .mocap import list_clips
        manifest_fps = {c.path.resolve(): c.fps for c in list_clips()}
    except InputError:
        pass
    clips = []
    for f in files:
        if f.suffix.lower() == ".bvh":
            poses, _ = load_h36m(f, fps_out=fps, fps_in=manifest_fps.get(f.resolve()))
        elif f.suffix.lower() == ".npz":
            seq = load_poses(f)
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
    from .mocap import CACHE_FPS, load_cached
    items = sorted(load_cached(data_dir, split=split).items())
    clips = [Clip(name, resample(p, CACHE_FPS, fps)) for name, (p, _) in items]
    return clips[:max_clips] if max_clips else clips


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

    def to_json(self) -> dict:
        return {"n_clips": self.n_clips, "n_frames": self.n_frames, "occluded_share": self.occluded_share,
                "reveal_share": self.reveal_share, "seed": self.seed, "simulator": self.simulator, "estimator_visible_frames": self.estimator_visible,
                "methods": self.methods}


def evaluate_clip(clip: Clip, methods: dict[str, Method], seed: int, sim_cfg: SimulatorConfig,
                  keep: bool = False) -> dict:
    """Simulate one clip's estimator stream and score every method on it."""
    sim = simulate(clip.gt, EVAL_FPS, clip_seed(seed, clip.name), sim_cfg)
    shown = np.where(np.isnan(sim.poses), sim.gt, sim.poses)
    res = {"occ": sim.occluded_frames, "reveal": frames_to_reveal(sim.occluded_frames), "visible": metrics.per_frame_errors(shown, sim.gt), "errs": {},
           "secs": {}, "sim": sim if keep else None, "outputs": {}}
    for name, fn in methods.items():
        t0 = time.perf_counter()
        out = fn(sim.poses, sim.confidence, sim.fps)
        res["secs"][name] = time.perf_counter() - t0
        res["errs"][name] = metrics.per_frame_errors(out, sim.gt)
        if keep:
            res["outputs"][name] = out
    return res


_WORKER_METHODS: dict = {}


def _worker_init(factory) -> None:
    import torch
    torch.set_num_threads(1)
    _WORKER_METHODS.update(factory())


def _worker_clip(clip: Clip, seed: int, sim_cfg: SimulatorConfig, keep: bool) -> dict:
    return evaluate_clip(clip, _WORKER_METHODS, seed, sim_cfg, keep)


def run_benchmark(clips: list[Clip], methods: dict[str, Method], seed: int = 0,
                  sim_cfg: SimulatorConfig = SimulatorConfig(), progress: bool = True,
                  keep_clip: str | None = None, jobs: int = 1, factory=None) -> tuple[Report, dict]:
    """Evaluate every method on every clip. Returns the report and, for `keep_clip`, its traces.

    jobs > 1 spreads clips over processes; `factory` (picklable, returns the methods) builds each
    process's own methods (models are loaded once per process, not sent per clip).
    """
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(clips), desc=f"evaluating {len(methods)} methods", unit="clip")
    results: list[dict | None] = [None] * len(clips)
    if jobs > 1 and factory is not None and len(clips) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init,
                                 initargs=(factory,)) as ex:
            futs = {ex.submit(_worker_clip, c, seed, sim_cfg, c.name == keep_clip): i for i, c in enumerate(clips)}
            for fut in as_completed(futs):
                results[futs[fut]] = fut.result()
                if bar:
                    bar.update()
    else:
        for i, clip in enumerate(clips):
            results[i] = evaluate_clip(clip, methods, seed, sim_cfg, clip.name == keep_clip)
            if bar:
                bar.set_postfix_str(clip.name)
                bar.update()
    if bar:
        bar.close()
    traces: dict = {}
    for clip, r in zip(clips, results):
        if r["sim"] is not None:
            traces = {"sim": r["sim"], "outputs": r["outputs"]}
    all_masks = [np.ones(len(c.gt), bool) for c in clips]
    occ_masks = [r["occ"] for r in results]
    report = Report(n_clips=len(clips), n_frames=int(sum(len(c.gt) for c in clips)), seed=seed,
                    simulator=describe(sim_cfg))
    report.occluded_share = float(np.concatenate(occ_masks).mean()) if clips else 0.0
    report.estimator_visible = metrics.summarize([r["visible"] for r in results], [~m for m in occ_masks])
    bins = [reveal_masks(r["reveal"]) for r in results]
    report.reveal_share = {b: float(np.concatenate([m[b] for m in bins]).mean()) if clips else 0.0
                           for _, _, b in REVEAL_BINS}
    for name in methods:
        errs = [r["errs"][name] for r in results]
        report.methods[name] = {
            "all": metrics.summarize(errs, all_masks),
            "occluded": metrics.summarize(errs, occ_masks),
            "by_reveal": {b: _or_none(metrics.summarize(errs, [m[b] for m in bins])["mpjpe"]) for _, _, b in REVEAL_BINS},
            "seconds": float(sum(r["secs"][name] for r in results)),
            "per_clip": {c.name: metrics.summarize([e], [m])["mpjpe"] for c, e, m in zip(clips, errs, all_masks)},
        }
    return report, traces


def _or_none(x: float) -> float | None:
    return None if np.isnan(x) else x  # an empty bin: null in JSON, not NaN


def _nan_if_none(x: float | None) -> float:
    return float("nan") if x is None else x


def format_table(report: Report, reference: str = "one_euro") -> str:
    head = (f"{'method':<18}" + "".join(f"{c:>9}" for c in ("MPJPE", "PA-MPJPE", "N-MPJPE", "Accel", "Abs"))
            + " |" + "".join(f"{c:>10}" for c in ("occ MPJPE", "occ PA", "occ Accel", "occ Abs"))
            + f" | {'MPJPE/ref':>9} {'occ/ref':>8}")
    lines = [f"{report.n_clips} clips, {report.n_frames} frames at {EVAL_FPS:g} fps, "
             f"{100 * report.occluded_share:.0f}% of frames occluded; errors in mm (Accel mm/frame^2)",
             head, "-" * len(head)]
    ref = report.methods.get(reference)
    for name, m in report.methods.items():
        a, o = m["all"], m["occluded"]
        ratio = occ_ratio = ""
        if ref:
            ratio = f"{a['mpjpe'] / ref['all']['mpjpe']:.3f}"
            occ_ratio = f"{o['mpjpe'] / ref['occluded']['mpjpe']:.3f}"
        lines.append(f"{name:<18}" + "".join(f"{a[c]:9.1f}" for c in COLUMNS) + " |"
                     + "".join(f"{o[c]:10.1f}" for c in ("mpjpe", "pa_mpjpe", "accel", "abs"))
                     + f" | {ratio:>9} {occ_ratio:>8}")
    if report.reveal_share:
        names = [b for _, _, b in REVEAL_BINS]
        lines += ["", "MPJPE by frames until the person is fully seen again (a lag-N refiner knows the end "
                  "of an occlusion only within N):",
                  f"{'method':<18}" + "".join(f"{b:>9}" for b in names),
                  f"{'share of frames':<18}" + "".join(f"{100 * report.reveal_share[b]:8.0f}%" for b in names)]
        for name, m in report.methods.items():
            lines.append(f"{name:<18}" + "".join(f"{_nan_if_none(m['by_reveal'][b]):9.1f}" for b in names))
    v = report.estimator_visible
    lines.append(f"(estimator input on its visible frames: MPJPE {v['mpjpe']:.1f}, PA {v['pa_mpjpe']:.1f}, "
                 f"Accel {v['accel']:.1f}, Abs {v['abs']:.1f})")
    return "\n".join(lines)


def plot_clip(traces: dict, path: str | Path, title: str = "") -> None:
    """Error over time for one clip, occluded spans shaded (cf. Fig. 1 of the STRIDE supplement)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sim: Simulated = traces["sim"]
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
    for name, out in traces["outputs"].items():
        ax.plot(t, metrics.mpjpe_per_frame(out, sim.gt), lw=1.2, label=name)
        ax2.plot(t, metrics.abs_error_per_frame(out, sim.gt), lw=1.0)
    ax.set_ylabel("MPJPE (mm)")
    ax2.set_ylabel("abs. error (mm)")
    ax2.set_xlabel("time (s)")
    ax.set_title(title or "error over time")
    ax.legend(loc="upper right", fontsize=8, ncol=3)
    ax.grid(alpha=0.3)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save_json(report: Report, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report.to_json(), indent=1))


def baseline_methods() -> dict[str, Method]:
    return dict(BASELINES)
