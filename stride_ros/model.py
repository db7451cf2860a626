"""DSTformer (MotionBERT's dual-stream spatio-temporal transformer), the STRIDE motion prior.

Input  [B, T, 17, 4]: per frame, joints relative to that frame's pelvis (metres) + confidence
       (0 = missing; a missing joint's position is 0). See representation.py for why.
Output [B, T, 17, L+1, 3]: pelvis-relative refined joints. Lag head k of frame t is the pose of
       frame t-k; in full (bidirectional) mode only k = 0 is used.

Two deliberate departures from MotionBERT, both for streaming:
- temporal position is a learned *relative* bias per head (offset -W+1..W-1) instead of an absolute
  embedding, so a frame's features do not depend on where it sits in a window;
- temporal attention can run causally over the last W frames; then the features of past frames
  never change and `step` caches their keys/values: one new frame costs one frame of compute.
  The lag heads turn the same causal trunk into a fixed-lag smoother (lag k sees k future frames).
One set of weights serves both modes (a learned mode embedding tells the trunk which it is in).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .skeleton import NUM_JOINTS


@dataclass(frozen=True)
class ModelConfig:
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    window: int = 81  # frames a token may attend to (both modes)
    max_lag: int = 16  # causal lag heads 0..max_lag
    in_channels: int = 4

    def to_dict(self) -> dict:
        return asdict(self)


CONFIGS: dict[str, ModelConfig] = {
    # as published (MotionBERT/STRIDE): ~42.5 M parameters
    "paper": ModelConfig(dim=512, depth=5, heads=8, mlp_ratio=2.0, window=243),
    # chosen by measurement for a 2-core CPU (see models/MODEL_CARD.md)
    "small": ModelConfig(dim=64, depth=4, heads=4, mlp_ratio=2.0, window=81),
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

    def bias(self, T: int, causal: bool, device) -> torch.Tensor:
        i = torch.arange(T, device=device)
        off = i[:, None] - i[None, :]  # query minus key
        allowed = off.abs() < self.window
        if causal:
            allowed = allowed & (off >= 0)
        b = self.rel_bias[:, (off + self.window - 1).clamp(0, 2 * self.window - 2)]
        return b.masked_fill(~allowed, float("-inf"))  # [H, T, T]

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:  # [B, T, J, C]
        B, T, J, C = x.shape
        y = x.permute(0, 2, 1, 3).reshape(B * J, T, C)
        y = y + self.attn(self.ln1(y), self.bias(T, causal, x.device))
        y = y + self.mlp(self.ln2(y))
        return y.view(B, J, T, C).permute(0, 2, 1, 3)

    def step_rows(self, y: torch.Tensor, k_ring: torch.Tensor, v_ring: torch.Tensor, bias: torch.Tensor,
                  ring_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One new frame, rows y [B*J, C], against the ring of cached keys/values [B*J, H, W, d].

        bias [W + 1]: rel_bias index of each slot's age, then the new frame's (offset 0);
        ring_mask [B*J, 1, 1, W]: slots holding a frame inside the window. The new frame's
        key/value are attended separately and returned (not concatenated): the caller writes them
        into the ring, so nothing big is ever copied.
        """
        N, C = y.shape
        H = self.attn.heads
        q, k, v = self.attn.qkv(self.ln1(y)).view(N, 3, H, 1, C // H).unbind(1)  # each [B*J, H, 1, d]
        scale = q.shape[-1] ** -0.5
        b = self.rel_bias[:, bias][None, :, None, :]
        s_ring = ((q @ k_ring.transpose(-1, -2)) * scale + b[..., :-1]).masked_fill(~ring_mask, float("-inf"))
        s_new = (q * k).sum(-1, keepdim=True) * scale + b[..., -1:]
        p = torch.cat([s_ring, s_new], dim=-1).softmax(dim=-1)
        o = p[..., :-1] @ v_ring + p[..., -1:] * v
        y = y + self.attn.proj(o.reshape(N, C))
        y = y + self.mlp(self.ln2(y))
        return y, k, v


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

    def forward(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        a = self.st_t(self.st_s(x), causal)
        b = self.ts_s(self.ts_t(x, causal))
        return self.mix(a, b)

    def step_rows(self, h: torch.Tensor, B: int, rings: list[torch.Tensor], bias: torch.Tensor,
                  ring_mask: torch.Tensor):
        """h [B*J, C]; rings = [k_st, v_st, k_ts, v_ts] -> (h, the new frame's 4 rows)."""
        a, k1, v1 = self.st_t.step_rows(self.st_s.step_rows(h, B), rings[0], rings[1], bias, ring_mask)
        t, k2, v2 = self.ts_t.step_rows(h, rings[2], rings[3], bias, ring_mask)
        return self.mix(a, self.ts_s.step_rows(t, B)), [k1, v1, k2, v2]


class DSTformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.in_channels, cfg.dim)
        self.joint_pos = nn.Parameter(torch.zeros(NUM_JOINTS, cfg.dim))
        self.mode = nn.Parameter(torch.zeros(2, cfg.dim))  # 0: full window, 1: causal
        self.layers = nn.ModuleList(DualStreamLayer(cfg) for _ in range(cfg.depth))
        self.ln = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, 3 * (cfg.max_lag + 1))
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

    def tokens(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        return self.embed(x) + self.joint_pos + self.mode[int(causal)]

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        out = self.head(self.ln(h))
        return out.view(*out.shape[:-1], self.cfg.max_lag + 1, 3)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        """x [B, T, J, 4] -> [B, T, J, L+1, 3]."""
        h = self.tokens(x, causal)
        for layer in self.layers:
            h = layer(h, causal)
        return self.readout(h)

    # --- cached causal inference -------------------------------------------------------------
    def empty_state(self, batch: int = 1, device=None, dtype=torch.float32) -> "RingState":
        c = self.cfg
        shape = (batch * NUM_JOINTS, c.heads, c.window, c.dim // c.heads)
        return RingState([torch.zeros(shape, device=device, dtype=dtype) for _ in range(4 * c.depth)],
                         torch.zeros(batch, c.window, dtype=torch.bool, device=device), 0)

    def step_rows(self, x: torch.Tensor, rings: list[torch.Tensor], offsets: torch.Tensor,
                  ring_mask: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The pure one-frame step (what ONNX/TensorRT run): x [B, J, 4], rings, offsets [W],
        ring_mask [B, W] -> (out [B, J, L+1, 3], the 4*depth new key/value rows [B*J, H, 1, d])."""
        B = x.shape[0]
        mask = ring_mask.repeat_interleave(NUM_JOINTS, dim=0)[:, None, None, :]
        bias = torch.cat([offsets, offsets.new_full((1,), self.cfg.window - 1)])  # the ring's ages, then 0
        h = self.tokens(x, causal=True).reshape(B * NUM_JOINTS, self.cfg.dim)
        rows: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            h, r = layer.step_rows(h, B, rings[4 * i: 4 * i + 4], bias, mask)
            rows += r
        return self.readout(h).view(B, NUM_JOINTS, self.cfg.max_lag + 1, 3), rows

    def step(self, x: torch.Tensor, state: "RingState") -> torch.Tensor:
        """One new frame per track, caches updated in place: x [B, J, 4] -> [B, J, L+1, 3].

        Identical to forward(causal=True) over the same history, at one frame's cost."""
        offsets, ring_mask = ring_inputs(state.filled, state.slot, self.cfg.window)
        out, rows = self.step_rows(x, state.rings, offsets, ring_mask)
        state.push(rows)
        return out


def ring_inputs(filled, slot: int, W: int):
    """offsets [W] (rel_bias index of each slot's age) and the mask of slots inside the window.

    The slot about to be written holds the frame W back, just outside the window: masked."""
    lib = torch if isinstance(filled, torch.Tensor) else np
    ar = lib.arange(W, device=filled.device) if lib is torch else np.arange(W)
    offsets = W - 1 + (slot - ar) % W
    ring_mask = filled & (ar != slot)
    return offsets, ring_mask


@dataclass
class RingState:
    """A track's cached keys/values of the causal model: ring buffers over the last W frames.

    Works with torch tensors or numpy arrays (onnxruntime), updated in place by push()."""
    rings: list  # 4 * depth arrays [B*J, H, W, d]
    filled: object  # [B, W] bool
    slot: int  # where the next frame goes

    def push(self, rows: list) -> None:
        for ring, row in zip(self.rings, rows):
            ring[:, :, self.slot] = row[:, :, 0]
        self.filled[:, self.slot] = True
        self.slot = (self.slot + 1) % self.filled.shape[1]

    def numpy(self) -> "RingState":
        f = (lambda a: a.detach().cpu().numpy().copy()) if isinstance(self.filled, torch.Tensor) else np.copy
        return RingState([f(r) for r in self.rings], f(self.filled), self.slot)
