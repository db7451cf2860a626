# SPDX-License-Identifier: MIT
"""Pre-training the motion prior: masked denoising of simulated estimator output on real motion.

Each sample is a window of real CMU motion, augmented for what the data lacks (one retargeted
1.6 m body: random global scale, per-bone lengths and wider hips; mirroring; playback speed;
any heading and camera placement), pushed through the estimator simulator with randomised
severity (long full occlusions, low-confidence garbage, swaps, outliers, partial occlusion), then
STRIDE's BERT-style masks (10 % of frames, 5 % of joints) and small Gaussian noise. The target is
the clean pelvis-relative pose; loss = position + 20 x velocity (the STRIDE paper). Steps cycle through
the model's modes: full window (offline), causal (every lag head), ahead (the heads it publishes).

The streaming modes train on sequences of `stream_window` frames: a stream's trunk has seen far
more than one window (each layer looks W frames back over the layer below), and a trunk trained
on single windows was measured 6 % worse at lag 8 (14 % on occluded frames) once its history grew
beyond them. `init` fine-tunes an existing prior instead of starting from scratch.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..core.errors import InputError
from ..core.representation import encode_track, frame_reference, rezero, usable
from ..core.skeleton import MIRROR, rescale_bones
from ..core.timeseries import MODEL_FPS
from ..data import zoo
from ..data.mocap import CACHE_FPS, load_cached
from .checkpoint import load_checkpoint, save_checkpoint
from .dstformer import CONFIGS, DSTformer, ModelConfig

TRAIN_FPS = MODEL_FPS


@dataclass
class TrainConfig:
    model: str = "small"
    steps: int = 4000
    batch: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 200
    epoch_steps: int = 250  # validation and checkpoint cadence
    velocity_weight: float = 20.0
    frame_mask: float = 0.10
    joint_mask: float = 0.05
    salsa_share: float = 0.25  # salsa is half the minutes: cap its share of samples
    threads: int = 2
    seed: int = 0
    val_windows: int = 192
    stream_window: int = 0  # frames per causal/ahead training sequence (0: the model's window)
    stream_batch: int = 0  # sequences per causal/ahead step (0: batch)
    val_stream_windows: int = 64  # clip-long validation sequences, streamed from a cold start
    init: str | None = None  # checkpoint to fine-tune (a prior without ahead mode gets it added)
    # estimator families (zoo.py) and their share of training samples; the validation families
    # are scored every epoch (a family left out here is unseen: leave-one-family-out runs)
    families: dict = field(default_factory=lambda: dict(FAMILY_MIX))
    val_families: tuple = ("sim", "blazepose")
    root_free_share: float = 0.15  # samples given pelvis-relative, as hip-centred estimators publish
    lead_weight: float = 0.5  # forecast heads' share of the causal loss (lag heads: 1)
    max_lead: int | None = None  # forecast heads (frames); None: the configuration's
    canonical: bool | None = None  # per-track canonical frames (canonical.py); None: the configuration's
    extra: dict = field(default_factory=dict)


# the training mix: the original simulator keeps the largest share (the in-domain table may not get
# worse), the family fitted to real BlazePose output the next (real estimators are the measure)
FAMILY_MIX = {"sim": 0.3, "blazepose": 0.25, "lifting": 0.15, "uncalibrated": 0.15, "hfr_drops": 0.15}


# ---------------------------------------------------------------------------------------------
# augmentation and corruption

def augment_body(poses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random body: global scale, symmetric per-bone lengths, wider hips (H36M-like), mirroring."""
    per_side = rng.uniform(0.9, 1.1, size=8)
    # bone order: r-hip r-thigh r-shank l-hip l-thigh l-shank spine... (see skeleton.BONES)
    f = np.array([per_side[0], per_side[1], per_side[2], per_side[0], per_side[1], per_side[2],
                  per_side[3], per_side[4], per_side[5], per_side[5],
                  per_side[6], per_side[7], per_side[7], per_side[6], per_side[7], per_side[7]])
    f[[0, 3]] *= rng.uniform(1.0, 1.6)  # CMU hip joints are narrower than H36M's
    out = rescale_bones(poses, f)
    root = out[:, :1]
    out = root + rng.uniform(0.85, 1.15) * (out - root)
    floor = out[:, [3, 6], 1].min()
    out[..., 1] -= floor - poses[:, [3, 6], 1].min()  # keep the feet on the floor
    if rng.random() < 0.5:
        out = out[:, MIRROR] * np.array([-1.0, 1.0, 1.0], dtype=np.float32)
    return out.astype(np.float32)


class WindowSampler:
    """Random training windows at TRAIN_FPS from the cached 60 fps clips."""

    def __init__(self, clips: dict[str, tuple[np.ndarray, object]], T: int, salsa_share: float):
        self.T = T
        need = 2 * 1.3 * T + 2  # a window at the slowest resampling, from 60 fps
        self.clips = [p for p, _ in clips.values() if len(p) >= need]
        if not self.clips:
            longest = max((len(p) for p, _ in clips.values()), default=0) / CACHE_FPS
            raise InputError(f"no motion-capture clip is long enough to train on: a window needs "
                             f"{need / CACHE_FPS:.1f} s of one, the longest is {longest:.1f} s")
        salsa = np.array(["salsa" in k for k, (p, _) in clips.items() if len(p) >= need])
        w = np.array([len(p) for p in self.clips], dtype=float)
        if salsa.any() and (~salsa).any():
            w[salsa] *= salsa_share / w[salsa].sum()
            w[~salsa] *= (1 - salsa_share) / w[~salsa].sum()
        self.p = w / w.sum()

    def sample(self, rng: np.random.Generator, speed_range=(0.8, 1.25), fps: float = TRAIN_FPS) -> np.ndarray:
        clip = self.clips[rng.choice(len(self.clips), p=self.p)]
        step = (CACHE_FPS / fps) * rng.uniform(*speed_range)
        span = step * (self.T - 1)
        start = rng.uniform(0, len(clip) - 1 - span)
        t = start + step * np.arange(self.T)
        i0 = np.floor(t).astype(int)
        w = (t - i0)[:, None, None].astype(np.float32)
        return (1 - w) * clip[i0] + w * clip[np.minimum(i0 + 1, len(clip) - 1)]


@dataclass
class Sample:
    x: np.ndarray  # [T, 17, 4] model input
    target: np.ndarray  # [T, 17, 3] pelvis-relative truth, each frame in its own canonical frame
    occluded: np.ndarray  # [T] bool
    lead: np.ndarray  # [T, F, 17, 3]: frame t + h in frame t's canonical frame (zeros past the end)


def corrupt(gt_world: np.ndarray, rng: np.random.Generator, cfg: TrainConfig, family: str, fps: float,
            mcfg: ModelConfig, train: bool = True) -> Sample:
    """World window -> one training sample through estimator family `family` (zoo.py)."""
    sim = zoo.corrupt(family, gt_world, fps, rng, train=train)
    poses, conf = sim.poses.copy(), sim.confidence.copy()
    T = len(poses)
    if train and rng.random() < cfg.root_free_share:  # a hip-centred estimator: no absolute position
        present, _ = usable(poses, conf)
        poses = poses - frame_reference(poses, present)[:, None].astype(np.float32)
    drop = np.zeros((T, 17), bool)
    drop[rng.random(T) < cfg.frame_mask] = True
    drop |= rng.random((T, 17)) < cfg.joint_mask
    poses[drop] = np.nan
    conf[drop] = 0.0
    poses = poses + rng.normal(0, 0.002, poses.shape).astype(np.float32)
    x, _, rot = encode_track(poses, conf, mcfg.canonical, fps)
    rel = (sim.gt - sim.gt[:, :1]).astype(np.float64)
    target = rel if rot is None else np.einsum("tij,tkj->tki", rot, rel)
    lead = np.zeros((T, mcfg.max_lead, 17, 3), np.float32)
    for h in range(1, mcfg.max_lead + 1):
        fut = rel[h:]
        lead[: T - h, h - 1] = fut if rot is None else np.einsum("tij,tkj->tki", rot[: T - h], fut)
    return Sample(x, target.astype(np.float32), sim.occluded_frames | drop.all(-1), lead)


def pick_family(rng: np.random.Generator, cfg: TrainConfig) -> str:
    names = [n for n, w in cfg.families.items() if w > 0]
    w = np.array([cfg.families[n] for n in names], float)
    return names[rng.choice(len(names), p=w / w.sum())]


def make_batch(sampler: WindowSampler, rng: np.random.Generator, cfg: TrainConfig, B: int, mcfg: ModelConfig):
    items = []
    for _ in range(B):
        fam = pick_family(rng, cfg)
        fps = zoo.FAMILIES[fam].fps
        items.append(corrupt(augment_body(sampler.sample(rng, fps=fps), rng), rng, cfg, fam, fps, mcfg))
    return stack(items)


def stack(items: list[Sample]) -> tuple[torch.Tensor, ...]:
    keys = ("x", "target", "occluded", "lead")
    return tuple(torch.from_numpy(np.stack([getattr(s, k) for s in items])) for k in keys)


# ---------------------------------------------------------------------------------------------
# loss

def head_predictions(out: torch.Tensor, head: int, lag: int) -> torch.Tensor:
    """Pelvis-relative predictions of `head` that publish lag `lag`, aligned to frames 0..T-1-lag."""
    return rezero(out[..., head, :])[:, head: head + out.shape[1] - lag]


def position_velocity_loss(pred: torch.Tensor, target: torch.Tensor, vel_w: float) -> torch.Tensor:
    pos = (pred - target).norm(dim=-1).mean()
    vel = ((pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])).norm(dim=-1).mean()
    return pos + vel_w * vel


def mode_heads(cfg: ModelConfig, mode: str) -> list[tuple[int, int]]:
    """(head, lag it publishes) trained in each mode: full uses head 0; causal and ahead every head
    (the ahead trunk's head k publishes lag depth x lookahead + k: all the lags a stream may ask for)."""
    if mode == "full":
        return [(0, 0)]
    if mode == "causal":
        return [(k, k) for k in range(cfg.max_lag + 1)]
    return [(k, cfg.ahead_delay + k) for k in range(cfg.max_lag + 1)]


def lead_predictions(out: torch.Tensor, cfg: ModelConfig, lead: int) -> torch.Tensor:
    """Pelvis-relative forecasts `lead` frames ahead from every row that has a future: [B, T - lead, J, 3]."""
    return rezero(out[..., cfg.lead_head(lead), :])[:, : out.shape[1] - lead]


def mode_loss(model: DSTformer, x: torch.Tensor, target: torch.Tensor, mode: str, vel_w: float,
              lead: torch.Tensor | None = None, lead_weight: float = 0.5) -> torch.Tensor:
    """Mean over the mode's lag heads; in causal mode plus `lead_weight` x the mean over forecast heads."""
    out = model(x, causal=mode != "full", ahead=mode == "ahead")
    T = target.shape[1]
    losses = [position_velocity_loss(head_predictions(out, k, lag), target[:, : T - lag], vel_w)
              for k, lag in mode_heads(model.cfg, mode)]
    loss = torch.stack(losses).mean()
    F = model.cfg.max_lead
    if mode == "causal" and F and lead is not None and lead_weight > 0:
        fl = [position_velocity_loss(lead_predictions(out, model.cfg, h), lead[:, : T - h, h - 1], vel_w)
              for h in range(1, F + 1)]
        loss = loss + lead_weight * torch.stack(fl).mean()
    return loss


def modes_of(cfg: ModelConfig) -> list[str]:
    return ["full", "causal"] + (["ahead"] if cfg.lookahead else [])


# ---------------------------------------------------------------------------------------------
# validation

def _mpjpe(pred: torch.Tensor, target: torch.Tensor, occ: torch.Tensor) -> tuple[float, float]:
    """MPJPE (mm) over all and occluded frames."""
    err = (pred - target[:, : pred.shape[1]]).norm(dim=-1).mean(-1) * 1000  # [B, T']
    o = occ[:, : pred.shape[1]]
    return float(err.mean()), (float(err[o].mean()) if o.any() else float("nan"))


@torch.no_grad()
def validate(model: DSTformer, val: dict, val_stream: dict | None = None, lags=(0, 8),
             leads=(6, 15)) -> dict[str, float]:
    """Pelvis-relative MPJPE (mm), all / occluded frames, per validation family (`sim` keeps the
    historical key names): full mode and the causal lag heads on single windows (`full`,
    `causal_lagK`), forecasts (`lead{H}`, frames ahead of the newest); and what a stream publishes at
    each lag (`stream_lagK`), scored on every frame of clip-long sequences from a cold start, as
    `stride-ros evaluate` scores whole clips (scoring only the last window, where history is
    deepest, once picked the wrong trunk)."""
    model.eval()
    res = {}
    for fam, (x, target, occ, lead) in val.items():
        p = "" if fam == "sim" else f"{fam}_"
        full = torch.cat([model(xb)[..., 0, :] for xb in x.split(32)])
        res[f"{p}full_mpjpe"], res[f"{p}full_occ_mpjpe"] = _mpjpe(rezero(full), target, occ)
        causal = torch.cat([model(xb, causal=True) for xb in x.split(32)])
        for k in lags:
            res[f"{p}causal_lag{k}_mpjpe"], res[f"{p}causal_lag{k}_occ_mpjpe"] = _mpjpe(
                head_predictions(causal, k, k), target, occ)
        for h in leads:
            if h <= model.cfg.max_lead:
                T = x.shape[1]
                res[f"{p}lead{h}_mpjpe"], _ = _mpjpe(lead_predictions(causal, model.cfg, h), lead[:, : T - h, h - 1],
                                                     occ[:, h:])
    for fam, (xs, ts, os_, _) in (val_stream or {}).items():
        p = "" if fam == "sim" else f"{fam}_"
        for k in lags:
            pred = torch.cat([model.stream_output(xb, k) for xb in xs.split(16)])
            res[f"{p}stream_lag{k}_mpjpe"], res[f"{p}stream_lag{k}_occ_mpjpe"] = _mpjpe(pred, ts, os_)
    model.train()
    return res


def build_val_set(clips, T: int, n: int, cfg: TrainConfig, mcfg: ModelConfig, family: str = "sim", seed: int = 1234):
    """Fixed validation windows from held-out subjects through `family` at its documented severity."""
    rng = np.random.default_rng(seed)
    sampler = WindowSampler(clips, T, salsa_share=cfg.salsa_share)
    fps = zoo.FAMILIES[family].fps
    return stack([corrupt(sampler.sample(rng, speed_range=(1.0, 1.0), fps=fps), rng, cfg, family, fps, mcfg,
                          train=False)
                  for _ in range(n)])


def init_from(model: DSTformer, path: str) -> None:
    """Start from a trained prior. A prior trained before the ahead mode existed has no embedding
    row for it: that row starts as the causal one (the ahead trunk is the causal trunk plus a few
    future frames)."""
    ckpt = load_checkpoint(path)
    sd = dict(ckpt.state_dict)
    own = model.state_dict()
    mode = sd.get("mode")
    if mode is not None and mode.shape[0] < own["mode"].shape[0]:
        sd["mode"] = torch.cat([mode, mode[1:2].repeat(own["mode"].shape[0] - mode.shape[0], 1)])
    head_w, head_b = sd.get("head.weight"), sd.get("head.bias")
    if head_w is not None and head_w.shape != own["head.weight"].shape:  # forecast heads added
        n_old = head_w.shape[0]
        w, b = own["head.weight"].clone(), own["head.bias"].clone()
        w[:n_old], b[:n_old] = head_w, head_b
        for r in range(n_old, w.shape[0], 3):  # each new head starts as the lag-0 head
            w[r:r + 3], b[r:r + 3] = head_w[:3], head_b[:3]
        sd["head.weight"], sd["head.bias"] = w, b
    model.load_state_dict(sd)


# ---------------------------------------------------------------------------------------------
# forecast heads by least squares

@torch.no_grad()
def fit_lead_heads(model: DSTformer, clips, cfg: TrainConfig, windows: int = 400, ridge: float = 1e-2,
                   seed: int = 7, progress: bool = True) -> None:
    """Refit every forecast head in closed form on the frozen causal trunk (in place).

    A head is linear in the trunk's normed features, so least squares gives each horizon the best
    linear forecast for position error; holding the lag-0 output (a linear read-out of the same
    features) is among the solutions it can express. Trained with position + 20 x velocity, as the
    other heads are, they came out smoother than useful: measured worse than holding the lag-0
    output. Samples: `windows` training windows through the zoo mix, every frame with a future."""
    rng = np.random.default_rng(seed)
    mc = model.cfg
    T, C, F = mc.window, mc.dim, mc.max_lead
    sampler = WindowSampler(clips, T, cfg.salsa_share)
    gram = torch.zeros(T, C + 1, C + 1, dtype=torch.float64)  # per frame index t, summed over windows
    cross = torch.zeros(F, C + 1, 3, dtype=torch.float64)
    it = range(0, windows, 16)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc="fitting forecast heads", unit="batch")
    model.eval()
    for _ in it:
        x, _, _, lead = make_batch(sampler, rng, cfg, 16, mc)
        f = model.ln(model.trunk(x, causal=True)).double()  # [b, T, J, C]
        f = torch.cat([f, torch.ones(*f.shape[:-1], 1, dtype=f.dtype)], -1)
        gram += torch.einsum("btjc,btjd->tcd", f, f)
        for h in range(1, F + 1):
            cross[h - 1] += torch.einsum("btjc,btjk->ck", f[:, : T - h], lead[:, : T - h, h - 1].double())
    cum = torch.cumsum(gram, 0)  # cum[t] = frames 0..t
    w, b = model.head.weight.data, model.head.bias.data
    for h in range(1, F + 1):
        A = cum[T - h - 1]
        A = A + ridge * torch.trace(A) / (C + 1) * torch.eye(C + 1, dtype=A.dtype)
        sol = torch.linalg.solve(A, cross[h - 1])  # [C + 1, 3]
        k = mc.lead_head(h)
        w[3 * k: 3 * k + 3] = sol[:C].T.to(w.dtype)
        b[3 * k: 3 * k + 3] = sol[C].to(b.dtype)


# ---------------------------------------------------------------------------------------------
# the loop

def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    p = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [h["step"] for h in history]
    a.plot(steps, [h["train_loss"] for h in history], label="train loss (epoch mean)")
    a.set_xlabel("step")
    a.set_yscale("log")
    a.legend()
    a.grid(alpha=0.3)
    for key in sorted(k for k in history[-1] if k.endswith("_mpjpe")):
        b.plot(steps, [h[key] for h in history], label=key)
    b.set_xlabel("step")
    b.set_ylabel("validation MPJPE (mm)")
    b.legend(fontsize=7)
    b.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def train(cfg: TrainConfig, out_dir: str | Path, data_dir=None, resume: bool = True,
          progress: bool = True, model_cfg: ModelConfig | None = None) -> Path:
    """Train (or resume) into out_dir; returns the path of the final checkpoint."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    mcfg = model_cfg or CONFIGS[cfg.model]
    if cfg.max_lead is not None:
        mcfg = replace(mcfg, max_lead=cfg.max_lead)
    if cfg.canonical is not None:
        mcfg = replace(mcfg, canonical=cfg.canonical)
    unknown = set(cfg.families) - set(zoo.FAMILIES)
    if unknown or not any(w > 0 for w in cfg.families.values()):
        raise ValueError(f"families {cfg.families}: unknown {sorted(unknown)} or no positive share")
    model = DSTformer(mcfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state_path = out_dir / "train_state.pt"
    step, history, wall = 0, [], 0.0
    rng = np.random.default_rng(cfg.seed)
    resumed = resume and state_path.exists()
    if cfg.init and not resumed:
        init_from(model, cfg.init)
    if resumed:
        ckpt = load_checkpoint(state_path, expect=mcfg)
        model.load_state_dict(ckpt.state_dict)
        opt.load_state_dict(ckpt.extra["optimizer"])
        step, history, wall = ckpt.extra["step"], ckpt.extra["history"], ckpt.extra["wall_s"]
        rng.bit_generator.state = ckpt.extra["rng"]
        torch.set_rng_state(ckpt.extra["torch_rng"])
    train_clips = load_cached(data_dir, split="train", progress=progress)
    val_clips = load_cached(data_dir, split="val", progress=progress)
    T, TS = mcfg.window, cfg.stream_window or mcfg.window
    samplers = {n: WindowSampler(train_clips, n, cfg.salsa_share) for n in {T, TS}}
    val = {f: build_val_set(val_clips, T, cfg.val_windows if f == "sim" else cfg.val_windows // 2, cfg, mcfg, f)
           for f in cfg.val_families}
    val_stream = {f: build_val_set(val_clips, max(TS, 3 * T), cfg.val_stream_windows if f == "sim"
                                   else cfg.val_stream_windows // 2, cfg, mcfg, f, seed=4321)
                  for f in cfg.val_families}
    modes = modes_of(mcfg)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, initial=step, desc="training", unit="step")
    model.train()
    epoch_losses: list[float] = []
    t_start = time.time() - wall
    while step < cfg.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        mode = modes[step % len(modes)]
        if mode == "full":
            x, target, _, lead = make_batch(samplers[T], rng, cfg, cfg.batch, mcfg)
        else:
            x, target, _, lead = make_batch(samplers[TS], rng, cfg, cfg.stream_batch or cfg.batch, mcfg)
        loss = mode_loss(model, x, target, mode, cfg.velocity_weight, lead, cfg.lead_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        epoch_losses.append(float(loss.detach()))
        step += 1
        if bar:
            bar.update()
            bar.set_postfix(loss=f"{np.mean(epoch_losses[-20:]):.4f}")
        if step % cfg.epoch_steps == 0 or step == cfg.steps:
            metrics = validate(model, val, val_stream)
            history.append({"step": step, "train_loss": float(np.mean(epoch_losses)),
                            "wall_s": time.time() - t_start, **metrics})
            epoch_losses = []
            if bar:
                bar.write(f"step {step}: " + ", ".join(f"{k}={v:.1f}" for k, v in metrics.items()))
            meta = {"train_config": asdict(cfg), "history": history}
            save_checkpoint(state_path, model, meta=meta, extra={
                "optimizer": opt.state_dict(), "step": step, "history": history,
                "wall_s": time.time() - t_start, "rng": rng.bit_generator.state,
                "torch_rng": torch.get_rng_state()})
            save_checkpoint(out_dir / "prior.pt", model, meta=meta)
            plot_curves(history, out_dir / "loss_curve.png")
            (out_dir / "history.json").write_text(json.dumps(history, indent=1))
    if bar:
        bar.close()
    (out_dir / "model_card.md").write_text(model_card(cfg, mcfg, history, out_dir))
    return out_dir / "prior.pt"


def model_card(cfg: TrainConfig, mcfg: ModelConfig, history: list[dict], out_dir: Path) -> str:
    """The training half of models/MODEL_CARD.md, generated from the run itself."""
    from ..core.machine import machine
    from .dstformer import DSTformer
    last = history[-1] if history else {}
    best = min(history, key=lambda h: h.get("full_mpjpe", 1e9)) if history else {}
    def cell(h: dict, key: str) -> str:
        return f"{h[key]:.1f}" if key in h else "-"

    rows = "\n".join(f"| {h['step']} | {h['train_loss']:.4f} | {cell(h, 'full_mpjpe')} | {cell(h, 'full_occ_mpjpe')} | "
                     f"{cell(h, 'stream_lag0_mpjpe')} | {cell(h, 'stream_lag8_mpjpe')} | "
                     f"{cell(h, 'stream_lag8_occ_mpjpe')} | {h['wall_s'] / 60:.0f} |"
                     for h in history)
    return f"""# Training run: {out_dir.name}

- Configuration `{cfg.model}`: {json.dumps(mcfg.to_dict())}, {DSTformer(mcfg).num_params() / 1e6:.2f} M parameters
- Training: {json.dumps(asdict(cfg))}
- Machine: {machine()}; wall time {last.get('wall_s', 0) / 60:.0f} min for {last.get('step', 0)} steps
  (batch {cfg.batch} windows of {mcfg.window} frames at 30 fps)
- Final validation (held-out subjects 06, 08, 14, default simulator; pelvis-relative MPJPE in mm over
  all / occluded frames): full mode {last.get('full_mpjpe', float('nan')):.1f} /
  {last.get('full_occ_mpjpe', float('nan')):.1f} ({cfg.val_windows} windows); what a stream publishes, on every frame
  of {cfg.val_stream_windows} clip-long sequences streamed from a cold start:
  lag 0 {last.get('stream_lag0_mpjpe', float('nan')):.1f} /
  {last.get('stream_lag0_occ_mpjpe', float('nan')):.1f}, lag 8 {last.get('stream_lag8_mpjpe', float('nan')):.1f} /
  {last.get('stream_lag8_occ_mpjpe', float('nan')):.1f}; best full-mode MPJPE {best.get('full_mpjpe', float('nan')):.1f}
  at step {best.get('step', 0)}{f"; fine-tuned from {cfg.init}" if cfg.init else ""}

| step | train loss | val full | val full occ | stream lag 0 | stream lag 8 | stream lag 8 occ | minutes |
|---|---|---|---|---|---|---|---|
{rows}
"""
