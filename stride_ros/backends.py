"""Inference backends for the streaming refiner's one-frame cached step.

A *runner* executes `step` with one fixed set of weights; a *backend* builds runners from a torch
model. The adaptation worker builds a runner for adapted weights off the frame path, and the
frame path swaps the reference: the weights a running step uses are never modified in place.

- torch: CPU, or CUDA (optionally fp16 and a captured CUDA graph of the step).
- onnx: onnxruntime on CPU, from the exported step graph (export.py).
- tensorrt: an engine built from the same ONNX with the REFIT flag; adapted weights are refitted
  into a copy of the engine instead of rebuilding it. TensorRT cannot be installed on the machines
  this was developed on: that path is written against the TensorRT 10 Python API and is UNVERIFIED
  (never run); it is never the default.
"""
from __future__ import annotations

import copy
from typing import Any, Protocol

import numpy as np
import torch

from .export import export_step, step_io_names
from .model import DSTformer


class Runner(Protocol):
    name: str

    def empty_state(self) -> Any: ...

    def step(self, x: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        """x [1, 17, 4] -> (out [1, 17, L+1, 3], new state)."""
        ...


# --- torch ------------------------------------------------------------------------------------

class TorchRunner:
    name = "torch"

    def __init__(self, model: DSTformer, device: str = "cpu", half: bool = False, cuda_graph: bool = False):
        self.device = torch.device(device)
        self.dtype = torch.float16 if (half and self.device.type == "cuda") else torch.float32
        self.model = copy.deepcopy(model).to(self.device, self.dtype).eval()
        self.W = model.cfg.window
        self._graph = None
        if cuda_graph and self.device.type == "cuda":
            self._capture()

    def empty_state(self):
        return (self.model.empty_cache(1, self.device, self.dtype),
                torch.zeros(1, self.W - 1, dtype=torch.bool, device=self.device))

    @torch.no_grad()
    def step(self, x: np.ndarray, state):
        if self._graph is not None:
            return self._step_graph(x, state)
        cache, filled = state
        xt = torch.from_numpy(x).to(self.device, self.dtype)
        out, cache, filled = self.model.step(xt, cache, filled)
        return out.float().cpu().numpy(), (cache, filled)

    # CUDA graphs: the step's shapes never change, so one captured graph replays it with no
    # Python or launch overhead. Static buffers hold input, cache and output.
    def _capture(self) -> None:  # pragma: no cover - needs a GPU
        cache, filled = self.empty_state()
        self._x = torch.zeros(1, 17, self.model.cfg.in_channels, device=self.device, dtype=self.dtype)
        self._cache, self._filled = cache, filled
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s), torch.no_grad():
            for _ in range(3):
                self.model.step(self._x, self._cache, self._filled)
        torch.cuda.current_stream().wait_stream(s)
        self._graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self._graph), torch.no_grad():
            self._out, self._cache_out, self._filled_out = self.model.step(self._x, self._cache, self._filled)

    @torch.no_grad()
    def _step_graph(self, x: np.ndarray, state):  # pragma: no cover - needs a GPU
        cache, filled = state
        self._x.copy_(torch.from_numpy(x))
        for dst, src in zip(self._cache, cache):
            dst.copy_(src)
        self._filled.copy_(filled)
        self._graph.replay()
        return (self._out.float().cpu().numpy(),
                ([c.clone() for c in self._cache_out], self._filled_out.clone()))


# --- onnxruntime ------------------------------------------------------------------------------

class OrtRunner:
    name = "onnx"

    def __init__(self, model: DSTformer, threads: int = 1, onnx_bytes: bytes | None = None):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(onnx_bytes or export_step(model), so,
                                            providers=["CPUExecutionProvider"])
        self.inputs, _ = step_io_names(model)
        self.cache_shapes = [tuple(c.shape) for c in model.empty_cache(1)]
        self.W = model.cfg.window

    def empty_state(self):
        return ([np.zeros(s, np.float32) for s in self.cache_shapes], np.zeros((1, self.W - 1), bool))

    def step(self, x: np.ndarray, state):
        cache, filled = state
        feed = {"x": x.astype(np.float32, copy=False), "filled": filled}
        feed.update({f"cache_{i}": c for i, c in enumerate(cache)})
        res = self.session.run(None, feed)
        return res[0], (res[2:], res[1])


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
    """Builds a refittable engine once from the ONNX step graph; refits copies with new weights."""

    def __init__(self, model: DSTformer, fp16: bool = True):
        import tensorrt as trt
        self.trt = trt
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.onnx = export_step(model)
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
        profile = builder.create_optimization_profile()
        ins, _ = step_io_names(model)
        shapes = {"x": (1, 17, model.cfg.in_channels), "filled": (1, model.cfg.window - 1)}
        for i, c in enumerate(model.empty_cache(1)):
            shapes[f"cache_{i}"] = tuple(c.shape)
        for name in ins:
            profile.set_shape(name, shapes[name], shapes[name], shapes[name])
        config.add_optimization_profile(profile)
        self.plan = builder.build_serialized_network(network, config)
        if self.plan is None:
            raise RuntimeError("TensorRT engine build failed")
        self.runtime = trt.Runtime(self.logger)
        self.shapes = shapes

    def runner(self, model: DSTformer) -> "TensorRTRunner":
        """A fresh engine copy with `model`'s weights refitted in (off the frame path)."""
        trt = self.trt
        engine = self.runtime.deserialize_cuda_engine(self.plan)
        refitter = trt.Refitter(engine, self.logger)
        parser_refitter = trt.OnnxParserRefitter(refitter, self.logger)
        if not parser_refitter.refit_from_bytes(export_step(model)):
            raise RuntimeError("TensorRT refit from the adapted ONNX weights failed")
        if not refitter.refit_cuda_engine():
            raise RuntimeError("TensorRT refit_cuda_engine failed")
        return TensorRTRunner(engine, model, self.shapes)


class TensorRTRunner:  # pragma: no cover - needs TensorRT and a GPU
    name = "tensorrt"

    def __init__(self, engine, model: DSTformer, shapes: dict):
        self.engine = engine
        self.context = engine.create_execution_context()
        self.W = model.cfg.window
        self.shapes = shapes
        self.stream = torch.cuda.Stream()
        n = 4 * model.cfg.depth
        self.out = torch.empty((1, 17, model.cfg.max_lag + 1, 3), device="cuda")
        self.cache_shapes = [shapes[f"cache_{i}"] for i in range(n)]

    def empty_state(self):
        return ([torch.zeros(s, device="cuda") for s in self.cache_shapes],
                torch.zeros((1, self.W - 1), dtype=torch.bool, device="cuda"))

    def step(self, x: np.ndarray, state):
        cache, filled = state
        xt = torch.from_numpy(x).cuda()
        new_cache = [torch.empty_like(c) for c in cache]
        new_filled = torch.empty_like(filled)
        bind = {"x": xt, "filled": filled, "out": self.out, "filled_out": new_filled}
        for i, (c, nc) in enumerate(zip(cache, new_cache)):
            bind[f"cache_{i}"], bind[f"cache_out_{i}"] = c, nc
        for name, t in bind.items():
            self.context.set_tensor_address(name, t.data_ptr())
            if name in self.shapes:
                self.context.set_input_shape(name, tuple(t.shape))
        self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()
        return self.out.cpu().numpy(), (new_cache, new_filled)


# --- factory ------------------------------------------------------------------------------------

class Backend:
    """Builds runners of one kind. `runner(model)` may take a second (export): call it off the frame path."""

    def __init__(self, kind: str = "torch", device: str = "cpu", half: bool = False, cuda_graph: bool = False,
                 threads: int = 1):
        if kind not in ("torch", "onnx", "tensorrt"):
            raise ValueError(f"unknown backend {kind!r} (torch, onnx, tensorrt)")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device available (this is a CPU build or no GPU)")
        if kind == "onnx" and device != "cpu":
            raise ValueError("the onnx backend runs on the CPU (onnxruntime CPU build); use torch or tensorrt on CUDA")
        if kind == "tensorrt":
            ok, why = tensorrt_available()
            if not ok:
                raise ValueError(f"tensorrt backend unavailable: {why}")
        self.kind, self.device, self.half, self.cuda_graph, self.threads = kind, device, half, cuda_graph, threads
        self._trt_engine = None

    def runner(self, model: DSTformer) -> Runner:
        if self.kind == "torch":
            return TorchRunner(model, self.device, self.half, self.cuda_graph)
        if self.kind == "onnx":
            return OrtRunner(model, self.threads)
        if self._trt_engine is None:  # pragma: no cover - needs TensorRT
            self._trt_engine = TensorRTEngine(model, fp16=self.half)
        return self._trt_engine.runner(model)  # pragma: no cover
