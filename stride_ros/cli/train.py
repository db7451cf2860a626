# SPDX-License-Identifier: MIT
"""`stride-ros train`: pre-train (or fine-tune) the motion prior; resumable, validated as it goes."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import InputError
from .common import nonneg_float, nonneg_int, positive_float, positive_int

HELP = "pre-train the motion prior on the mocap training subjects"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="run folder (checkpoints, loss curve, history)")
    p.add_argument("--config", default="small", help="model configuration: small (default), tiny, paper")
    p.add_argument("--steps", type=positive_int, default=4000, help="optimiser steps (default 4000)")
    p.add_argument("--batch", type=positive_int, default=16, help="windows per step (default 16)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="peak learning rate (default 1e-3, cosine decay)")
    p.add_argument("--threads", type=positive_int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--epoch-steps", type=positive_int, default=250, help="validate and checkpoint every N steps")
    p.add_argument("--warmup", type=nonneg_int, default=200, help="learning-rate warm-up steps (default 200)")
    p.add_argument("--init", help="fine-tune this prior instead of starting from random weights")
    p.add_argument("--stream-window", type=nonneg_int, default=243,
                   help="frames per causal/ahead training sequence (default 243: a stream's trunk sees "
                        "far more than one window; 0: the model's window)")
    p.add_argument("--stream-batch", type=positive_int, default=6, help="sequences per causal/ahead step (default 6)")
    p.add_argument("--families", help="estimator families and their shares, e.g. sim=0.3,blazepose=0.25 "
                   "(default: the zoo mix in model/train.py FAMILY_MIX; a family left out is unseen)")
    p.add_argument("--canonical", action=argparse.BooleanOptionalAction, default=None,
                   help="per-track canonical frames (default: the configuration's; --no-canonical: the input's frame)")
    p.add_argument("--lead-weight", type=nonneg_float, default=0.5,
                   help="the forecast heads' share of the causal loss (default 0.5; 0: train the lag heads alone and "
                        "fit the forecast heads afterwards with --fit-leads, which keeps the shared causal trunk "
                        "for the lag-0 output)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", help="mocap folder (default: $STRIDE_ROS_DATA)")
    p.add_argument("--no-resume", action="store_true", help="start over even if the folder has a run")
    p.add_argument("--fit-leads", type=positive_int, metavar="WINDOWS", default=None,
                   help="instead of training: refit the forecast heads of --init by least squares on its frozen "
                   "causal trunk, from this many training windows (400 in the model card), into OUTPUT/prior.pt")
    p.add_argument("--quiet", action="store_true")


def parse_families(text: str | None) -> dict[str, float]:
    from ..data.zoo import FAMILIES
    from ..model.train import FAMILY_MIX
    if not text:
        return dict(FAMILY_MIX)
    try:
        fams = {k.strip(): float(v) for k, v in (item.split("=") for item in text.split(","))}
    except ValueError:
        raise InputError(f"--families {text!r}: expected name=share pairs, e.g. sim=0.5,lifting=0.5") from None
    unknown = set(fams) - set(FAMILIES)
    if unknown or not any(v > 0 for v in fams.values()) or any(v < 0 for v in fams.values()):
        raise InputError(f"--families: unknown {sorted(unknown) or 'none'}, known {', '.join(FAMILIES)}; "
                         "shares must be >= 0 with one above 0")
    return fams


def fit_leads(a: argparse.Namespace, families: dict) -> int:
    import torch

    from ..data.mocap import load_cached
    from ..model.checkpoint import load_checkpoint, load_model, save_checkpoint
    from ..model.train import TrainConfig, fit_lead_heads

    if not a.init:
        raise InputError("--fit-leads refits the forecast heads of a prior: give it with --init")
    model = load_model(a.init)
    if not model.cfg.max_lead:
        raise InputError(f"--init {a.init}: this prior has no forecast heads (max_lead 0)")
    torch.set_num_threads(a.threads)
    fit_lead_heads(model, load_cached(a.data, split="train", progress=not a.quiet), TrainConfig(families=families),
                   windows=a.fit_leads, progress=not a.quiet)
    out = Path(a.output) / "prior.pt"
    meta = dict(load_checkpoint(a.init).meta)
    meta["forecast_heads"] = f"refit by least squares on the frozen causal trunk ({a.fit_leads} training windows)"
    save_checkpoint(out, model, meta)
    print(f"forecast heads refit: {out}")
    return 0


def run(a: argparse.Namespace) -> int:
    from ..data.mocap import find_data_dir
    from ..model.dstformer import CONFIGS
    from ..model.train import TrainConfig, train

    if a.config not in CONFIGS:
        raise InputError(f"--config {a.config}: unknown configuration (known: {', '.join(CONFIGS)})")
    if a.init and not Path(a.init).is_file():
        raise InputError(f"--init {a.init}: no such model file")
    if a.init:
        from ..model.checkpoint import load_checkpoint
        load_checkpoint(a.init)  # a broken file fails now, not after the data is loaded
    families = parse_families(a.families)
    find_data_dir(a.data)  # a folder without the mocap is an error, never a silent fallback
    if a.fit_leads:
        return fit_leads(a, families)
    cfg = TrainConfig(model=a.config, steps=a.steps, batch=a.batch, lr=a.lr, threads=a.threads,
                      epoch_steps=a.epoch_steps, seed=a.seed, init=a.init, stream_window=a.stream_window,
                      stream_batch=a.stream_batch, warmup=a.warmup, families=families,
                      canonical=a.canonical, lead_weight=a.lead_weight)
    path = train(cfg, a.output, data_dir=a.data, resume=not a.no_resume, progress=not a.quiet)
    print(f"checkpoint: {path} (loss curve: {Path(a.output) / 'loss_curve.png'})")
    return 0
