# SPDX-License-Identifier: MIT
"""`stride-ros bench`: per-frame latency per backend, 1 and 4 people, with and without adaptation."""
from __future__ import annotations

import argparse

from ..core.errors import InputError
from ..model import BACKEND_KINDS
from .common import add_model_args, check_lag, int_list, load_model, nonneg_float, nonneg_int, out_path, positive_int

HELP = "speed benchmark: per-frame latency per backend, 1 and 4 people, with and without adaptation, beside One Euro"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backends", default="torch,onnx", help="comma list: torch, onnx, tensorrt")
    p.add_argument("--people", default="1,4", help="comma list of people counts")
    p.add_argument("--frames", type=positive_int, default=900,
                   help="frames per run (30 Hz, paced; 900: a p99 from ~9 slowest frames, not 2 or 3); "
                   "the default run takes about 5 minutes")
    p.add_argument("--lag", type=nonneg_int, default=0)
    p.add_argument("--lead-ms", type=nonneg_float, default=0.0,
                   help="also run every row with this forecast lead (latency compensation), side by side")
    add_model_args(p)
    p.add_argument("--estimator", metavar="VIDEO",
                   help="instead: the camera-fed estimator's speed at 1280x720 on frames composed from this video "
                   "(the video, and two copies side by side), by people found per frame (e.g. Sports2D's demo.mp4)")
    p.add_argument("--max-people", type=positive_int, default=4,
                   help="with --estimator: the multi-person estimator's max_people (default 4)")
    p.add_argument("--no-tiles", action="store_true", help="with --estimator: the multi-person estimator without tiles")
    p.add_argument("--modes", default="ids",
                   help="comma list: ids (each person with a trusted track id), associated (no ids: the refiner "
                   "associates people every frame), floor (associated, with a floor: contacts and grounding)")
    p.add_argument("--adapt", choices=["both", "off", "on"], default="both", help="adaptation rows to run")
    p.add_argument("--json", help="write the results as JSON here")
    p.add_argument("--quiet", action="store_true")


def run(a: argparse.Namespace) -> int:
    from ..eval.bench import format_bench, run_bench, save

    if a.estimator:
        return run_estimator(a)
    backends = [b.strip() for b in a.backends.split(",") if b.strip()]
    for b in backends:
        if b not in BACKEND_KINDS:
            raise InputError(f"--backends: unknown backend {b!r} ({', '.join(BACKEND_KINDS)})")
    people = int_list(a.people, lo=1, name="--people")
    if a.json:
        out_path(a.json, [], ".json")
    model = load_model(a.model, a.device, threads=1)
    check_lag(model, a.lag)
    horizon_ms = model.cfg.max_lead / 30.0 * 1000
    if a.lead_ms > horizon_ms + 1e-6:
        raise InputError(f"--lead-ms {a.lead_ms:g}: beyond the prior's horizon ({horizon_ms:.0f} ms)")
    modes = tuple(m.strip() for m in a.modes.split(",") if m.strip())
    bad = [m for m in modes if m not in ("ids", "associated", "floor")]
    if bad or not modes:
        raise InputError(f"--modes {a.modes!r}: expected a comma list of ids, associated, floor")
    adapt = {"both": (False, True), "off": (False,), "on": (True,)}[a.adapt]
    runs = len(backends) * len(people) * len(adapt) * len(modes) * (2 if a.lead_ms else 1)
    print(f"bench: {runs} runs of {a.frames} paced frames ({runs * a.frames / 30 / 60:.1f} min of streaming "
          "plus set-up)", flush=True)
    try:
        res = run_bench(model, backends, people, a.frames, a.lag, a.device, progress=not a.quiet, lead_ms=a.lead_ms,
                        modes=modes, adapt=adapt)
    except ValueError as e:
        raise InputError(str(e)) from None
    print(format_bench(res))
    if a.json:
        save(res, a.json)
        print(f"wrote {a.json}")
    return 0


def run_estimator(a: argparse.Namespace) -> int:
    """`--estimator VIDEO`: the estimator's frame rate by people in view (eval/estimator_bench.py)."""
    import json

    from ..eval.estimator_bench import format_estimator_bench, run_estimator_bench
    from ..vision.blazepose import import_mediapipe
    from ..vision.multipose import MAX_PEOPLE
    from ..vision.video import probe
    if a.max_people > MAX_PEOPLE:
        raise InputError(f"--max-people {a.max_people}: at most {MAX_PEOPLE}")
    if a.json:
        out_path(a.json, [a.estimator], ".json")
    import_mediapipe()
    probe(a.estimator, a.frames)  # a missing, corrupt or truncated video: one line, before any work
    res = run_estimator_bench(a.estimator, a.frames, a.max_people, not a.no_tiles, progress=not a.quiet)
    print(format_estimator_bench(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
        print(f"wrote {a.json}")
    return 0
