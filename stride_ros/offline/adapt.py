# SPDX-License-Identifier: MIT
"""STRIDE test-time adaptation: fit the prior to one person's video with self-supervised 3D losses.

Pseudo-labels Q are the estimator's own pelvis-relative poses, gaps filled by linear interpolation
(ends held). The prediction P is trained towards Q with
    L = 1 * MPJP + 20 * velocity + 200 * limb-length variance + 0.5 * N-MPJP      (the STRIDE paper)
using AdamW (lr 2e-4, weight decay 0.01, lr x 0.99 per epoch, 30 epochs) and random horizontal
flips; the final pass averages the plain and the mirrored prediction, as the published code does.

Where the paper is weak, and what this module does instead (each switchable, for the ablation):
- `confidence`: targets are weighted by the estimator's confidence and interpolated frames by
  `interp_weight`, instead of every frame counting fully (wrong answers during occlusion included);
- `gate_mm`: a target joint further than this from the *prior's* prediction is dropped: the prior
  has seen the whole window and is rarely that far off, the estimator's garbage usually is;
- `overlap`: the training tiling of the clip shifts every epoch and the final outputs of windows
  overlapping by half are blended, instead of fixed chunks with hard cuts;
- a divergence guard: NaN, a rising loss or stretching limbs discard the adaptation and return
  the prior's own output, with the reason logged;
- a held-out check (`holdout_share`): adaptation must predict frames it never saw better than the
  prior does, or it is discarded. Measured on validation: a prior pre-trained on the simulator's
  kind of noise is already better than the pseudo-labels, and unchecked adaptation pulled it
  toward them (docs/results.md, Adaptation).
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core.representation import ANCHORS, decode, rezero, seen_centroid_shift, to_input_frame
from ..core.skeleton import BONE_CHILDREN, BONE_PARENTS, MIRROR
from ..core.timeseries import MODEL_FPS, interpolate_missing
from ..model.dstformer import DSTformer
from .windows import blend, finish, mirror_input, mirror_output, predict_windows, prepare, window_starts, windows

log = logging.getLogger("stride_ros.offline.adapt")


@dataclass(frozen=True)
class AdaptConfig:
    epochs: int = 30
    lr: float = 2e-4
    weight_decay: float = 0.01
    lr_decay: float = 0.99
    w_mpjp: float = 1.0
    w_vel: float = 20.0
    w_limb: float = 200.0
    w_nmpjp: float = 0.5
    flip: bool = True
    # beyond the paper
    confidence: bool = True
    interp_weight: float = 0.2
    gate_mm: float | None = 150.0
    overlap: bool = True
    max_batch: int = 8
    # where the refined body sits (as the stream's `anchor`): "centroid" moves it onto its confidently
    # seen joints (shift smoothed over anchor_tau_s, forward and backward: offline has the future),
    # "pelvis" leaves it on the tracked pelvis
    anchor: str = "centroid"
    anchor_tau_s: float = 0.2
    anchor_conf: float = 0.5  # "confidently seen": at least this confidence
    # adapt only the top `adapt_layers` dual-stream layers, the final norm and the head (None: every
    # weight, as the paper). The frozen bottom runs without autograd, so no backward pass goes
    # through it: measured 0.54-0.75 x the time of adapting everything (docs/results.md, Adaptation).
    adapt_layers: int | None = 2
    # held-out check: spans of well-observed frames are hidden from the adaptation (input and
    # target); the adapted weights are kept only if they predict those frames' pseudo-labels
    # better than the weights they started from. The labels are noisy, but the noise is the same
    # for both models, so the comparison is fair: it catches adaptation that merely copies the
    # estimator's errors, which loss-based checks cannot see.
    holdout_share: float = 0.15
    holdout_span: int = 10
    holdout_margin: float = 0.02  # required relative improvement
    # the cheaper test first: after this share of the epochs, adaptation that predicts the held-out
    # frames clearly worse than before (by early_tolerance) is abandoned: the remaining epochs would be
    # spent to be thrown away (early epochs may wobble: a small loss is tolerated, not a clear one)
    early_check: float = 0.34
    early_tolerance: float = 1.05
    # what is fitted (the aim: adaptation that cannot learn to copy the estimator's noise):
    # "stride": the estimator's own poses (gaps interpolated), as the paper;
    # "masked": spans of observed frames are hidden from the input and only they are scored: the
    #   estimator's frame-level noise at a hidden frame is not predictable from its neighbours, the
    #   person's motion is;
    # "distill": the model's own bidirectional pass over the buffered frames (flip-averaged, blended
    #   windows) is the label, for what a stream publishes (its lag head): the causal stream learns
    #   what this person's offline refinement looks like. Streams only (offline *is* the teacher).
    objective: str = "stride"
    mask_share: float = 0.2  # masked: share of each window's frames hidden, in spans of ...
    mask_span: tuple[int, int] = (5, 20)  # ... this many frames
    # which weights move: "top" (the top `adapt_layers` layers, the final norm, the head), "norms"
    # (every LayerNorm, the input embedding and the head: what a change of estimator or body shifts),
    # "all" (every weight, as the paper)
    params: str = "top"
    # divergence guard
    guard: bool = True
    max_loss_ratio: float = 1.0  # final loss must be below the first epoch's times this
    max_limb_ratio: float = 2.0  # limb-length variance may not grow beyond this factor of the prior's
    seed: int = 0

    @classmethod
    def paper(cls, **kw) -> "AdaptConfig":
        """The published procedure: full-weight targets, no gate, non-overlapping chunks, no checks."""
        return cls(confidence=False, gate_mm=None, overlap=False, holdout_share=0.0, guard=False,
                   adapt_layers=None, **kw)

    def check(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective {self.objective!r}: expected one of {', '.join(OBJECTIVES)}")
        if self.params not in PARAMS:
            raise ValueError(f"params {self.params!r}: expected one of {', '.join(PARAMS)}")


OBJECTIVES = ("stride", "masked", "distill")
PARAMS = ("top", "norms", "all")


@dataclass
class AdaptResult:
    poses: np.ndarray
    adapted: bool
    reason: str
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


# ---------------------------------------------------------------------------------------------
# losses (P, Q: [B, T, 17, 3] pelvis-relative; w: [B, T, 17] target weights)

def _wmean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (x * w).sum() / w.sum().clamp_min(1e-8)


def loss_mpjp(P: torch.Tensor, Q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return _wmean((P - Q).norm(dim=-1), w)


def loss_nmpjp(P: torch.Tensor, Q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """MPJP after the per-frame scale s = sum<q,p> / sum|p|^2 (weighted) applied to P."""
    wq = w[..., None]
    s = (wq * P * Q).sum((-1, -2)) / (wq * P * P).sum((-1, -2)).clamp_min(1e-8)
    return _wmean((s[..., None, None] * P - Q).norm(dim=-1), w)


def loss_velocity(P: torch.Tensor, Q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    dv = (P[:, 1:] - P[:, :-1]) - (Q[:, 1:] - Q[:, :-1])
    return _wmean(dv.norm(dim=-1), w[:, 1:] * w[:, :-1])


def loss_limb(P: torch.Tensor) -> torch.Tensor:
    """Variance over time of each bone's normalised length, averaged over the 16 bones."""
    length = (P[..., BONE_CHILDREN, :] - P[..., BONE_PARENTS, :]).norm(dim=-1)  # [B, T, 16]
    norm = length / length.mean(dim=1, keepdim=True).clamp_min(1e-6)
    return norm.var(dim=1, unbiased=False).mean()


def stride_loss(P: torch.Tensor, Q: torch.Tensor, w: torch.Tensor, cfg: AdaptConfig) -> torch.Tensor:
    total = P.new_zeros(())
    if cfg.w_mpjp:
        total = total + cfg.w_mpjp * loss_mpjp(P, Q, w)
    if cfg.w_vel:
        total = total + cfg.w_vel * loss_velocity(P, Q, w)
    if cfg.w_limb:
        total = total + cfg.w_limb * loss_limb(P)
    if cfg.w_nmpjp:
        total = total + cfg.w_nmpjp * loss_nmpjp(P, Q, w)
    return total


# ---------------------------------------------------------------------------------------------
# pseudo-labels

def pseudo_labels(x: np.ndarray, prior_rel: np.ndarray | None, cfg: AdaptConfig) -> tuple[np.ndarray, np.ndarray]:
    """Encoded input [T, 17, 4] -> targets Q [T, 17, 3] and weights [T, 17]."""
    conf = x[..., 3]
    present = conf > 0
    if not present.any():
        raise ValueError("nothing observed in the clip: no pseudo-labels")
    rel = np.where(present[..., None], x[..., :3], np.nan)
    Q = interpolate_missing(rel, present)
    if not cfg.confidence:
        return Q, np.ones_like(conf)
    w = np.where(present, conf, cfg.interp_weight).astype(np.float32)
    if cfg.gate_mm is not None and prior_rel is not None:
        far = np.linalg.norm(Q - prior_rel, axis=-1) * 1000 > cfg.gate_mm
        w = np.where(far, 0.0, w)
    return Q, w


# ---------------------------------------------------------------------------------------------
# the procedure

def _limb_variance(rel: np.ndarray) -> float:
    return float(loss_limb(torch.from_numpy(rel[None])))


def predict_rel(m: DSTformer, x: torch.Tensor, lag: int | None) -> torch.Tensor:
    """Pelvis-relative predictions [B, T', J, 3] of frames 0..T'-1: lag None is the full-window
    (offline) mode, T' = T; an int is what a stream at that lag publishes, T' = T - lag."""
    if lag is None:
        return rezero(m(x)[..., 0, :])
    return m.stream_output(x, lag)


def adapt_model(model: DSTformer, x: np.ndarray, cfg: AdaptConfig, prior_rel: np.ndarray | None = None,
                lag: int | None = None, stop=None) -> tuple[DSTformer | None, str, list[float]]:
    """Adapt a copy of `model` to encoded input x [T, 17, 4]. Returns (model or None, reason, losses).

    Used offline (lag None: full mode) and by the streaming worker (the trunk and head that publish
    lag `lag`); `stop()` is checked between epochs so a shutting-down node does not wait for a burst.
    """
    cfg.check()
    W = model.cfg.window
    if cfg.objective == "distill":
        if lag is None:
            raise ValueError("the distill objective adapts a stream (its teacher is the offline pass)")
        Q, w = teacher_labels(model, x), np.ones(x.shape[:2], np.float32)
    else:
        Q, w = pseudo_labels(x, prior_rel, cfg)
    if float(w.sum()) <= 0:
        return None, "no usable pseudo-labels (everything gated or missing)", []
    x_fit, w_fit = x, w
    if cfg.objective == "distill":
        # the labels are not the estimator's, so there is no noise to catch copying: the check is
        # whether the stream matches its teacher better on the newest frames it was not fitted on
        held = np.zeros(len(x), bool)
        if cfg.holdout_share > 0 and len(x) >= 4 * cfg.holdout_span:
            held[-max(cfg.holdout_span, int(round(cfg.holdout_share * len(x)))):] = True
            w_fit = w.copy()
            w_fit[held] = 0.0
    else:
        held = holdout_frames(x, cfg)
        if held.any():
            x_fit, w_fit = x.copy(), w.copy()
            x_fit[held] = 0.0  # missing, as the model knows it
            w_fit[held] = 0.0
    L = min(W, len(x))
    X, Qt, Wt = torch.from_numpy(x_fit), torch.from_numpy(Q), torch.from_numpy(w_fit)
    m = copy.deepcopy(model).train()
    opt = torch.optim.AdamW(trainable(m, cfg.adapt_layers if cfg.params == "top" else None, cfg.params),
                            lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.lr_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    losses: list[float] = []
    w_held = np.where(held[:, None] & ((x[..., 3] > 0) | (cfg.objective == "distill")), w, 0.0) if held.any() else None
    before = _heldout_error(model, x_fit, Q, w_held, lag) if w_held is not None and w_held.sum() > 0 else None
    check_at = int(np.ceil(cfg.early_check * cfg.epochs)) if before is not None and cfg.early_check > 0 else -1
    for epoch_i in range(cfg.epochs):
        if stop is not None and stop():
            return None, "stopped", losses
        if epoch_i == check_at and 0 < check_at < cfg.epochs:
            m.eval()
            now = _heldout_error(m, x_fit, Q, w_held, lag)
            m.train()
            if now > before * cfg.early_tolerance:
                return None, (f"adaptation stopped after {epoch_i} of {cfg.epochs} epochs: held-out frames "
                              f"worse ({now * 1000:.1f} mm vs {before * 1000:.1f} mm before)"), losses
        starts = torch.tensor(_epoch_starts(len(x), W, cfg.overlap, gen))
        order = starts[torch.randperm(len(starts), generator=gen)]
        epoch = []
        for chunk in order.split(cfg.max_batch):
            idx = chunk[:, None] + torch.arange(L)[None]
            xb, qb, wb = X[idx], Qt[idx], Wt[idx]
            if cfg.flip and torch.rand((), generator=gen) < 0.5:
                xb, qb = mirror_input(xb), mirror_output(qb)
                wb = wb[..., MIRROR]
            if cfg.objective == "masked":
                hide = mask_spans(xb.shape[:2], cfg, gen) & (xb[..., 0, 3] > 0)  # [B, L] observed frames hidden
                xb = xb.masked_fill(hide[..., None, None], 0.0)
                wb = wb * hide[..., None]
            P = predict_rel(m, xb, lag)
            qb, wb = qb[:, : P.shape[1]], wb[:, : P.shape[1]]
            loss = stride_loss(P, qb, wb, cfg)
            if not torch.isfinite(loss):
                return None, "adaptation diverged (loss is not finite)", losses + [float("nan")]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            epoch.append(float(loss.detach()))
        sched.step()
        losses.append(float(np.mean(epoch)))
    if cfg.guard:
        bad = [not bool(torch.isfinite(p.detach()).all()) for p in m.parameters()]
        if any(bad):
            return None, "adaptation diverged (non-finite weights)", losses
        if len(losses) > 1 and losses[-1] > losses[0] * cfg.max_loss_ratio:
            return None, f"adaptation diverged (loss rose from {losses[0]:.4f} to {losses[-1]:.4f})", losses
    m.eval()
    if before is not None:
        after = _heldout_error(m, x_fit, Q, w_held, lag)
        if not after < before * (1 - cfg.holdout_margin):
            return None, (f"adaptation did not predict held-out frames better ({after * 1000:.1f} mm "
                          f"vs {before * 1000:.1f} mm before)"), losses
        return m, f"adapted (held-out {before * 1000:.1f} -> {after * 1000:.1f} mm)", losses
    return m, "adapted", losses


def teacher_labels(model: DSTformer, x: np.ndarray) -> np.ndarray:
    """The model's own bidirectional refinement of x [T, 17, 4] (flip-averaged, windows blended):
    pelvis-relative [T, 17, 3], the label of the distill objective."""
    W = model.cfg.window
    xw, starts = windows(x, W, max(1, W // 2))
    return blend(predict_windows(model, xw, flip=True).numpy(), starts, len(x))


def mask_spans(shape: tuple[int, int], cfg: AdaptConfig, gen: torch.Generator) -> torch.Tensor:
    """[B, L] bool: random spans of `mask_span` frames covering about `mask_share` of each window."""
    B, L = shape
    out = torch.zeros(B, L, dtype=torch.bool)
    lo, hi = cfg.mask_span
    for b in range(B):
        while out[b].float().mean() < cfg.mask_share:
            n = int(torch.randint(lo, hi + 1, (), generator=gen))
            s = int(torch.randint(0, max(1, L - n), (), generator=gen))
            out[b, s:s + n] = True
    return out


def trainable(m: DSTformer, top_layers: int | None, which: str = "top") -> list[torch.nn.Parameter]:
    """Unfreeze the top `top_layers` layers, the final norm and the head (None: everything); or, with
    which="norms", every LayerNorm, the input embedding and the head."""
    if which == "norms":
        for p in m.parameters():
            p.requires_grad_(False)
        mods = [mod for mod in m.modules() if isinstance(mod, torch.nn.LayerNorm)] + [m.embed, m.head]
        params = [p for mod in mods for p in mod.parameters()]
        for p in params:
            p.requires_grad_(True)
        return params
    if top_layers is None:
        return list(m.parameters())
    if not 0 < top_layers <= len(m.layers):
        raise ValueError(f"adapt_layers {top_layers}: the model has {len(m.layers)} layers")
    keep = [*m.layers[len(m.layers) - top_layers:], m.ln, m.head]
    for p in m.parameters():
        p.requires_grad_(False)
    params = [p for mod in keep for p in mod.parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def holdout_frames(x: np.ndarray, cfg: AdaptConfig) -> np.ndarray:
    """[T] bool: spans of `holdout_span` frames starting on well-observed frames (12+ joints at
    confidence 0.5), about `holdout_share` of the clip; deterministic for a clip and seed."""
    T = len(x)
    held = np.zeros(T, bool)
    if cfg.holdout_share <= 0 or T < 4 * cfg.holdout_span:
        return held
    good = np.flatnonzero((x[:, :, 3] >= 0.5).sum(1) >= 12)
    good = good[good <= T - cfg.holdout_span]
    n = max(1, int(round(cfg.holdout_share * T / cfg.holdout_span)))
    if len(good) == 0:
        return held
    rng = np.random.default_rng(cfg.seed + T)
    for s in rng.choice(good, size=min(n, len(good)), replace=False):
        held[s:s + cfg.holdout_span] = True
    return held


def _heldout_error(model: DSTformer, x: np.ndarray, Q: np.ndarray, w: np.ndarray, lag: int | None) -> float:
    """Weighted mean distance (m) between the model's prediction and the pseudo-labels where w > 0.

    Offline: the same non-overlapping windows as the refinement. Streaming: the whole buffer at
    once, as the stream sees it (its attention is windowed per layer, its history is not)."""
    with torch.no_grad():
        if lag is None:
            xw, starts = windows(x, model.cfg.window, model.cfg.window)
            rel = blend(predict_rel(model, xw, None).numpy(), starts, len(x), hard=True)
        else:
            rel = predict_rel(model, torch.from_numpy(x[None]), lag)[0].numpy()
    Q, w = Q[: len(rel)], w[: len(rel)]
    d = np.linalg.norm(rel - Q, axis=-1)
    return float((d * w).sum() / max(w.sum(), 1e-8))


def _epoch_starts(T: int, W: int, rolling: bool, gen: torch.Generator) -> list[int]:
    """Windows tiling the clip once per epoch: ceil(T / W) of them, as many as the paper's chunks.
    Rolling: the tiling is laid over a span of n * W frames shifted by a random offset and each
    window is clamped into the clip, so borders fall on different frames every epoch at no extra
    compute (coverage stays complete: neighbours stay contiguous or overlap)."""
    if T <= W:
        return [0]
    if not rolling:
        return window_starts(T, W, W)
    n = -(-T // W)
    off = int(torch.randint(0, n * W - T + 1, (), generator=gen))
    return [min(max(k * W - off, 0), T - W) for k in range(n)]


def refine_offline(model: DSTformer, poses: np.ndarray, confidence: np.ndarray | None, fps: float,
                   cfg: AdaptConfig = AdaptConfig(), up: np.ndarray | None = None) -> AdaptResult:
    """The whole STRIDE procedure on one clip -> complete absolute poses (same frame, length). `up`:
    the floor's normal in the input's frame, the canonical frame's up as in the stream with a floor
    (an up estimated from the body costs the prior; results/prior_selection/up_cost.py)."""
    if cfg.anchor not in ANCHORS:
        raise ValueError(f"anchor {cfg.anchor!r}: expected one of {', '.join(ANCHORS)}")
    t0 = time.perf_counter()
    T0 = len(poses)
    x, root, rot = prepare(poses, confidence, fps, model.cfg.canonical, up)
    W = model.cfg.window
    xw, starts = windows(x, W, max(1, W // 2) if cfg.overlap else W)
    prior_rel = blend(predict_windows(model, xw, cfg.flip).numpy(), starts, len(x), hard=not cfg.overlap)
    adapted_rel, adapted, reason, losses = prior_rel, False, "no adaptation requested", []
    if cfg.epochs > 0:
        m, reason, losses = adapt_model(model, x, cfg, prior_rel)
        if m is not None:
            rel = blend(predict_windows(m, xw, cfg.flip).numpy(), starts, len(x), hard=not cfg.overlap)
            if not np.isfinite(rel).all():
                reason = "adaptation diverged (non-finite output)"
            elif cfg.guard and _limb_variance(rel) > cfg.max_limb_ratio * max(_limb_variance(prior_rel), 1e-6):
                reason = (f"adaptation diverged (limb-length variance {_limb_variance(rel):.2e} vs the "
                          f"prior's {_limb_variance(prior_rel):.2e})")
            else:
                adapted_rel, adapted = rel, True
        if not adapted:
            log.warning("%s: falling back to the prior's output", reason)
    out = decode(adapted_rel, root, rot)
    if cfg.anchor == "centroid":
        out = out + centroid_shift(x, adapted_rel, rot, cfg.anchor_tau_s, cfg.anchor_conf)[:, None]
    out = finish(out, fps, T0)
    return AdaptResult(out, adapted, reason, losses, time.perf_counter() - t0)


def centroid_shift(x: np.ndarray, rel: np.ndarray, rot: np.ndarray | None, tau_s: float,
                   conf_min: float) -> np.ndarray:
    """[T, 3] (input frame): the `centroid` anchor's shift of every frame (seen_centroid_shift; x
    [T, 17, 4] at MODEL_FPS, rel [T, 17, 3] in the model frame), smoothed forward and backward over
    tau_s (offline has the future); frames with nothing seen take their neighbours' shift."""
    shift = seen_centroid_shift(x, rezero(rel), conf_min)
    seen = np.isfinite(shift).all(-1)
    if rot is not None:
        shift = to_input_frame(shift[:, None], rot)[:, 0]
    if not seen.any():
        return np.zeros((len(x), 3), np.float32)
    shift = interpolate_missing(shift[:, None], seen[:, None])[:, 0]
    if tau_s > 0:
        k = 1.0 - float(np.exp(-1.0 / (MODEL_FPS * tau_s)))
        for order in (slice(None), slice(None, None, -1)):  # forward, then backward: no lag
            s = shift[order].copy()
            for t in range(1, len(s)):
                s[t] = s[t - 1] + k * (s[t] - s[t - 1])
            shift[order] = s
    return shift.astype(np.float32)

