# SPDX-License-Identifier: MIT
"""`stride-ros evaluate --crowd`: identity and pose accuracy with several people who cross and hide
each other (eval/crowd.py), with the options only that benchmark has."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ..core.errors import InputError
from .common import int_list, load_model, make_backend, out_path, positive_float, positive_int

DEFAULT_METHODS = "baselines,prior,stride"  # evaluate's own default: with --crowd, --methods must stay at it
MAX_PEOPLE = 5


def add_crowd_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("crowds (--crowd)")
    g.add_argument("--crowd", action="store_true",
                   help="evaluate identities instead: generated crowds of validation clips crossing in front of "
                   "one camera, delivered with true ids, without ids in a random order, and with a 2D box "
                   "tracker's ids; rows: the input, the refiner following those ids, a nearest-pelvis tracker, "
                   "the refiner associating itself; reference: each person streamed alone (at the first of --lags)")
    g.add_argument("--people", default="2,3", help="people per crowd: a comma list or a range, e.g. 2,3 or 2-4 "
                   f"(1..{MAX_PEOPLE}; default 2,3)")
    g.add_argument("--crowds", type=positive_int, default=3, help="crowds per number of people (default 3)")
    g.add_argument("--seconds", type=positive_float, default=10.0, help="length of each crowd (default 10)")
    g.add_argument("--match-m", type=positive_float, default=None,
                   help="pelvis distance within which a published person is a true one (default 1.0 m)")
    g.add_argument("--crowd-floor", action="store_true",
                   help="give the refiner each scene's floor (as a mounted camera knows it): feet on the floor fix "
                   "each person's distance (default: distance rests on the estimator's idea of body size)")
    g.add_argument("--crowd-files", metavar="DIR",
                   help="also write each crowd as multi-person pose files there: <crowd>.<delivery>.npz and the "
                   "truth <crowd>.gt.npz")


def people_list(text: str) -> tuple[int, ...]:
    """'2,3' or '2-4' -> (2, 3) / (2, 3, 4), each in 1..MAX_PEOPLE."""
    t = text.strip()
    if "-" in t and "," not in t:
        lo, _, hi = t.partition("-")
        vals = int_list(f"{lo},{hi}", 1, "--people")
        vals = list(range(vals[0], vals[1] + 1))
    else:
        vals = int_list(t, 1, "--people")
    if not vals or max(vals) > MAX_PEOPLE:
        raise InputError(f"--people {text!r}: expected people per crowd in 1..{MAX_PEOPLE}")
    return tuple(dict.fromkeys(vals))


def _check(a: argparse.Namespace) -> None:
    """What does not combine with --crowd, said before any work."""
    if a.inputs:
        raise InputError("--crowd makes its scenes from the validation clips; give no motion files with it")
    if a.real is not None or getattr(a, "chain", None) is not None:
        raise InputError(f"--crowd and --{'real' if a.real is not None else 'chain'} are different benchmarks: "
                         "choose one")
    if a.family != "sim":
        raise InputError("--family does not apply to --crowd (its estimator is the sim family, the crowd's "
                         "own people hiding each other instead of its random occluders)")
    if a.methods != DEFAULT_METHODS:
        raise InputError("--methods does not apply to --crowd (its rows are fixed: see --help)")
    if a.split != "val":
        raise InputError("--crowd draws from the validation subjects only (never --split train)")
    if a.plot_clip:
        raise InputError("--plot-clip does not apply to --crowd (the plot shows the first crowd)")


def run_crowd(a: argparse.Namespace) -> int:
    from ..data.crowd import crowd_clips
    from ..eval.crowd import CrowdBenchConfig, format_report, plot_tracks, run_crowd_benchmark, save_json
    from ..eval.tracking import MATCH_M

    _check(a)
    people = people_list(a.people)
    lags = int_list(a.lags, 0, "--lags")
    if a.plot:
        out_path(a.plot, [], ".png")
    if a.json:
        out_path(a.json, [], ".json")
    if a.crowd_files:
        folder = Path(a.crowd_files)
        if folder.exists() and not folder.is_dir():
            raise InputError(f"--crowd-files {folder}: exists and is not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise InputError(f"--crowd-files {folder}: cannot create it ({e.strerror})") from None
        if not os.access(folder, os.W_OK):
            raise InputError(f"--crowd-files {folder}: not writable")
    if a.seconds * 30.0 < 30:
        raise InputError(f"--seconds {a.seconds:g}: a crowd needs at least 1 s")
    cfg = CrowdBenchConfig(people=people, crowds=a.crowds, seconds=a.seconds, seed=a.seed, lag=lags[0],
                           match_m=a.match_m or MATCH_M, floor=a.crowd_floor)
    model = load_model(a.model, a.device, threads=1)
    if not 0 <= cfg.lag <= model.cfg.max_stream_lag:
        raise InputError(f"--lags {a.lags}: the model streams lags 0..{model.cfg.max_stream_lag}")
    backend = make_backend("auto", a.device)
    clips = crowd_clips(a.data)
    if max(people) > len(clips):
        raise InputError(f"--people {a.people}: only {len(clips)} validation clips to draw people from")
    # each refiner logs a reason once (a person without hips, ...): dozens of refiners here, counted anyway
    logging.getLogger("stride_ros.stream.refiner").setLevel(logging.ERROR)
    report, traces = run_crowd_benchmark(model, backend, clips, cfg, progress=not a.quiet,
                                         files=a.crowd_files)
    print(format_report(report))
    if a.json:
        save_json(report, a.json)
        print(f"wrote {a.json}")
    if a.plot:
        plot_tracks(traces, a.plot)
        print(f"wrote {a.plot}")
    if a.crowd_files:
        print(f"wrote {len(report['crowds'])} crowds' pose files to {a.crowd_files}")
    return 0

