# SPDX-License-Identifier: MIT
"""The benchmark's rows: baselines and the model-based methods, built from a comma list.

Model rows:
- `prior`: the prior alone, offline, overlapping windows blended (tta 0).
- `tta:mpjp`, `tta:+vel`, `tta:+limb`, `tta:paper`: STRIDE's ablation, loss by loss, as published
  (full-weight pseudo-labels, non-overlapping chunks); `tta:paper` is the whole published method.
- `tta:+conf`, `tta:+gate`, `tta:+overlap`: the paper plus confidence-weighted targets, then the
  residual gate, then rolling/overlapping blended windows; `tta:+top2` then adapts only the top two
  layers and the head (the speed change: no backward pass through the frozen bottom).
- `stride`: all of that plus the divergence guard and the held-out check (adaptation kept only where it predicts hidden
  frames better than the prior): the shipped offline method.
- `window_lagN`: every frame from its own full bidirectional window ending N frames later: the
  accuracy a lag-N refiner could reach with this model at one whole window per frame (a bound,
  too slow to stream).
- `leadN`, `leadN_hold`, `leadN_cv_one_euro`, `leadN_cv_lag0` (N in ms): forecasts N ms ahead,
  scored at the time they describe (eval/leads.py); group `leads`: N = 100, 200, 300, 500.
- `adapt:*` (group `adaptation`): adaptation objectives that cannot copy the estimator's noise,
  one change per row (offline/adapt.py: masked spans, LayerNorm/embedding-only, the held-out check).
- `stream_lagN`: the streaming refiner at lag N with background adaptation (inline, deterministic);
  `stream_lagN_prior`: the same without adaptation; `stream_lagN_distill` / `_masked`: bursts that
  fit the model's own offline pass / hidden spans instead of the estimator's poses; `stream_lagN_body`:
  no adaptation, each person's bone lengths imposed (core/body.py). `stream_lagN_causal[_prior]` and
  `stream_lagN_ahead[_prior]` force the trunk (the model's `ahead_from` picks it otherwise): how the
  shipped choice per lag is measured.
"""
from __future__ import annotations

import re
from dataclasses import replace
from functools import partial

from ..core.errors import InputError
from ..offline.adapt import AdaptConfig, refine_offline
from ..stream.refiner import StreamConfig, StreamingRefiner
from .baselines import BASELINES
from .leads import LEADS_MS, VARIANTS, lead_row

ABLATION = {
    "tta:mpjp": lambda n: AdaptConfig.paper(epochs=n, w_vel=0.0, w_limb=0.0, w_nmpjp=0.0),
    "tta:+vel": lambda n: AdaptConfig.paper(epochs=n, w_limb=0.0, w_nmpjp=0.0),
    "tta:+limb": lambda n: AdaptConfig.paper(epochs=n, w_nmpjp=0.0),
    "tta:paper": lambda n: AdaptConfig.paper(epochs=n),
    "tta:+conf": lambda n: replace(AdaptConfig.paper(epochs=n), confidence=True),
    "tta:+gate": lambda n: AdaptConfig(epochs=n, overlap=False, holdout_share=0.0, guard=False,
                                       adapt_layers=None),
    "tta:+overlap": lambda n: AdaptConfig(epochs=n, holdout_share=0.0, guard=False, adapt_layers=None),
    "tta:+top2": lambda n: AdaptConfig(epochs=n, holdout_share=0.0, guard=False),
    "stride": lambda n: AdaptConfig(epochs=n),
}

# adaptation that cannot copy the estimator's noise (offline rows; docs/results.md, Adaptation): one change
# per row against `prior`, the shipped STRIDE procedure `stride` as the reference
ADAPTATION = {
    "adapt:stride-unchecked": lambda n: AdaptConfig(epochs=n, holdout_share=0.0, guard=False),
    "adapt:masked": lambda n: AdaptConfig(epochs=n, objective="masked", holdout_share=0.0, guard=False),
    "adapt:masked+norms": lambda n: AdaptConfig(epochs=n, objective="masked", params="norms", holdout_share=0.0,
                                                guard=False),
    "adapt:masked+checked": lambda n: AdaptConfig(epochs=n, objective="masked"),
}

GROUPS = {
    "baselines": list(BASELINES),
    "leads": [f"lead{ms}{v}" for ms in LEADS_MS for v in VARIANTS],
    "ablation": ["prior", *ABLATION],
    "adaptation": ["prior", "stride", *ADAPTATION, "stream_lag{lag}_prior", "stream_lag{lag}",
                   "stream_lag{lag}_distill", "stream_lag{lag}_masked", "stream_lag{lag}_body"],
    "stream": ["stream_lag{lag}_prior", "stream_lag{lag}"],
    "all": list(BASELINES) + ["prior", "stride", "stream_lag{lag}"],
}


def _expand(spec: str, lags: list[int]) -> list[str]:
    names: list[str] = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        for name in GROUPS.get(item, [item]):
            names += [name.format(lag=k) for k in lags] if "{lag}" in name else [name]
    return list(dict.fromkeys(names))


def build_methods(spec: str, model: str | None = None, tta_steps: int = 30, lags: str = "0,8",
                  device: str = "cpu") -> dict:
    try:
        lag_list = [int(k) for k in lags.split(",") if k.strip()]
    except ValueError:
        raise InputError(f"--lags {lags!r}: expected a comma list of integers") from None
    methods = {}
    prior = None
    for name in _expand(spec, lag_list):
        if name in BASELINES:
            methods[name] = BASELINES[name]
            continue
        if prior is None:
            from ..model.checkpoint import load_model
            prior = load_model(model).to(device)
        ld = re.fullmatch(r"lead(\d+)(_hold|_cv_one_euro|_cv_lag0)?", name)
        if ld:
            if not prior.cfg.max_lead and not ld.group(2):
                raise InputError(f"{name}: this prior has no forecast heads (max_lead 0)")
            methods[name] = partial(lead_row, prior, ld.group(2) or "", float(ld.group(1)))
            continue
        m = re.fullmatch(r"stream_lag(\d+)(_causal|_ahead)?(_prior|_distill|_masked|_stride|_body|_blend)?(_floor)?",
                         name)
        wl = re.fullmatch(r"window_lag(\d+)", name)
        if name == "prior":
            methods[name] = partial(_offline, prior, AdaptConfig(epochs=0))
        elif name in ABLATION:
            methods[name] = partial(_offline, prior, ABLATION[name](tta_steps))
        elif name in ADAPTATION:
            methods[name] = partial(_offline, prior, ADAPTATION[name](tta_steps))
        elif wl:
            methods[name] = partial(_window_lag, prior, int(wl.group(1)))
        elif m:
            lag = int(m.group(1))
            if lag > prior.cfg.max_stream_lag:
                raise InputError(f"{name}: the model streams lags 0..{prior.cfg.max_stream_lag}")
            trunk = m.group(2)[1:] if m.group(2) else "auto"
            try:  # the trunk is plain configuration of the stream: checked here, before any clip runs
                StreamingRefiner.stream_head(prior, StreamConfig(lag=lag, trunk=trunk))
            except ValueError as e:
                raise InputError(f"{name}: {e}") from None
            how = (m.group(3) or "_stride")[1:]
            methods[name] = partial(_stream, prior, lag, how not in ("prior", "body"), trunk,
                                    "stride" if how in ("prior", "body", "blend") else how, how == "body",
                                    params="blend" if how == "blend" else "top")
            methods[name].wants_floor = bool(m.group(4))  # the case's floor (a simulated camera's mounting)
        else:
            known = list(BASELINES) + ["prior", *ABLATION, *ADAPTATION, "window_lagN",
                                       "stream_lagN[_causal|_ahead][_prior|_distill|_masked|_body|_blend][_floor]",
                                       "leadN[_hold|_cv_one_euro|_cv_lag0]"]
            raise InputError(f"unknown method {name!r} (known: {', '.join(known)}; groups: {', '.join(GROUPS)})")
    return methods


def _offline(model, cfg: AdaptConfig, poses, confidence, fps):
    return refine_offline(model, poses, confidence, fps, cfg).poses


def _window_lag(model, lag: int, poses, confidence, fps):
    from ..offline.windows import refine_window_lag
    return refine_window_lag(model, poses, confidence, fps, lag)


def _stream(model, lag: int, adapt: bool, trunk: str, objective: str, body: bool, poses, confidence, fps,
            floor=None, params: str = "top"):
    from ..data.posefile import PoseSequence
    from ..stream.sequence import stream_sequence
    cfg = StreamConfig(lag=lag, fps=fps, adapt=adapt, trunk=trunk, adapt_objective=objective, body_model=body,
                       floor=floor, adapt_params=params)
    out, _, _ = stream_sequence(model, PoseSequence(poses, fps, confidence), cfg)
    return out
