# SPDX-License-Identifier: MIT
"""DSTformer (MotionBERT's dual-stream spatio-temporal transformer), the STRIDE motion prior.

Input  [B, T, 17, 4]: per frame, joints relative to that frame's pelvis (metres) + confidence
       (0 = missing; a missing joint's position is 0). See representation.py for why.
Output [B, T, 17, H, 3], H = L+1+F heads: pelvis-relative refined joints. Lag head k (0..L) of
       frame t is the pose of frame t-k; lead head L+h (h = 1..F, causal mode) forecasts frame t+h.
       In full (bidirectional) mode only head 0 is used.

Two deliberate departures from MotionBERT, both for streaming:
- temporal position is a learned *relative* bias per head (offset -W+1..W-1) instead of an absolute
  embedding, so a frame's features do not depend on where it sits in a window;
- temporal attention can be restricted to the last W frames (causal) or to the last W frames plus
  `lookahead` future ones (ahead). Then the features of past frames never change and `step` caches
  their keys/values: one new frame costs one frame of compute. In ahead mode every layer answers
  `lookahead` frames after its input, so the top answers for the frame depth x lookahead back.
  The lag heads turn either trunk into a fixed-lag smoother (head k: k more frames of lag).
One set of weights serves the three modes (a learned mode embedding tells the trunk which it is in):
full (offline windows), causal and ahead (streaming; which serves which lag is measured per model
and stored as `ModelConfig.ahead_from`, see models/MODEL_CARD.md).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.representation import rezero
from ..core.skeleton import NUM_JOINTS


@dataclass(frozen=True)
class ModelConfig:
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    window: int = 81  # frames a token may attend to (both modes)
    max_lag: int = 16  # lag heads 0..max_lag
    in_channels: int = 4
    lookahead: int = 0  # ahead mode: future frames each temporal layer sees (0: no ahead mode)
    ahead_from: int = 0  # smallest lag streamed by the ahead trunk (0: from its delay); set by measurement
    max_lead: int = 0  # forecast heads: lead 1..max_lead frames (the pose that many frames after the newest)
    canonical: bool = False  # trained on per-track canonical frames (canonical.py), not the raw input frame

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def ahead_delay(self) -> int:
        """Frames between the newest input and the frame the ahead trunk's top answers for."""
        return self.depth * self.lookahead

    @property
    def n_heads(self) -> int:
        """Output heads per token: lags 0..max_lag, then leads 1..max_lead."""
        return self.max_lag + 1 + self.max_lead

    def lead_head(self, lead: int) -> int:
        """Index of the head forecasting `lead` frames ahead of the newest frame (1..max_lead)."""
        if not 1 <= lead <= self.max_lead:
            raise ValueError(f"lead {lead}: this model forecasts 1..{self.max_lead} frames ahead")
        return self.max_lag + lead

    @property
    def modes(self) -> int:
        return 3 if self.lookahead else 2

    def stream_head(self, lag: int) -> tuple[bool, int]:
        """(ahead, head) publishing lag `lag`: the causal trunk's head `lag`, or the ahead trunk from
        `ahead_from` on (which trunk is better at which lag is measured per model: MODEL_CARD.md)."""
        if self.lookahead and lag >= max(self.ahead_from, self.ahead_delay):
            return True, lag - self.ahead_delay
        return False, lag

    @property
    def max_stream_lag(self) -> int:
        return self.max_lag + (self.ahead_delay if self.lookahead else 0)


CONFIGS: dict[str, ModelConfig] = {
    # as published (MotionBERT/STRIDE): ~42.5 M parameters
    "paper": ModelConfig(dim=512, depth=5, heads=8, mlp_ratio=2.0, window=243),
    # chosen by measurement for a 2-core CPU (see models/MODEL_CARD.md)
    "small": ModelConfig(dim=64, depth=4, heads=4, mlp_ratio=2.0, window=81, lookahead=2, max_lead=15,
                         canonical=True),
    "tiny": ModelConfig(dim=32, depth=2, heads=2, mlp_ratio=2.0, window=27, max_lag=8),
}


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        N, L, C = x.shape
        q, k, v = self.qkv(x).view(N, L, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        return q, k, v  # each [N, H, L, d]

    def merge(self, y: torch.Tensor) -> torch.Tensor:
        N, H, L, d = y.shape
        return self.proj(y.transpose(1, 2).reshape(N, L, H * d))

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        # written out: on CPU this trains 20-25 % faster than F.scaled_dot_product_attention
        # (measured, 0.55 M model, batch 3 x 81 frames, 2 threads: 0.29 vs 0.34-0.40 s per step)
        q, k, v = self.split(x)
        s = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
        if bias is not None:
            s = s + bias
        return self.merge(s.softmax(-1) @ v)


class MLP(nn.Module):
    def __init__(self, dim: int, ratio: float):
        super().__init__()
        self.fc1 = nn.Linear(dim, int(dim * ratio))
        self.fc2 = nn.Linear(int(dim * ratio), dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SpatialBlock(nn.Module):
    """Self-attention over the joints of each frame."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attn = Attention(cfg.dim, cfg.heads)
        self.mlp = MLP(cfg.dim, cfg.mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, J, C]
        B, T, J, C = x.shape
        y = x.reshape(B * T, J, C)
        y = y + self.attn(self.ln1(y))
        y = y + self.mlp(self.ln2(y))
        return y.view(B, T, J, C)

    def step_rows(self, y: torch.Tensor, B: int) -> torch.Tensor:
        """The step path on 2-D rows y [B*J, C]: every Linear is then one plain Gemm in ONNX (3-D
        inputs cost a Reshape on each side of each of them, ~30 % of the step graph's nodes)."""
        N, C = y.shape
        a = self.attn
        q, k, v = a.qkv(self.ln1(y)).view(B, N // B, 3, a.heads, C // a.heads).permute(2, 0, 3, 1, 4)
        o = ((q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)).softmax(-1) @ v  # [B, H, J, d]
        y = y + a.proj(o.transpose(1, 2).reshape(N, C))
        return y + self.mlp(self.ln2(y))


class TemporalBlock(nn.Module):
    """Self-attention over the frames of each joint, with a learned relative-offset bias."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.window = cfg.window
        self.ln1, self.ln2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attn = Attention(cfg.dim, cfg.heads)
        self.mlp = MLP(cfg.dim, cfg.mlp_ratio)
        self.rel_bias = nn.Parameter(torch.zeros(cfg.heads, 2 * cfg.window - 1))

    def bias(self, T: int, ahead: int | None, device) -> torch.Tensor:
        """ahead None: the whole window both ways; else the last W frames and `ahead` future ones."""
        i = torch.arange(T, device=device)
        off = i[:, None] - i[None, :]  # query minus key
        allowed = off.abs() < self.window
        if ahead is not None:
            allowed = allowed & (off >= -ahead)
        b = self.rel_bias[:, (off + self.window - 1).clamp(0, 2 * self.window - 2)]
        return b.masked_fill(~allowed, float("-inf"))  # [H, T, T]

    def forward(self, x: torch.Tensor, ahead: int | None) -> torch.Tensor:  # [B, T, J, C]
        B, T, J, C = x.shape
        y = x.permute(0, 2, 1, 3).reshape(B * J, T, C)
        y = y + self.attn(self.ln1(y), self.bias(T, ahead, x.device))
        y = y + self.mlp(self.ln2(y))
        return y.view(B, J, T, C).permute(0, 2, 1, 3)

    def step_rows(self, y: torch.Tensor, y_q: torch.Tensor | None, k_ring: torch.Tensor, v_ring: torch.Tensor,
                  bias: torch.Tensor, ring_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The newest input frame's rows y [B*J, C] join the ring of cached keys/values [B*J, H, R, d];
        the query is frame y_q, `lookahead` frames older (None: y itself, causal).

        bias [R + 1]: rel_bias index of each slot's key seen from the query, then the new key's;
        ring_mask [B*J, 1, 1, R]: slots holding a key the query may see. The new key/value are
        attended separately and returned (not concatenated): the caller writes them into the ring,
        so nothing big is ever copied.
        """
        N, C = y.shape
        H = self.attn.heads
        w, b = self.attn.qkv.weight, self.attn.qkv.bias
        if y_q is None:
            y_q = y
            q, k, v = F.linear(self.ln1(y), w, b).view(N, 3, H, 1, C // H).unbind(1)  # each [B*J, H, 1, d]
        else:
            k, v = F.linear(self.ln1(y), w[C:], b[C:]).view(N, 2, H, 1, C // H).unbind(1)
            q = F.linear(self.ln1(y_q), w[:C], b[:C]).view(N, H, 1, C // H)
        scale = q.shape[-1] ** -0.5
        rb = self.rel_bias[:, bias][None, :, None, :]
        s_ring = ((q @ k_ring.transpose(-1, -2)) * scale + rb[..., :-1]).masked_fill(~ring_mask, float("-inf"))
        s_new = (q * k).sum(-1, keepdim=True) * scale + rb[..., -1:]
        p = torch.cat([s_ring, s_new], dim=-1).softmax(dim=-1)
        o = p[..., :-1] @ v_ring + p[..., -1:] * v
        out = y_q + self.attn.proj(o.reshape(N, C))
        out = out + self.mlp(self.ln2(out))
        return out, k, v


class DualStreamLayer(nn.Module):
    """Spatial->temporal and temporal->spatial streams, fused with feature-computed weights."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.st_s, self.st_t = SpatialBlock(cfg), TemporalBlock(cfg)
        self.ts_t, self.ts_s = TemporalBlock(cfg), SpatialBlock(cfg)
        self.fuse = nn.Linear(2 * cfg.dim, 2)

    def mix(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        w = self.fuse(torch.cat([a, b], dim=-1)).softmax(dim=-1)
        return a * w[..., :1] + b * w[..., 1:]

    def forward(self, x: torch.Tensor, ahead: int | None) -> torch.Tensor:
        a = self.st_t(self.st_s(x), ahead)
        b = self.ts_s(self.ts_t(x, ahead))
        return self.mix(a, b)

    def step_rows(self, h: torch.Tensor, B: int, rings: list[torch.Tensor], delayed: list[torch.Tensor] | None,
                  bias: torch.Tensor, ring_mask: torch.Tensor):
        """h [B*J, C], the newest input frame; rings = [k_st, v_st, k_ts, v_ts]; delayed = the two
        temporal blocks' inputs `lookahead` frames back (None: causal) -> (output rows of the query
        frame, the new frame's 4 key/value rows, the 2 inputs to delay for later queries)."""
        s = self.st_s.step_rows(h, B)
        sq, hq = delayed if delayed is not None else (None, None)
        a, k1, v1 = self.st_t.step_rows(s, sq, rings[0], rings[1], bias, ring_mask)
        t, k2, v2 = self.ts_t.step_rows(h, hq, rings[2], rings[3], bias, ring_mask)
        return self.mix(a, self.ts_s.step_rows(t, B)), [k1, v1, k2, v2], [s, h]


class DSTformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.in_channels, cfg.dim)
        self.joint_pos = nn.Parameter(torch.zeros(NUM_JOINTS, cfg.dim))
        self.mode = nn.Parameter(torch.zeros(cfg.modes, cfg.dim))  # 0: full window, 1: causal, 2: ahead
        self.layers = nn.ModuleList(DualStreamLayer(cfg) for _ in range(cfg.depth))
        self.ln = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, 3 * cfg.n_heads)
        nn.init.trunc_normal_(self.joint_pos, std=0.02)
        nn.init.trunc_normal_(self.mode, std=0.02)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _mode(self, causal: bool, ahead: bool) -> tuple[int, int | None]:
        """(mode embedding row, per-layer look-ahead for the attention mask; None: full window)."""
        if ahead:
            if not self.cfg.lookahead:
                raise ValueError("this model has no ahead mode (lookahead 0)")
            return 2, self.cfg.lookahead
        return (1, 0) if causal else (0, None)

    def tokens(self, x: torch.Tensor, mode: int) -> torch.Tensor:
        return self.embed(x) + self.joint_pos + self.mode[mode]

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        out = self.head(self.ln(h))
        return out.view(*out.shape[:-1], self.cfg.n_heads, 3)

    def forward(self, x: torch.Tensor, causal: bool = False, ahead: bool = False) -> torch.Tensor:
        """x [B, T, J, 4] -> [B, T, J, H, 3]. causal: no future frames; ahead: `lookahead` future
        frames per layer (head k of frame t then describes frame t - k, from frames up to
        t + depth x lookahead)."""
        return self.readout(self.trunk(x, causal, ahead))

    def trunk(self, x: torch.Tensor, causal: bool = False, ahead: bool = False) -> torch.Tensor:
        """The features every head reads: x [B, T, J, 4] -> [B, T, J, C] (before the final norm)."""
        mode, look = self._mode(causal, ahead)
        h = self.tokens(x, mode)
        for layer in self.layers:
            h = layer(h, look)
        return h

    def stream_output(self, x: torch.Tensor, lag: int) -> torch.Tensor:
        """What a stream at lag `lag` publishes, for whole sequences x [B, T, J, 4] -> [B, T - lag, J, 3]
        (row t: frame t, pelvis-relative), from the trunk and head `cfg.stream_head` picks."""
        ahead, k = self.cfg.stream_head(lag)
        out = self(x, causal=True, ahead=ahead)[..., k, :]
        # head k at row t describes frame t - k; a stream has published frames 0..T-1-lag
        return rezero(out[:, k: k + x.shape[1] - lag])

    def lead_output(self, x: torch.Tensor, lead: int) -> torch.Tensor:
        """What a causal stream forecasts `lead` frames ahead, x [B, T, J, 4] -> [B, T, J, 3] (row t:
        frame t + lead, pelvis-relative, in the canonical frame of frame t)."""
        return rezero(self(x, causal=True)[..., self.cfg.lead_head(lead), :])

    # --- cached inference (causal and ahead modes) ----------------------------------------------
    def empty_state(self, batch: int = 1, device=None, dtype=torch.float32, ahead: bool = False) -> "RingState":
        c = self.cfg
        a = c.lookahead if ahead else 0
        ring = (batch * NUM_JOINTS, c.heads, c.window + a, c.dim // c.heads)
        delay = (a, batch * NUM_JOINTS, c.dim)
        return RingState([torch.zeros(ring, device=device, dtype=dtype) for _ in range(4 * c.depth)],
                         [torch.zeros(delay, device=device, dtype=dtype) for _ in range(2 * c.depth if a else 0)],
                         0)

    def step_rows(self, x: torch.Tensor, rings: list[torch.Tensor], delayed: list[torch.Tensor],
                  offsets: torch.Tensor, ring_mask: torch.Tensor) -> tuple[torch.Tensor, list, list]:
        """The pure one-frame step (what ONNX/TensorRT run). x [B, J, 4]; rings (4 per layer);
        delayed: the temporal blocks' input rows `lookahead` frames back, 2 per layer [B*J, C]
        (empty: causal); offsets [R + 1]: rel_bias index of each ring slot's key and of the new one;
        ring_mask [depth, B, R]: keys each layer may see. -> (out [B, J, H, 3], the 4*depth new
        key/value rows [B*J, H, 1, d], the 2*depth rows to delay [B*J, C])."""
        B = x.shape[0]
        ahead = len(delayed) > 0
        h = self.tokens(x, 2 if ahead else 1).reshape(B * NUM_JOINTS, self.cfg.dim)
        rows: list[torch.Tensor] = []
        keep: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            mask = ring_mask[i].repeat_interleave(NUM_JOINTS, dim=0)[:, None, None, :]
            d = delayed[2 * i: 2 * i + 2] if ahead else None
            h, r, k = layer.step_rows(h, B, rings[4 * i: 4 * i + 4], d, offsets, mask)
            rows += r
            keep += k
        return self.readout(h).view(B, NUM_JOINTS, self.cfg.n_heads, 3), rows, keep

    def step(self, x: torch.Tensor, state: "RingState") -> torch.Tensor:
        """One new frame per track, caches updated in place: x [B, J, 4] -> [B, J, H, 3].

        Identical to forward(causal=True) (or ahead=True: for the frame depth x lookahead back)
        over the same history, at one frame's cost."""
        offsets, ring_mask, delayed = state.inputs(self.cfg.window, self.cfg.depth, x.shape[0])
        out, rows, keep = self.step_rows(x, state.rings, delayed, offsets, ring_mask)
        state.push(rows, keep)
        return out


@dataclass
class RingState:
    """A track's cache for the cached step: per temporal block a ring of the last R = W + lookahead
    keys/values, per layer the last `lookahead` input rows of its two temporal blocks (ahead mode),
    and how many frames it has seen. numpy arrays (onnxruntime) or torch tensors, updated in place.

    Layer l's newest key is for the frame l x lookahead before the newest input, so its keys become
    valid that many frames after the track starts; earlier slots stay masked."""
    rings: list  # 4 * depth arrays [B*J, H, R, d]
    delays: list  # 2 * depth arrays [lookahead, B*J, C]; empty in causal mode
    count: int  # frames pushed

    @property
    def lookahead(self) -> int:
        return self.delays[0].shape[0] if self.delays else 0

    def inputs(self, W: int, depth: int, batch: int = 1):
        """offsets [R + 1], ring_mask [depth, B, R] and the delayed query rows for the next step."""
        a, R, c = self.lookahead, self.rings[0].shape[2], self.count
        age = (c - np.arange(R)) % R  # frames since each slot was written (0: the slot written next)
        offsets = W - 1 - a + np.append(age, 0)
        # a slot holds a key layer l may use: written before (age >= 1), for a frame of this track
        # (layer l's inputs start l x lookahead frames after the track), inside the window (age < R)
        ring_mask = (age >= 1) & (age <= c - a * np.arange(depth)[:, None])
        ring_mask = np.repeat(ring_mask[:, None, :], batch, axis=1)
        delayed = [d[c % a] for d in self.delays] if a else []
        if isinstance(self.rings[0], torch.Tensor):
            dev = self.rings[0].device
            return torch.from_numpy(offsets).to(dev), torch.from_numpy(ring_mask).to(dev), delayed
        return offsets.astype(np.int64), ring_mask, delayed

    def push(self, rows: list, keep: list) -> None:
        slot = self.count % self.rings[0].shape[2]
        for ring, row in zip(self.rings, rows):
            ring[:, :, slot] = row[:, :, 0]
        if self.delays:
            d = self.count % self.lookahead
            for buf, row in zip(self.delays, keep):
                buf[d] = row
        self.count += 1

    def numpy(self) -> "RingState":
        f = (lambda a: a.detach().cpu().numpy().copy()) if isinstance(self.rings[0], torch.Tensor) else np.copy
        return RingState([f(r) for r in self.rings], [f(d) for d in self.delays], self.count)
