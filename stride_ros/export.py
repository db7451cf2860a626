"""ONNX export of the prior: the full-window graph (offline) and the one-frame cached step (streaming).

The step graph takes the new frame, the cache-slot mask and the 4*depth key/value caches, and
returns the lag-head output, the new mask and the new caches, so onnxruntime and TensorRT run the
same incremental computation as DSTformer.step. Weights are graph initializers with stable names
(the torch parameter names): TensorRT's refitter updates them by name after an adaptation.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .model import DSTformer
from .skeleton import NUM_JOINTS

OPSET = 17


class _Step(nn.Module):
    def __init__(self, model: DSTformer):
        super().__init__()
        self.model = model

    def forward(self, x, filled, *cache):
        out, new_cache, new_filled = self.model.step(x, list(cache), filled)
        return (out, new_filled, *new_cache)


class _Full(nn.Module):
    def __init__(self, model: DSTformer, causal: bool):
        super().__init__()
        self.model, self.causal = model, causal

    def forward(self, x):
        return self.model(x, causal=self.causal)


def step_io_names(model: DSTformer) -> tuple[list[str], list[str]]:
    n = 4 * model.cfg.depth
    return (["x", "filled"] + [f"cache_{i}" for i in range(n)],
            ["out", "filled_out"] + [f"cache_out_{i}" for i in range(n)])


def export_step(model: DSTformer, path: str | Path | None = None, batch: int = 1) -> bytes:
    """Export the cached one-frame step; batch (tracks) is a dynamic axis. Returns the model bytes."""
    model = model.eval()
    cfg = model.cfg
    x = torch.zeros(batch, NUM_JOINTS, cfg.in_channels)
    filled = torch.zeros(batch, cfg.window - 1, dtype=torch.bool)
    cache = model.empty_cache(batch)
    ins, outs = step_io_names(model)
    dyn = {"x": {0: "tracks"}, "filled": {0: "tracks"}, "out": {0: "tracks"}, "filled_out": {0: "tracks"}}
    for i in range(len(cache)):
        dyn[f"cache_{i}"] = {0: "tracks_x_joints"}
        dyn[f"cache_out_{i}"] = {0: "tracks_x_joints"}
    return _export(_Step(model), (x, filled, *cache), ins, outs, dyn, path)


def export_full(model: DSTformer, path: str | Path | None = None, causal: bool = False) -> bytes:
    """Export the whole-window forward ([B, T, 17, 4] -> [B, T, 17, L+1, 3]), B and T dynamic."""
    model = model.eval()
    x = torch.zeros(1, model.cfg.window, NUM_JOINTS, model.cfg.in_channels)
    dyn = {"x": {0: "batch", 1: "frames"}, "out": {0: "batch", 1: "frames"}}
    return _export(_Full(model, causal), (x,), ["x"], ["out"], dyn, path)


def _export(module: nn.Module, args: tuple, ins: list[str], outs: list[str], dyn: dict,
            path: str | Path | None) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, input_names=ins, output_names=outs, dynamic_axes=dyn,
                          opset_version=OPSET, dynamo=False, do_constant_folding=True)
    data = buf.getvalue()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return data


def parity(model: DSTformer, onnx_bytes: bytes, x: np.ndarray, causal: bool = False) -> float:
    """Max |onnxruntime - torch| in metres for the full-window graph on input x [B, T, 17, 4]."""
    import onnxruntime as ort
    sess = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    got = sess.run(None, {"x": x.astype(np.float32)})[0]
    with torch.no_grad():
        want = model(torch.from_numpy(x), causal=causal).numpy()
    return float(np.abs(got - want).max())
