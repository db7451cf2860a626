# SPDX-License-Identifier: MIT
"""`stride-ros fit-zoo`: fit the estimator zoo's `blazepose` family to real cases (statistics only)."""
from __future__ import annotations

import argparse
import json

from .common import out_path

HELP = "fit the zoo's blazepose family to real estimator output (writes the statistics as JSON)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("real", nargs="?", default=None,
                   help="folder of real cases (default: $STRIDE_ROS_REAL)")
    p.add_argument("--motions", default="acting3,freestyle1",
                   help="motions to fit on (default acting3,freestyle1: freestyle2/3 stay unfitted as a check)")
    p.add_argument("-o", "--output", default=None, help="output .json (default: the packaged fit)")


def run(a: argparse.Namespace) -> int:
    from ..data.realdata import load_cases
    from ..data.zoo import FIT_PATH, fit_blazepose

    out = out_path(a.output or str(FIT_PATH), [], ".json")
    cases = load_cases(a.real, [m for m in a.motions.split(",") if m])
    fit = fit_blazepose(cases)
    out.write_text(json.dumps(fit, indent=1) + "\n")
    print(f"fitted on {len(cases)} cases ({a.motions}): raw MPJPE {fit['raw_mpjpe_mm']:.1f} mm, "
          f"gap rate {fit['gap_rate_per_frame']:.5f}/frame; wrote {out}")
    return 0
