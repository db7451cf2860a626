# SPDX-License-Identifier: MIT
"""The speed benchmark: per-frame latency of the streaming refiner, side by side with One Euro.

Frames are paced at the stream's real rate (30 Hz), as a camera delivers them, so a background
adaptation worker competes for the CPU exactly as it would on the robot. With adaptation "on",
bursts are scheduled back to back (interval 0): the worst case. Everything runs in one process and
one invocation, so the ratios between rows are measured under the same conditions.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..core.machine import machine
from ..core.representation import rezero
from ..core.timeseries import MODEL_FPS
from ..data.simulator import simulate
from ..data.synthetic import synthetic_walk
from ..model.backends import Backend
from ..model.dstformer import DSTformer
from ..stream.refiner import StreamConfig, StreamingRefiner
from ..stream.worker import ProcessWorker
from .baselines import OneEuroFilter, valid_mask


@dataclass
class Row:
    method: str
    backend: str
    people: int
    adaptation: bool
    p50_ms: float
    p99_ms: float
    max_ms: float
    frames: int
    bursts: int = 0
    burst_s: float = 0.0
    swaps: int = 0  # adapted weights the frame path actually took over
    lead_ms: float = 0.0  # forecast horizon published (0: none)
    mode: str = "ids"  # ids: people with trusted track ids; associated: without ids; floor: associated + a floor

    def line(self) -> str:
        adapt = "on" if self.adaptation else "off"
        extra = (f"  bursts {self.bursts} accepted, {self.swaps} swapped in (last {self.burst_s:.1f} s)"
                 if self.adaptation else "")
        if self.lead_ms:
            extra += f"  lead {self.lead_ms:g} ms"
        if self.mode != "ids":
            extra += f"  {self.mode}"
        return (f"{self.method:<10} {self.backend:<8} {self.people:>6} {adapt:>6} {self.p50_ms:8.2f} "
                f"{self.p99_ms:8.2f} {self.max_ms:8.2f}{extra}")


def make_streams(people: int, frames: int, seed: int = 0) -> list:
    sims = []
    for k in range(people):
        gt = synthetic_walk(seconds=frames / MODEL_FPS + 0.1, fps=MODEL_FPS, seed=seed + k)[:frames]
        sims.append(simulate(gt, MODEL_FPS, seed=100 + k))
    return sims


def run_stream(model: DSTformer, backend: Backend, sims: list, adapt: bool, lag: int, paced: bool = True,
               lead_ms: float = 0.0, mode: str = "ids") -> Row:
    """One paced run. mode: ids (each person with a trusted track id), associated (no ids: the refiner
    associates them every frame), floor (associated, with a floor and the camera's rays: contacts, grounding, as
    camera.launch.py runs it)."""
    from ..stream.association import Person
    cfg = StreamConfig(lag=lag, adapt=adapt, adapt_interval_s=0.0, lead_s=lead_ms / 1000, trust_ids=mode == "ids",
                       floor=sims[0].floor() if mode == "floor" else None, rays=mode == "floor")
    worker = ProcessWorker() if adapt else None
    r = StreamingRefiner(model, cfg, backend, worker)
    lat = []
    T = len(sims[0].gt)
    start = time.perf_counter()
    quiet = logging.getLogger("stride_ros.stream")  # a line per burst and track: the row reports their counts
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        for t in range(T):
            if paced:
                while time.perf_counter() < start + t / MODEL_FPS:
                    time.sleep(0.0005)
            seen = [(k, s) for k, s in enumerate(sims) if not np.isnan(s.poses[t]).all()]
            persons = ({k: (s.poses[t], s.confidence[t]) for k, s in seen} if mode == "ids" else
                       [Person(s.poses[t], s.confidence[t]) for _, s in seen])
            t0 = time.perf_counter()
            r.push(t / MODEL_FPS, persons)
            lat.append(time.perf_counter() - t0)
    finally:
        r.close()
        quiet.setLevel(level)
    lat_ms = np.array(lat[30:]) * 1000  # the first second warms caches and allocators
    return Row("stride", backend.kind, len(sims), adapt, float(np.percentile(lat_ms, 50)),
               float(np.percentile(lat_ms, 99)), float(lat_ms.max()), len(lat_ms),
               worker.accepted if worker else 0, worker.last_seconds if worker else 0.0, r.swaps, lead_ms, mode)


def run_one_euro(sims: list) -> Row:
    filters = [OneEuroFilter(fps=MODEL_FPS) for _ in sims]
    lat = []
    for t in range(len(sims[0].gt)):
        t0 = time.perf_counter()
        for f, s in zip(filters, sims):
            valid = valid_mask(s.poses[t:t + 1], s.confidence[t:t + 1], f.p.threshold)[0]
            f.update(s.poses[t].astype(np.float64), valid)
        lat.append(time.perf_counter() - t0)
    ms = np.array(lat[30:]) * 1000
    return Row("one_euro", "numpy", len(sims), False, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)),
               float(ms.max()), len(ms))


def component_times(model: DSTformer, backend_kind: str) -> dict:
    """Isolated costs: one cached step, one full window, one adaptation step (fwd+bwd)."""
    from ..offline.adapt import AdaptConfig, stride_loss
    W = model.cfg.window
    x = torch.randn(1, W, 17, 4) * 0.2
    res = {}
    xs = np.random.default_rng(0).normal(0, 0.2, (200, 1, 17, 4)).astype(np.float32)
    for ahead in (False, True) if model.cfg.lookahead else (False,):
        runner = Backend(backend_kind).runner(model, ahead=ahead)
        state = runner.empty_state()
        ts = []
        for i in range(200):
            t0 = time.perf_counter()
            _, state = runner.step(xs[i], state)
            ts.append(time.perf_counter() - t0)
        res["ahead_step_ms_p50" if ahead else "step_ms_p50"] = float(np.median(ts[20:]) * 1000)
    with torch.no_grad():
        model(x)
        t0 = time.perf_counter()
        for _ in range(5):
            model(x)
        res["window_ms"] = (time.perf_counter() - t0) / 5 * 1000
    m = DSTformer(model.cfg)
    m.load_state_dict(model.state_dict())
    opt = torch.optim.AdamW(m.parameters(), lr=2e-4)
    xb = torch.randn(4, W, 17, 4) * 0.2
    q = torch.randn(4, W, 17, 3) * 0.2
    w = torch.ones(4, W, 17)
    cfg = AdaptConfig()
    tt = []
    for _ in range(4):
        t0 = time.perf_counter()
        out = m(xb, causal=True)[..., 0, :]
        loss = stride_loss(rezero(out), q, w, cfg)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tt.append(time.perf_counter() - t0)
    res["adapt_step_ms_batch4"] = float(np.median(tt[1:]) * 1000)
    return res


def run_bench(model: DSTformer, backends: list[str], people: list[int], frames: int, lag: int, device: str,
              progress: bool = True, lead_ms: float = 0.0, modes: tuple[str, ...] = ("ids",),
              adapt: tuple[bool, ...] = (False, True)) -> dict:
    """Every backend x people count, adaptation off and on; with a lead, each run also with it (so the
    lead's cost is a ratio measured side by side)."""
    torch.set_num_threads(1)
    rows: list[Row] = []
    leads = (0.0, lead_ms) if lead_ms else (0.0,)
    combos = [(b, p, a, ld, m) for b in backends for p in people for a in adapt for ld in leads for m in modes]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(combos) + len(people), desc="benchmark", unit="run")
    for p in people:
        rows.append(run_one_euro(make_streams(p, frames)))
        if bar:
            bar.update()
    comps = {}
    for b, p, a, ld, m in combos:
        backend = Backend(b, device)
        rows.append(run_stream(model, backend, make_streams(p, frames), a, lag, lead_ms=ld, mode=m))
        if bar:
            bar.update()
    for b in backends:
        comps[b] = component_times(model, b)
    if bar:
        bar.close()
    return {"machine": machine(), "lag": lag, "frames": frames, "model": model.cfg.to_dict(),
            "params_m": model.num_params() / 1e6, "rows": [r.__dict__ for r in rows], "components": comps}


def format_bench(res: dict) -> str:
    lines = [f"machine: {res['machine']}",
             f"model: dim {res['model']['dim']}, depth {res['model']['depth']}, window {res['model']['window']} "
             f"({res['params_m']:.2f} M params); lag {res['lag']}; {res['frames']} frames at 30 Hz, paced",
             f"{'method':<10} {'backend':<8} {'people':>6} {'adapt':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
    one_euro = {r["people"]: r for r in res["rows"] if r["method"] == "one_euro"}
    for r in res["rows"]:
        row = Row(**r)
        ratio = ""
        if r["method"] != "one_euro" and r["people"] in one_euro:
            ratio = f"  x{r['p99_ms'] / max(one_euro[r['people']]['p99_ms'], 1e-6):.0f} One Euro's p99"
        lines.append(row.line() + ratio)
    for b, c in res["components"].items():
        ahead = f" (ahead trunk {c['ahead_step_ms_p50']:.2f} ms)" if "ahead_step_ms_p50" in c else ""
        lines.append(f"{b}: cached step {c['step_ms_p50']:.2f} ms{ahead}, full {res['model']['window']}-frame window "
                     f"{c['window_ms']:.1f} ms (torch), adaptation step (batch 4) {c['adapt_step_ms_batch4']:.0f} ms")
    return "\n".join(lines)


def save(res: dict, path: str) -> None:
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
