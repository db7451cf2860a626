"""ONNX export of the prior: the full-window graph (offline) and the one-frame cached step (streaming).

The step graph takes the new frame, the ring-slot offsets and mask, and the 4*depth key/value ring
buffers, and returns the lag-head output and the new frame's key/value rows (written into the
rings by the caller), so onnxruntime and TensorRT run the same computation as DSTformer.step. Weights are graph initializers with stable names
(the torch parameter names): TensorRT's refitter updates them by name after an adaptation.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .model import DSTformer, ring_inputs
from .skeleton import NUM_JOINTS

OPSET = 17


class _Step(nn.Module):
    def __init__(self, model: DSTformer):
        super().__init__()
        self.model = model

    def forward(self, x, offsets, ring_mask, *rings):
        out, rows = self.model.step_rows(x, list(rings), offsets, ring_mask)
        return (out, *rows)


class _Full(nn.Module):
    def __init__(self, model: DSTformer, causal: bool):
        super().__init__()
        self.model, self.causal = model, causal

    def forward(self, x):
        return self.model(x, causal=self.causal)


def step_io_names(model: DSTformer) -> tuple[list[str], list[str]]:
    n = 4 * model.cfg.depth
    return (["x", "offsets", "ring_mask"] + [f"ring_{i}" for i in range(n)],
            ["out"] + [f"row_{i}" for i in range(n)])


WEIGHT_PREFIX = "model."  # graph names of the weights: the torch parameter names under this prefix


def export_step(model: DSTformer, path: str | Path | None = None, batch: int = 1,
                weights_as_inputs: bool = False) -> bytes:
    """Export the cached one-frame step; batch (tracks) is a dynamic axis. Returns the model bytes.

    weights_as_inputs: every weight is also a graph input (named WEIGHT_PREFIX + torch name), so one
    onnxruntime session runs any adapted weights fed at run time (measured: no slower per step).
    """
    model = model.eval()
    cfg = model.cfg
    x = torch.zeros(batch, NUM_JOINTS, cfg.in_channels)
    st = model.empty_state(batch)
    offsets, ring_mask = ring_inputs(st.filled, 0, cfg.window)
    ins, outs = step_io_names(model)
    dyn = {"x": {0: "tracks"}, "ring_mask": {0: "tracks"}, "out": {0: "tracks"}}
    for i in range(len(st.rings)):
        dyn[f"ring_{i}"] = {0: "tracks_x_joints"}
        dyn[f"row_{i}"] = {0: "tracks_x_joints"}
    return _export(_Step(model), (x, offsets, ring_mask, *st.rings), ins, outs, dyn, path, weights_as_inputs)


def weight_feed(state_dict: dict, graph_inputs: set[str]) -> dict[str, np.ndarray]:
    """Torch weights -> the step graph's weight inputs."""
    feed = {WEIGHT_PREFIX + k: v.detach().cpu().numpy() for k, v in state_dict.items()}
    return {k: np.ascontiguousarray(v, np.float32) for k, v in feed.items() if k in graph_inputs}


def export_full(model: DSTformer, path: str | Path | None = None, causal: bool = False) -> bytes:
    """Export the whole-window forward ([B, T, 17, 4] -> [B, T, 17, L+1, 3]), B and T dynamic."""
    model = model.eval()
    x = torch.zeros(1, model.cfg.window, NUM_JOINTS, model.cfg.in_channels)
    dyn = {"x": {0: "batch", 1: "frames"}, "out": {0: "batch", 1: "frames"}}
    return _export(_Full(model, causal), (x,), ["x"], ["out"], dyn, path)


def _export(module: nn.Module, args: tuple, ins: list[str], outs: list[str], dyn: dict,
            path: str | Path | None, weights_as_inputs: bool = False) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, input_names=ins, output_names=outs, dynamic_axes=dyn,
                          opset_version=OPSET, dynamo=False, do_constant_folding=not weights_as_inputs,
                          keep_initializers_as_inputs=weights_as_inputs)
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
