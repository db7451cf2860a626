# SPDX-License-Identifier: MIT
"""`stride-ros tune-baselines`: the baselines' parameters, grid-searched on the training subjects."""
from __future__ import annotations

import argparse

HELP = "grid-search baseline parameters on the training subjects"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true")


def run(a: argparse.Namespace) -> int:
    from ..eval.tune import tune

    for name, (params, score) in tune(progress=not a.quiet).items():
        print(f"{name:<14} MPJPE + Abs + Accel {score:6.1f} on training subjects with {params}")
    return 0
