# SPDX-License-Identifier: MIT
"""ONNX export of the prior: the full-window graph (offline) and the one-frame cached step (streaming).

The step graph takes the new frame, the ring-slot offsets and per-layer masks, the 4*depth
key/value ring buffers and (ahead mode) the 2*depth delayed query rows, and returns the lag-head
output, the new frame's key/value rows and (ahead mode) the rows to delay, all written into the
state by the caller (RingState.push), so onnxruntime and TensorRT run the same computation as
DSTformer.step. Weights are graph initializers with stable names (the torch parameter names):
TensorRT's refitter updates them by name after an adaptation.
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..core.skeleton import NUM_JOINTS
from .dstformer import DSTformer

OPSET = 17


class _Step(nn.Module):
    def __init__(self, model: DSTformer, ahead: bool):
        super().__init__()
        self.model, self.ahead = model, ahead

    def forward(self, x, offsets, ring_mask, *state):
        n = 4 * self.model.cfg.depth
        out, rows, keep = self.model.step_rows(x, list(state[:n]), list(state[n:]), offsets, ring_mask)
        return (out, *rows, *(keep if self.ahead else []))


class _Full(nn.Module):
    def __init__(self, model: DSTformer, causal: bool):
        super().__init__()
        self.model, self.causal = model, causal

    def forward(self, x):
        return self.model(x, causal=self.causal)


def step_io_names(model: DSTformer, ahead: bool = False) -> tuple[list[str], list[str]]:
    n, m = 4 * model.cfg.depth, (2 * model.cfg.depth if ahead else 0)
    return (["x", "offsets", "ring_mask"] + [f"ring_{i}" for i in range(n)] + [f"delayed_{i}" for i in range(m)],
            ["out"] + [f"row_{i}" for i in range(n)] + [f"keep_{i}" for i in range(m)])


WEIGHT_PREFIX = "model."  # graph names of the weights: the torch parameter names under this prefix


def step_example(model: DSTformer, ahead: bool = False, batch: int = 1) -> dict[str, torch.Tensor]:
    """Example inputs of the step graph, by input name (their shapes are the graph's)."""
    cfg = model.cfg
    st = model.empty_state(batch, ahead=ahead)
    offsets, ring_mask, delayed = st.inputs(cfg.window, cfg.depth, batch)
    values = [torch.zeros(batch, NUM_JOINTS, cfg.in_channels), offsets, ring_mask, *st.rings, *delayed]
    return dict(zip(step_io_names(model, ahead)[0], values))


def export_step(model: DSTformer, path: str | Path | None = None, batch: int = 1, dynamic: bool = True,
                ahead: bool = False) -> bytes:
    """Export the cached one-frame step (causal, or ahead mode). Returns the model bytes.

    Weights stay initializers named WEIGHT_PREFIX + torch name (no constant folding at export:
    onnxruntime and TensorRT fold at load), so other weights can be swapped in by name
    (with_weights) or refitted (TensorRT). dynamic: batch (tracks) is a dynamic axis; a static
    one-track graph lets onnxruntime fold every shape computation (measured: 0.58 x the time per step).
    """
    model = model.eval()
    example = step_example(model, ahead, batch)
    ins, outs = step_io_names(model, ahead)
    dyn = None
    if dynamic:
        dyn = {"x": {0: "tracks"}, "ring_mask": {1: "tracks"}, "out": {0: "tracks"}}
        for name in ins[3:] + outs[1:]:
            dyn[name] = {0: "tracks_x_joints"}
    return _export(_Step(model, ahead), tuple(example.values()), ins, outs, dyn, path, fold=False)


def with_initializers(proto, state_dict: dict) -> bytes:
    """A step graph (onnx ModelProto) with other weights: initializers replaced by torch name."""
    from onnx import numpy_helper
    m = type(proto)()
    m.CopyFrom(proto)
    names = set()
    for init in m.graph.initializer:
        key = init.name[len(WEIGHT_PREFIX):] if init.name.startswith(WEIGHT_PREFIX) else None
        if key in state_dict:
            names.add(key)
            arr = np.ascontiguousarray(state_dict[key].detach().cpu().numpy(), np.float32)
            init.CopyFrom(numpy_helper.from_array(arr, init.name))
    missing = [k for k, v in state_dict.items() if v.is_floating_point() and k not in names]
    if missing:
        raise ValueError(f"step graph has no initializer for {len(missing)} weights, e.g. {missing[:3]}")
    return m.SerializeToString()


def export_full(model: DSTformer, path: str | Path | None = None, causal: bool = False) -> bytes:
    """Export the whole-window forward ([B, T, 17, 4] -> [B, T, 17, L+1, 3]), B and T dynamic."""
    model = model.eval()
    x = torch.zeros(1, model.cfg.window, NUM_JOINTS, model.cfg.in_channels)
    dyn = {"x": {0: "batch", 1: "frames"}, "out": {0: "batch", 1: "frames"}}
    return _export(_Full(model, causal), (x,), ["x"], ["out"], dyn, path, fold=True)


def _export(module: nn.Module, args: tuple, ins: list[str], outs: list[str], dyn: dict | None,
            path: str | Path | None, fold: bool) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, buf, input_names=ins, output_names=outs, dynamic_axes=dyn,
                          opset_version=OPSET, dynamo=False, do_constant_folding=fold)
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
