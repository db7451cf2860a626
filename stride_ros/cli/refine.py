# SPDX-License-Identifier: MIT
"""`stride-ros refine`: one pose sequence, offline (the whole clip) or streamed exactly as the node runs."""
from __future__ import annotations

import argparse

import numpy as np

from ..core.errors import InputError
from .common import add_model_args, check_lag, load_model, make_backend, nonneg_float, nonneg_int, out_path

HELP = "refine one pose sequence (offline STRIDE, or streamed as the node does)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="input .npz pose sequence")
    p.add_argument("-o", "--output", required=True, help="output .npz (never the input)")
    p.add_argument("--mode", choices=["offline", "stream"], default="offline")
    p.add_argument("--lag", type=nonneg_int, default=None, help="stream: output lag in frames (default 0 = causal)")
    p.add_argument("--lead-ms", type=nonneg_float, default=0.0,
                   help="stream: publish each frame's pose forecast this far ahead, stamped with that time "
                   "(latency compensation; 0 = off; at most the prior's horizon)")
    p.add_argument("--tta-steps", type=nonneg_int, default=None,
                   help="offline: adaptation epochs (default 0 = the prior alone, the measured best: README, "
                   "Adaptation; the paper used 30); stream: epochs per background burst (default: no "
                   "adaptation; N > 0 turns it on)")
    add_model_args(p, device=True, backend=True)


def run(a: argparse.Namespace) -> int:
    from ..data.posefile import PoseSequence, load_poses, save_poses
    from ..offline.adapt import AdaptConfig, refine_offline
    from ..stream.refiner import StreamConfig
    from ..stream.sequence import stream_sequence

    if a.mode == "offline" and a.lag is not None:
        raise InputError("--lag applies to --mode stream (offline refinement sees the whole clip)")
    if a.mode == "offline" and a.lead_ms:
        raise InputError("--lead-ms applies to --mode stream (a forecast from the frames seen so far)")
    if a.mode == "offline" and a.backend not in ("auto", "torch"):
        raise InputError("--mode offline runs on the torch backend (it trains the model)")
    out = out_path(a.output, [a.input], ".npz")
    seq = load_poses(a.input)
    if np.isnan(seq.poses).all():
        raise InputError(f"{a.input}: every joint of every frame is missing: nothing to refine")
    model = load_model(a.model, a.device, threads=None if a.mode == "offline" else 1)
    if a.mode == "offline":
        res = refine_offline(model, seq.poses, seq.confidence_or_default(), seq.fps,
                             AdaptConfig(epochs=a.tta_steps or 0))
        poses, conf = res.poses, None
        print(f"offline: {len(seq)} frames, adaptation: {res.reason} ({res.seconds:.1f} s)")
    else:
        lag = a.lag or 0
        check_lag(model, lag)
        lead_s = a.lead_ms / 1000
        horizon = model.cfg.max_lead / seq.fps
        if lead_s > horizon + 1e-9:
            raise InputError(f"--lead-ms {a.lead_ms:g}: beyond the prior's horizon ({horizon * 1000:.0f} ms at "
                             f"{seq.fps:g} fps)" if horizon else "--lead-ms: this prior has no forecast heads")
        backend = make_backend(a.backend, a.device)
        cfg = StreamConfig(lag=lag, fps=seq.fps, lead_s=lead_s)
        if a.tta_steps is not None:
            cfg = StreamConfig(lag=lag, fps=seq.fps, lead_s=lead_s, adapt=a.tta_steps > 0,
                               adapt_epochs=max(1, a.tta_steps))
        try:
            poses, conf, status = stream_sequence(model, seq, cfg, backend)
        except ValueError as e:  # a configuration the refiner refuses (e.g. a lead with the ahead trunk)
            raise InputError(str(e)) from None
        print(f"stream: {len(seq)} frames at lag {lag}{f', lead {a.lead_ms:g} ms' if lead_s else ''}, "
              f"backend {backend.kind}; {status['worker']}; dropped {status['dropped'] or 'none'}")
    stamps = seq.stamps
    if a.mode == "stream" and a.lead_ms:  # each row describes its frame's time + lead
        stamps = seq.stamps_or_default() + a.lead_ms / 1000
    save_poses(out, PoseSequence(poses, seq.fps, conf, stamps), protect=(a.input,))
    print(f"wrote {out}")
    return 0
