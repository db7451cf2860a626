# SPDX-License-Identifier: MIT
"""Grid-search the baselines' parameters on the training subjects (never on validation).

Objective: MPJPE + absolute position error + acceleration error (all in mm, equal weights), over all
frames of the simulated training streams (seed 1, not the evaluation seed). A robot needs the pose,
where the person is, and a signal smooth enough to act on: tuned on MPJPE alone One Euro became a
0.3 Hz low-pass that lags the person by half a metre; tuned on MPJPE + Abs it stopped filtering.
The winners are written into baselines.py by hand, with this command beside them,
so evaluation never depends on a tuning run.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..data.simulator import clip_seed, simulate
from . import metrics
from .baselines import OneEuroParams, hold_last, linear_interpolation, one_euro, savitzky_golay
from .benchmark import EVAL_FPS, clips_from_split

THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
GRIDS = {
    "hold_last": [dict(threshold=t) for t in THRESHOLDS],
    "linear_interp": [dict(threshold=t) for t in THRESHOLDS],
    "one_euro": [dict(params=OneEuroParams(mc, b, 1.0, t)) for mc, b, t in
                 itertools.product((0.1, 0.3, 0.5, 1.0, 2.0, 4.0, 8.0), (0.0, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
                                   (0.3, 0.4, 0.5, 0.6))],
    "savgol": [dict(window_s=w, order=o, threshold=t) for w, o, t in
               itertools.product((0.2, 0.3, 0.5, 0.7, 1.0), (1, 2, 3), THRESHOLDS)],
}
FUNCS = {"hold_last": hold_last, "linear_interp": linear_interpolation, "one_euro": one_euro,
         "savgol": savitzky_golay}


def tune(max_seconds_per_clip: float = 40.0, seed: int = 1, progress: bool = True) -> dict[str, tuple[dict, float]]:
    clips = clips_from_split("train")
    n = int(max_seconds_per_clip * EVAL_FPS)
    sims = [simulate(c.gt[:n], EVAL_FPS, clip_seed(seed, c.name)) for c in clips]
    best = {}
    total = sum(len(g) for g in GRIDS.values())
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="tuning baselines", unit="setting")
    for name, grid in GRIDS.items():
        scores = []
        for kw in grid:
            errs = []
            for s in sims:
                out = FUNCS[name](s.poses, s.confidence, EVAL_FPS, **kw)
                errs.append(metrics.mpjpe_per_frame(out, s.gt).mean() + metrics.abs_error_per_frame(out, s.gt).mean()
                            + np.nanmean(metrics.accel_error_per_frame(out, s.gt)))
            scores.append(float(np.mean(errs)))
            if bar:
                bar.update()
        k = int(np.argmin(scores))
        best[name] = (grid[k], scores[k])
    if bar:
        bar.close()
    return best
