# SPDX-License-Identifier: MIT
"""Inference backends for the streaming refiner's one-frame cached step.

A *runner* executes `step` with one fixed set of weights; a *backend* builds runners from a torch
model. The adaptation worker builds a runner for adapted weights off the frame path, and the
frame path swaps the reference: the weights a running step uses are never modified in place.

- torch: CPU or CUDA (fp32; the CUDA path has not run on a GPU here).
- onnx: onnxruntime on CPU, from the exported step graph (export.py).
- tensorrt: an engine built from the same ONNX with the REFIT flag; adapted weights are refitted
  into a copy of the engine instead of rebuilding it. TensorRT cannot be installed on the machines
  this was developed on: that path is written against the TensorRT 10 Python API and is UNVERIFIED
  (never run); it is never the default.
"""
from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any, Protocol

import numpy as np
import torch

from . import BACKEND_KINDS
from .dstformer import DSTformer, RingState
from .export import export_step, step_io_names, with_initializers


class Runner(Protocol):
    name: str
    ahead: bool  # the trunk it steps: causal, or ahead (see model.py)

    def empty_state(self) -> Any: ...

    def step(self, x: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """x [1, 17, 4] -> (out [1, 17, H, 3], new state)."""
        ...

    def with_weights(self, state_dict: dict) -> "Runner":
        """A runner of the same kind for other (adapted) weights; this one is left untouched."""
        ...

    def state_from_canonical(self, state: RingState) -> Any:
        """This backend's state from a numpy RingState (made by another process)."""
        ...


def canonical_cache(state: RingState) -> RingState:
    """The backend-neutral cache that crosses processes: the ring state as numpy arrays."""
    return state.numpy()


def _state_on(state: RingState, convert) -> RingState:
    return RingState([convert(r) for r in state.rings], [convert(d) for d in state.delays], state.count)


# --- torch ------------------------------------------------------------------------------------

class TorchRunner:
    name = "torch"

    def __init__(self, model: DSTformer, device: str = "cpu", ahead: bool = False):
        self.ahead = ahead
        self.device = torch.device(device)
        self.model = copy.deepcopy(model).to(self.device).eval()
        self.W = model.cfg.window

    def with_weights(self, state_dict: dict) -> "TorchRunner":
        m = copy.deepcopy(self.model).cpu()
        m.load_state_dict(state_dict)
        return TorchRunner(m, str(self.device), self.ahead)

    def empty_state(self) -> RingState:
        return self.model.empty_state(1, self.device, ahead=self.ahead)

    def state_from_canonical(self, state: RingState) -> RingState:
        return _state_on(state, lambda a: torch.from_numpy(a).to(self.device))

    @torch.no_grad()
    def step(self, x: np.ndarray, state: RingState):
        """The ring buffers are updated in place: a state belongs to one track."""
        out = self.model.step(torch.from_numpy(x).to(self.device), state)
        return out.cpu().numpy(), state


# --- onnxruntime ------------------------------------------------------------------------------

_STEP_GRAPHS: dict[str, Any] = {}


def step_graph(model: DSTformer, state_dict: dict | None = None, ahead: bool = False) -> bytes:
    """The static one-track step graph carrying `state_dict` (default: the model's own weights).

    Tracing costs seconds, so it runs once per configuration and process (evaluation and tests
    build many runners of one model); other weights are swapped into the named initializers in
    milliseconds."""
    import onnx
    key = repr((sorted(replace(model.cfg, ahead_from=0).to_dict().items()), ahead))  # the graph, not the trunk choice
    if key not in _STEP_GRAPHS:
        _STEP_GRAPHS[key] = onnx.load_from_string(export_step(model, dynamic=False, ahead=ahead))
    return with_initializers(_STEP_GRAPHS[key], state_dict if state_dict is not None else model.state_dict())


class OrtRunner:
    """One onnxruntime session per set of weights, built from the static step graph with the
    weights as constants: onnxruntime folds and fuses them at load. Feeding weights as inputs to
    one shared session measured 1.7 x slower per step; a new session for adapted
    weights costs ~0.2 s of mostly GIL-free work, off the frame path (the adaptation receiver)."""
    name = "onnx"

    def __init__(self, model: DSTformer, threads: int = 1, state_dict: dict | None = None, ahead: bool = False):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self.session = ort.InferenceSession(step_graph(model, state_dict, ahead), so,
                                            providers=["CPUExecutionProvider"])
        self.ahead = ahead
        self.threads = threads
        self.W = model.cfg.window
        self.cfg_model = model
        for _ in range(2):  # onnxruntime plans memory on the first runs (2 x a step): not on the frame path
            self.step(np.zeros((1, 17, 4), np.float32), self.empty_state())

    def with_weights(self, state_dict: dict) -> "OrtRunner":
        return OrtRunner(self.cfg_model, self.threads, state_dict, self.ahead)

    def empty_state(self) -> RingState:
        return self.cfg_model.empty_state(1, ahead=self.ahead).numpy()

    def state_from_canonical(self, state: RingState) -> RingState:
        return _state_on(state, lambda a: np.ascontiguousarray(a, np.float32))

    def step(self, x: np.ndarray, state: RingState):
        """Rings are fed without copies (numpy buffers) and updated in place with the new rows."""
        offsets, ring_mask, delayed = state.inputs(self.W, self.cfg_model.cfg.depth)
        feed = {"x": x.astype(np.float32, copy=False), "offsets": offsets, "ring_mask": ring_mask}
        feed.update({f"ring_{i}": r for i, r in enumerate(state.rings)})
        feed.update({f"delayed_{i}": d for i, d in enumerate(delayed)})
        res = self.session.run(None, feed)
        n = len(state.rings)
        state.push(res[1:1 + n], res[1 + n:])
        return res[0], state


# --- TensorRT (UNVERIFIED: written against the TensorRT 10 API, never run here) ----------------

def tensorrt_available() -> tuple[bool, str]:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False, "the tensorrt Python package is not installed"
    if not torch.cuda.is_available():
        return False, "no CUDA device"
    return True, "ok"


class TensorRTEngine:  # pragma: no cover - needs TensorRT and a GPU
    """Builds a refittable engine once from the static ONNX step graph; refits copies with new weights."""

    def __init__(self, model: DSTformer, fp16: bool = True, ahead: bool = False):
        import onnx
        import tensorrt as trt
        self.trt, self.ahead = trt, ahead
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.onnx = export_step(model, dynamic=False, ahead=ahead)  # static shapes: no optimisation profile
        self.proto = onnx.load_from_string(self.onnx)  # adapted weights are swapped in by name
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(self.onnx):
            raise RuntimeError("TensorRT could not parse the step graph: "
                               + "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)))
        config = builder.create_builder_config()
        config.set_flag(trt.BuilderFlag.REFIT)
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        self.plan = builder.build_serialized_network(network, config)
        if self.plan is None:
            raise RuntimeError("TensorRT engine build failed")
        self.runtime = trt.Runtime(self.logger)

    def runner(self, model: DSTformer) -> "TensorRTRunner":
        """A fresh engine copy with `model`'s weights refitted in (off the frame path).

        Adapted weights arrive as a state dict: TensorRTRunner.with_weights loads them into a copy
        of the model and comes back here, so the engine is refitted, never rebuilt."""
        trt = self.trt
        engine = self.runtime.deserialize_cuda_engine(self.plan)
        refitter = trt.Refitter(engine, self.logger)
        parser_refitter = trt.OnnxParserRefitter(refitter, self.logger)
        if not parser_refitter.refit_from_bytes(with_initializers(self.proto, model.state_dict())):
            raise RuntimeError("TensorRT refit from the adapted ONNX weights failed")
        if not refitter.refit_cuda_engine():
            raise RuntimeError("TensorRT refit_cuda_engine failed")
        return TensorRTRunner(engine, model, self)


class TensorRTRunner:  # pragma: no cover - needs TensorRT and a GPU
    name = "tensorrt"

    def __init__(self, engine, model: DSTformer, builder: TensorRTEngine):
        self.engine, self.builder, self.model, self.ahead = engine, builder, model, builder.ahead
        self.context = engine.create_execution_context()
        self.W = model.cfg.window
        self.stream = torch.cuda.Stream()
        self.out = torch.empty((1, 17, model.cfg.n_heads, 3), device="cuda")
        row = (17, model.cfg.heads, 1, model.cfg.dim // model.cfg.heads)
        self.rows = [torch.empty(row, device="cuda") for _ in range(4 * model.cfg.depth)]
        n_keep = 2 * model.cfg.depth if self.ahead else 0
        self.keep = [torch.empty(17, model.cfg.dim, device="cuda") for _ in range(n_keep)]
        self.names = sum(step_io_names(model, self.ahead), [])  # inputs, then outputs

    def empty_state(self) -> RingState:
        return self.model.empty_state(1, device="cuda", ahead=self.ahead)

    def with_weights(self, state_dict: dict) -> "TensorRTRunner":
        m = copy.deepcopy(self.model)
        m.load_state_dict(state_dict)
        return self.builder.runner(m)

    def state_from_canonical(self, state: RingState) -> RingState:
        return _state_on(state, lambda a: torch.from_numpy(a).cuda())

    def step(self, x: np.ndarray, state: RingState):
        offsets, ring_mask, delayed = state.inputs(self.W, self.model.cfg.depth)
        values = [torch.from_numpy(x).cuda(), offsets, ring_mask, *state.rings, *delayed,
                  self.out, *self.rows, *self.keep]
        bound = [v.contiguous() for v in values]  # kept alive until the stream is done
        for name, t in zip(self.names, bound):
            self.context.set_tensor_address(name, t.data_ptr())
        self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()
        state.push(self.rows, self.keep)
        return self.out.cpu().numpy(), state


# --- factory ------------------------------------------------------------------------------------

def _has_onnxruntime() -> bool:
    import importlib.util
    return importlib.util.find_spec("onnxruntime") is not None


class Backend:
    """Builds runners of one kind. `runner(model)` may take a second (export): call it off the frame path."""

    def __init__(self, kind: str = "auto", device: str = "cpu", threads: int = 1):
        if kind == "auto":  # the fastest verified choice: onnxruntime on CPU, torch on CUDA
            kind = "onnx" if device == "cpu" and _has_onnxruntime() else "torch"
        if kind not in BACKEND_KINDS:
            raise ValueError(f"unknown backend {kind!r} (auto, {', '.join(BACKEND_KINDS)})")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device available (this is a CPU build or no GPU)")
        if kind == "onnx" and device != "cpu":
            raise ValueError("the onnx backend runs on the CPU (onnxruntime CPU build); use torch or tensorrt on CUDA")
        if kind == "tensorrt":
            ok, why = tensorrt_available()
            if not ok:
                raise ValueError(f"tensorrt backend unavailable: {why}")
        self.kind, self.device, self.threads = kind, device, threads
        self._trt_engines: dict[bool, TensorRTEngine] = {}

    def runner(self, model: DSTformer, ahead: bool = False) -> Runner:
        """A runner of the causal trunk, or of the ahead trunk (model.py)."""
        if self.kind == "torch":
            return TorchRunner(model, self.device, ahead)
        if self.kind == "onnx":
            return OrtRunner(model, self.threads, ahead=ahead)
        if ahead not in self._trt_engines:  # pragma: no cover - needs TensorRT
            self._trt_engines[ahead] = TensorRTEngine(model, fp16=True, ahead=ahead)
        return self._trt_engines[ahead].runner(model)  # pragma: no cover
