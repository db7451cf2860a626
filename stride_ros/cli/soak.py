# SPDX-License-Identifier: MIT
"""`stride-ros soak`: the node left running with N people and adaptation on; memory and coverage."""
from __future__ import annotations

import argparse

from ..model import BACKEND_KINDS
from .common import positive_float, positive_int

HELP = "run the node for a long time with N people (adaptation on) and report coverage and memory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--minutes", type=positive_float, default=60.0, help="length of the soak (default 60)")
    p.add_argument("--people", type=positive_int, default=4, help="people streamed at 30 Hz (default 4)")
    p.add_argument("--no-adapt", action="store_true", help="adaptation off (default on)")
    p.add_argument("--backend", choices=BACKEND_KINDS, default="onnx")
    p.add_argument("--sample-s", type=positive_float, default=10.0, help="seconds between memory samples (default 10)")
    p.add_argument("--out", default="stride_soak", help="folder for soak.json, the memory plot and the node log")


def run(a: argparse.Namespace) -> int:
    from ..ros.soak import run_soak
    run_soak(a.minutes, a.people, not a.no_adapt, a.out, a.backend, a.sample_s)
    return 0
