# SPDX-License-Identifier: MIT
"""`stride-ros export`: the prior as ONNX (full window + cached step graphs), parity checked."""
from __future__ import annotations

import argparse

import numpy as np

from .common import add_model_args, load_model, out_path

HELP = "export the prior to ONNX (full window + cached step) with a parity check"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, help="output .onnx (the step graphs go beside it)")
    p.add_argument("--format", choices=["onnx"], default="onnx")
    add_model_args(p, device=False)


def run(a: argparse.Namespace) -> int:
    from ..model.export import export_full, export_step, parity

    out = out_path(a.output, [], ".onnx")
    model = load_model(a.model)
    full = export_full(model, out)
    steps = [(out.with_name(out.stem + "_step.onnx"), False)]
    if model.cfg.lookahead:
        steps.append((out.with_name(out.stem + "_step_ahead.onnx"), True))
    written = [f"{path} ({len(export_step(model, path, ahead=ahead)) / 1e6:.1f} MB, cached step"
               f"{', ahead trunk' if ahead else ''})" for path, ahead in steps]
    x = np.random.default_rng(0).normal(0, 0.3, (2, model.cfg.window, 17, 4)).astype(np.float32)
    x[..., 3] = np.abs(x[..., 3]).clip(0, 1)
    err = parity(model, full, x)
    print(f"wrote {out} ({len(full) / 1e6:.1f} MB, full window), {', '.join(written)}; "
          f"onnxruntime vs torch max |diff| {err * 1000:.5f} mm")
    return 0
