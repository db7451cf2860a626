# SPDX-License-Identifier: MIT
"""`stride-ros evaluate --chain`: where the person is, in metres, on real video (eval/chain.py).

The camera chain end to end on landmarks files with absolute truth: placement without and with the
floor, two independent reference placements, the streaming refiner with and without the floor,
offline; per case and pooled, and a plot of one case's distance over time against the truth.
"""
from __future__ import annotations

import argparse

from ..core.errors import InputError
from .common import out_path


def add_chain_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chain", nargs="?", const="", default=None, metavar="DIR",
                   help="score the camera chain on real landmarks files with absolute truth (DIR of "
                   "<case>.in.npz/.gt.npz; default: $STRIDE_ROS_CHAIN)")
    p.add_argument("--rows", default=None,
                   help="with --chain: comma list of rows (default: placement,pnp,pnp_floor,placement_floor,"
                   "stream_lag0_nofloor[_blend],stream_lag0[_blend],stream_lag8[_blend],offline; "
                   "also stream_lagN[_nofloor][_pelvis][_blend], offline_pelvis)")


def run_chain_cli(a: argparse.Namespace) -> int:
    from ..data.chaindata import load_chain_cases
    from ..eval.chain import ROWS_DEFAULT, build_rows, format_chain, format_per_case, plot_distance, run_chain

    if a.inputs:
        raise InputError("--chain evaluates the chain cases; give no motion files with it")
    if a.real is not None or a.family != "sim":
        raise InputError("--chain is its own benchmark: drop --real/--family")
    if a.plot:
        out_path(a.plot, [], ".png")
    if a.json:
        out_path(a.json, [], ".json")
    names = [n.strip() for n in (a.rows or ",".join(ROWS_DEFAULT)).split(",") if n.strip()]
    build_rows(names, None)  # names checked before any case is loaded
    cases = load_chain_cases(a.chain or None, [m for m in (a.motions or "").split(",") if m] or None)
    if a.max_clips:
        cases = cases[: a.max_clips]
    keep = a.plot_clip or cases[0].name
    if keep not in {c.name for c in cases}:
        raise InputError(f"--plot-clip {keep}: no such case (have e.g. {cases[0].name})")
    rep, traces = run_chain(cases, names, a.model, jobs=a.jobs, keep=keep if a.plot else None,
                            progress=not a.quiet)
    print(format_chain(rep))
    print()
    print(format_per_case(rep, [n for n in ("placement_floor", "stream_lag0", "stream_lag0_blend", "stream_lag8")
                                                if n in names]
                          or names[-3:]))
    if a.json:
        import json
        from pathlib import Path
        Path(a.json).write_text(json.dumps(rep.to_json(), indent=1))
        print(f"wrote {a.json}")
    if a.plot:
        shown = ("placement", "pnp_floor", "placement_floor", "stream_lag0", "stream_lag0_blend", "stream_lag0_nofloor")
        plot_distance(traces, a.plot, [n for n in names if n in shown])
        print(f"wrote {a.plot}")
    return 0
