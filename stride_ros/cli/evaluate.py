# SPDX-License-Identifier: MIT
"""`stride-ros evaluate`: the accuracy benchmark, on simulated estimator output (any zoo family) or
on real estimator output with motion-capture truth."""
from __future__ import annotations

import argparse
import os
from functools import partial

from ..core.errors import InputError
from .common import add_model_args, nonneg_int, out_path, positive_int
from .evaluate_chain import add_chain_arguments, run_chain_cli
from .evaluate_crowd import add_crowd_arguments, run_crowd

HELP = "accuracy benchmark: estimator output (simulated or real) -> every method -> metrics"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="*", help="ground-truth .bvh/.npz files or folders "
                   "(default: the validation subjects of the shared mocap)")
    p.add_argument("--split", default="val", choices=["val", "train"], help="mocap split when no inputs")
    p.add_argument("--family", default="sim", help="simulated estimator family from the zoo: sim (default), "
                   "blazepose, lifting, uncalibrated, hfr_drops")
    p.add_argument("--real", nargs="?", const="", default=None, metavar="DIR",
                   help="evaluate on real estimator output with motion-capture truth instead "
                   "(DIR of <case>.in.npz/.gt.npz; default: $STRIDE_ROS_REAL)")
    p.add_argument("--motions", help="with --real: only these motions (comma list, e.g. freestyle2,freestyle3)")
    p.add_argument("--data", help="mocap folder (default: $STRIDE_ROS_DATA)")
    p.add_argument("--methods", default="baselines,prior,stride",
                   help="comma list of methods or groups (baselines, ablation, stream, all); see docs/results.md")
    add_model_args(p)
    p.add_argument("--tta-steps", type=nonneg_int, default=30, help="STRIDE adaptation epochs (default 30)")
    p.add_argument("--lags", default="0,8", help="stream lags to evaluate (default 0,8)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    p.add_argument("--max-clips", type=positive_int, help="evaluate only the first N clips")
    p.add_argument("--jobs", type=positive_int, default=min(4, os.cpu_count() or 1),
                   help="processes to spread the clips over (default: the cores, at most 4)")
    p.add_argument("--json", help="write the report as JSON here")
    p.add_argument("--plot", help="write an error-over-time PNG of one clip here")
    p.add_argument("--plot-clip", help="clip for --plot (default: the first)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_crowd_arguments(p)
    add_chain_arguments(p)


def run(a: argparse.Namespace) -> int:
    if a.crowd:
        return run_crowd(a)
    if a.chain is not None:
        return run_chain_cli(a)
    from ..eval.benchmark import (
        clips_from_paths,
        clips_from_split,
        format_per_case,
        format_table,
        plot_clip,
        real_cases,
        run_benchmark,
        save_json,
        simulated_cases,
    )
    from ..eval.methods import build_methods

    if a.plot:
        out_path(a.plot, [], ".png")
    if a.json:
        out_path(a.json, [], ".json")
    factory = partial(build_methods, a.methods, model=a.model, tta_steps=a.tta_steps, lags=a.lags, device=a.device)
    methods = factory()  # names checked, the model loaded: before any case is built
    if a.real is not None and any(getattr(fn, "wants_floor", False) for fn in methods.values()):
        raise InputError("_floor rows need a camera's floor; the real cases are pelvis-relative (the camera "
                         "chain with its floor: --chain)")
    if a.real is not None:
        if a.inputs:
            raise InputError("--real evaluates the real cases; give no motion files with it")
        if a.family != "sim":
            raise InputError("--family picks a simulated estimator; it does not apply to --real")
        cases = real_cases(a.real or None, [m for m in (a.motions or "").split(",") if m] or None)
        source = f"real: {len(cases)} cases of real estimator output (MediaPipe BlazePose, TotalCapture truth)"
    else:
        clips = clips_from_paths(a.inputs) if a.inputs else clips_from_split(a.split, a.data, max_clips=a.max_clips)
        cases = simulated_cases(clips, a.family, a.seed)
        source = f"simulated: {a.family}"
    if a.max_clips:
        cases = cases[: a.max_clips]
    if not cases:
        raise InputError("no clips to evaluate")
    keep = a.plot_clip or cases[0].name
    if keep not in {c.name for c in cases}:
        raise InputError(f"--plot-clip {keep}: no such clip (have e.g. {cases[0].name})")
    report, traces = run_benchmark(cases, methods, seed=a.seed, progress=not a.quiet, keep_clip=keep,
                                   jobs=a.jobs, factory=factory, source=source)
    reference = "one_euro" if "one_euro" in methods else next(iter(methods))
    print(format_table(report, reference))
    if a.real is not None:
        print()
        print(format_per_case(report, list(methods)[-3:]))
    if a.json:
        save_json(report, a.json)
        print(f"wrote {a.json}")
    if a.plot:
        label = "missed frames" if a.real is not None else "occluded spans"
        plot_clip(traces, a.plot, title=f"{keep}: error over time ({label} shaded)")
        print(f"wrote {a.plot}")
    return 0
