"""`stride-ros`: the command line. Parsing only; the work lives in the modules it calls.

Every subcommand answers --help, and any bad input ends in one line on stderr and exit status 2
(never a traceback); inputs are never overwritten.
"""
from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

import numpy as np

from ..core.errors import InputError


def _out_path(out: str, inputs: list[str]) -> Path:
    p = Path(out)
    for i in inputs:
        if Path(i).exists() and p.exists() and p.resolve() == Path(i).resolve():
            raise InputError(f"{p}: refusing to overwrite an input file")
    return p


# --- subcommands ------------------------------------------------------------------------------

def cmd_convert(a: argparse.Namespace) -> int:
    from ..data.bvh import load_h36m
    from ..data.mocap import list_clips
    from ..data.posefile import PoseSequence, save_poses

    out = _out_path(a.output, [a.input])
    fps_in = None
    try:
        fps_in = {c.path.resolve(): c.fps for c in list_clips()}.get(Path(a.input).resolve())
    except InputError:
        pass
    poses, fps = load_h36m(a.input, fps_out=a.fps, fps_in=fps_in)
    save_poses(out, PoseSequence(poses, fps), protect=(Path(a.input),))
    print(f"{out}: {len(poses)} frames at {fps:g} fps (17 joints, metres, Y up)")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from ..eval.benchmark import (clips_from_paths, clips_from_split, format_per_case, format_table, plot_clip, real_cases,
                           run_benchmark, save_json, simulated_cases)
    from ..eval.methods import build_methods

    if a.jobs < 1:
        raise InputError(f"--jobs {a.jobs}: expected 1 or more")
    if a.real is not None:
        if a.inputs:
            raise InputError("--real evaluates the real cases; give no motion files with it")
        if a.family != "sim":
            raise InputError("--family picks a simulated estimator; it does not apply to --real")
        cases = real_cases(a.real or None, [m for m in (a.motions or "").split(",") if m] or None)
        source = f"real: {len(cases)} cases of real estimator output (MediaPipe BlazePose, TotalCapture truth)"
    else:
        clips = clips_from_paths(a.inputs) if a.inputs else clips_from_split(a.split, a.data, max_clips=a.max_clips)
        cases = simulated_cases(clips, a.family, a.seed)
        source = f"simulated: {a.family}"
    if a.max_clips:
        cases = cases[: a.max_clips]
    if not cases:
        raise InputError("no clips to evaluate")
    keep = a.plot_clip or cases[0].name
    if keep not in {c.name for c in cases}:
        raise InputError(f"--plot-clip {keep}: no such clip (have e.g. {cases[0].name})")
    if a.plot:
        _writable(a.plot, ".png")
    if a.json:
        _writable(a.json, ".json")
    factory = partial(build_methods, a.methods, model=a.model, tta_steps=a.tta_steps, lags=a.lags, device=a.device)
    methods = factory()
    report, traces = run_benchmark(cases, methods, seed=a.seed, progress=not a.quiet, keep_clip=keep,
                                   jobs=a.jobs, factory=factory, source=source)
    reference = "one_euro" if "one_euro" in methods else next(iter(methods))
    print(format_table(report, reference))
    if a.real is not None:
        print()
        print(format_per_case(report, list(methods)[-3:]))
    if a.json:
        save_json(report, a.json)
        print(f"wrote {a.json}")
    if a.plot:
        label = "missed frames" if a.real is not None else "occluded spans"
        plot_clip(traces, a.plot, title=f"{keep}: error over time ({label} shaded)")
        print(f"wrote {a.plot}")
    return 0


def _writable(path: str, suffix: str) -> Path:
    """An output path checked before any work: right suffix, and a folder that exists or can be made."""
    p = Path(path)
    if p.suffix.lower() != suffix:
        raise InputError(f"{p}: output must end in {suffix}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{p}: cannot create its folder ({e.strerror})") from None
    if not os.access(p.parent, os.W_OK):
        raise InputError(f"{p}: folder is not writable")
    return p


def _load_model(path: str | None, device: str = "cpu", threads: int | None = None):
    """The prior, ready. Per-frame work is many small ops: one intra-op thread is fastest and leaves
    the other core to adaptation (threads=None keeps torch's default, for batch work)."""
    from ..model.checkpoint import load_model

    if threads:
        import torch
        torch.set_num_threads(threads)

    if device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise InputError("--device cuda: no CUDA device available (CPU build of torch, or no GPU)")
    return load_model(path).to(device)


def cmd_refine(a: argparse.Namespace) -> int:
    from ..model.backends import Backend
    from ..data.posefile import PoseSequence, load_poses, save_poses
    from ..stream.sequence import offline_sequence, stream_sequence
    from ..stream.refiner import StreamConfig

    out = _out_path(a.output, [a.input])
    seq = load_poses(a.input)
    if np.isnan(seq.poses).all():
        raise InputError(f"{a.input}: every joint of every frame is missing: nothing to refine")
    model = _load_model(a.model, a.device, threads=None if a.mode == "offline" else 1)
    if a.mode == "offline":
        if a.backend not in ("auto", "torch"):
            raise InputError("--mode offline runs on the torch backend (it trains the model)")
        poses, info = offline_sequence(model, seq, 30 if a.tta_steps is None else a.tta_steps)
        conf = None
        print(f"offline: {len(seq)} frames, adaptation: {info['reason']} ({info['seconds']:.1f} s)")
    else:
        if not 0 <= a.lag <= model.cfg.max_stream_lag:
            raise InputError(f"--lag {a.lag}: the model streams lags 0..{model.cfg.max_stream_lag}")
        try:
            backend = Backend(a.backend, a.device)
        except ValueError as e:
            raise InputError(str(e)) from None
        cfg = StreamConfig(lag=a.lag, fps=seq.fps)
        if a.tta_steps is not None:
            cfg = StreamConfig(lag=a.lag, fps=seq.fps, adapt=a.tta_steps > 0, adapt_epochs=max(1, a.tta_steps))
        poses, conf, status = stream_sequence(model, seq, cfg, backend)
        print(f"stream: {len(seq)} frames at lag {a.lag}, backend {a.backend}; {status['worker']}; "
              f"dropped {status['dropped'] or 'none'}")
    save_poses(out, PoseSequence(poses, seq.fps, conf, seq.stamps), protect=(a.input,))
    print(f"wrote {out}")
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from ..model.export import export_full, export_step, parity

    model = _load_model(a.model)
    out = Path(a.output)
    if out.suffix != ".onnx":
        raise InputError(f"{out}: output must end in .onnx")
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


def _motion(path: str | None, seconds: float, seed: int):
    """Ground-truth motion for generated data: a BVH/.npz file, else the built-in generated walk."""
    from ..eval.benchmark import EVAL_FPS, clips_from_paths
    from ..data.synthetic import synthetic_walk

    if path:
        gt = clips_from_paths([path])[0].gt
        return gt[: int(seconds * EVAL_FPS)] if seconds else gt
    return synthetic_walk(seconds=seconds or 20.0, fps=EVAL_FPS, seed=seed)


def cmd_make_bag(a: argparse.Namespace) -> int:
    from ..ros.bags import write_sim_bag
    from ..eval.benchmark import EVAL_FPS
    from ..data.simulator import simulate

    people = []
    for k in range(a.people):
        gt = _motion(a.motion, a.seconds, a.seed + k)
        sim = simulate(gt, EVAL_FPS, a.seed * 100 + k)
        if k:  # further people stand beside the first
            shift = np.array([1.2 * k * (-1) ** k, 0.0, 0.5 * k], np.float32)
            sim.poses, sim.gt = sim.poses + shift, sim.gt + shift
        people.append((sim.poses, sim.confidence, sim.gt))
    path = write_sim_bag(a.output, people, EVAL_FPS, storage=a.storage)
    print(f"wrote {path} ({a.storage}): {min(len(p[0]) for p in people)} frames, {a.people} person(s), "
          f"topics /human_pose and /human_pose_gt")
    return 0


def cmd_replay(a: argparse.Namespace) -> int:
    from ..model.backends import Backend
    from ..ros.bags import replay_bag

    model = _load_model(a.model, a.device, threads=1)
    try:
        backend = Backend(a.backend, a.device)
    except ValueError as e:
        raise InputError(str(e)) from None
    rep = replay_bag(a.bag, a.output, model, lag=a.lag, input_topic=a.input_topic, gt_topic=a.gt_topic,
                     output_topic=a.output_topic, storage=a.storage, backend=backend, adapt=a.adapt)
    print(f"replayed {rep.frames_in} input frames -> {rep.frames_out} refined frames in {rep.seconds:.1f} s; "
          f"wrote {a.output} ({rep.storage}); dropped: {rep.dropped or 'none'}")
    if rep.metrics:
        print(f"against ground truth ({a.gt_topic}, {rep.metrics['frames']} frames; mm):")
        print(f"  {'method':<10} {'MPJPE':>8} {'PA-MPJPE':>9} {'Accel':>7} {'Abs':>8}")
        for name in ("refined", "one_euro"):
            if name in rep.metrics:
                m = rep.metrics[name]
                print(f"  {name:<10} {m['mpjpe']:8.1f} {m['pa_mpjpe']:9.1f} {m['accel']:7.1f} {m['abs']:8.1f}")
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    from ..eval.bench import format_bench, run_bench, save

    model = _load_model(a.model, a.device, threads=1)
    try:
        backends = [b.strip() for b in a.backends.split(",") if b.strip()]
        people = [int(p) for p in a.people.split(",") if p.strip()]
    except ValueError:
        raise InputError("--people: expected a comma list of integers") from None
    for b in backends:
        if b not in ("torch", "onnx", "tensorrt"):
            raise InputError(f"--backends: unknown backend {b!r} (torch, onnx, tensorrt)")
    try:
        res = run_bench(model, backends, people, a.frames, a.lag, a.device, progress=not a.quiet)
    except ValueError as e:
        raise InputError(str(e)) from None
    print(format_bench(res))
    if a.json:
        save(res, a.json)
        print(f"wrote {a.json}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from ..ros.demo import run_demo

    run_demo(motion=a.motion, seconds=a.seconds, lag=a.lag, out_dir=a.out, model=a.model, seed=a.seed)
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from ..model.dstformer import CONFIGS
    from ..model.train import FAMILY_MIX, TrainConfig, train
    from ..data.zoo import FAMILIES

    if a.model not in CONFIGS:
        raise InputError(f"--model {a.model}: unknown configuration (known: {', '.join(CONFIGS)})")
    if a.init and not Path(a.init).exists():
        raise InputError(f"--init {a.init}: no such model file")
    families = dict(FAMILY_MIX)
    if a.families:
        try:
            families = {k.strip(): float(v) for k, v in (item.split("=") for item in a.families.split(","))}
        except ValueError:
            raise InputError(f"--families {a.families!r}: expected name=share pairs, e.g. sim=0.5,lifting=0.5") from None
        unknown = set(families) - set(FAMILIES)
        if unknown or not any(v > 0 for v in families.values()) or any(v < 0 for v in families.values()):
            raise InputError(f"--families: unknown {sorted(unknown) or 'none'}, known {', '.join(FAMILIES)}; "
                             "shares must be >= 0 with one above 0")
    cfg = TrainConfig(model=a.model, steps=a.steps, batch=a.batch, lr=a.lr, threads=a.threads,
                      epoch_steps=a.epoch_steps, seed=a.seed, init=a.init, stream_window=a.stream_window,
                      stream_batch=a.stream_batch, warmup=a.warmup, families=families,
                      val_families=tuple(f for f in ("sim", "blazepose")))
    path = train(cfg, a.output, data_dir=a.data, resume=not a.no_resume, progress=not a.quiet)
    print(f"checkpoint: {path} (loss curve: {Path(a.output) / 'loss_curve.png'})")
    return 0


def cmd_tune(a: argparse.Namespace) -> int:
    from ..eval.tune import tune

    for name, (params, score) in tune(progress=not a.quiet).items():
        print(f"{name:<14} MPJPE + Abs + Accel {score:6.1f} on training subjects with {params}")
    return 0


# --- parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="stride-ros", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("convert", help="BVH motion capture -> pose-sequence .npz (17 joints, metres)")
    s.add_argument("input", help="a .bvh file")
    s.add_argument("-o", "--output", required=True, help="output .npz")
    s.add_argument("--fps", type=float, default=30.0, help="output frame rate (default 30)")
    s.set_defaults(func=cmd_convert)

    s = sub.add_parser("refine", help="refine one pose sequence (offline STRIDE, or streamed as the node does)")
    s.add_argument("input", help="input .npz pose sequence")
    s.add_argument("-o", "--output", required=True, help="output .npz (never the input)")
    s.add_argument("--mode", choices=["offline", "stream"], default="offline")
    s.add_argument("--lag", type=int, default=0, help="stream: output lag in frames (0 = causal)")
    s.add_argument("--tta-steps", type=int, default=None,
                   help="offline: adaptation epochs (default 30, the paper's; 0 = prior alone); "
                   "stream: epochs per background burst (default: no adaptation; N > 0 turns it on)")
    s.add_argument("--model", help="prior checkpoint (default: the shipped one)")
    s.add_argument("--device", default="cpu", help="cpu or cuda")
    s.add_argument("--backend", choices=["auto", "torch", "onnx", "tensorrt"], default="auto",
                   help="stream inference backend (auto: onnx on CPU when onnxruntime is installed)")
    s.set_defaults(func=cmd_refine)

    s = sub.add_parser("export", help="export the prior to ONNX (full window + cached step) with a parity check")
    s.add_argument("-o", "--output", required=True, help="output .onnx (the step graph goes beside it)")
    s.add_argument("--format", choices=["onnx"], default="onnx")
    s.add_argument("--model", help="prior checkpoint (default: the shipped one)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("evaluate", help="accuracy benchmark: simulated estimator -> every method -> metrics")
    s.add_argument("inputs", nargs="*", help="ground-truth .bvh/.npz files or folders "
                   "(default: the validation subjects of the shared mocap)")
    s.add_argument("--split", default="val", choices=["val", "train"], help="mocap split when no inputs")
    s.add_argument("--family", default="sim", help="simulated estimator family from the zoo: sim (default), "
                   "blazepose, lifting, uncalibrated, hfr_drops")
    s.add_argument("--real", nargs="?", const="", default=None, metavar="DIR",
                   help="evaluate on real estimator output with motion-capture truth instead "
                   "(DIR of <case>.in.npz/.gt.npz; default: $STRIDE_ROS_REAL or ../shared/data/real)")
    s.add_argument("--motions", help="with --real: only these motions (comma list, e.g. freestyle2,freestyle3)")
    s.add_argument("--data", help="mocap folder (default: $STRIDE_ROS_DATA or ../shared/data/mocap)")
    s.add_argument("--methods", default="baselines,prior,stride",
                   help="comma list of methods or groups (baselines, ablation, stream, all); "
                   "see README")
    s.add_argument("--model", help="prior checkpoint (default: the shipped one)")
    s.add_argument("--tta-steps", type=int, default=30, help="STRIDE adaptation epochs (default 30)")
    s.add_argument("--lags", default="0,8", help="stream lags to evaluate (default 0,8)")
    s.add_argument("--device", default="cpu", help="torch device for model methods")
    s.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    s.add_argument("--max-clips", type=int, help="evaluate only the first N clips")
    s.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1),
                   help="processes to spread the clips over (default: the cores, at most 4)")
    s.add_argument("--json", help="write the report as JSON here")
    s.add_argument("--plot", help="write an error-over-time PNG of one clip here")
    s.add_argument("--plot-clip", help="clip for --plot (default: the first)")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("train", help="pre-train the motion prior on the mocap training subjects")
    s.add_argument("-o", "--output", required=True, help="run folder (checkpoints, loss curve, history)")
    s.add_argument("--model", default="small", help="configuration: small (default), tiny, paper")
    s.add_argument("--steps", type=int, default=4000, help="optimiser steps (default 4000)")
    s.add_argument("--batch", type=int, default=16, help="windows per step (default 16)")
    s.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default 1e-3, cosine decay)")
    s.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    s.add_argument("--epoch-steps", type=int, default=250, help="validate and checkpoint every N steps")
    s.add_argument("--warmup", type=int, default=200, help="learning-rate warm-up steps (default 200)")
    s.add_argument("--init", help="fine-tune this prior instead of starting from random weights")
    s.add_argument("--stream-window", type=int, default=243,
                   help="frames per causal/ahead training sequence (default 243: a stream's trunk sees "
                        "far more than one window; 0: the model's window)")
    s.add_argument("--stream-batch", type=int, default=6, help="sequences per causal/ahead step (default 6)")
    s.add_argument("--families", help="estimator families and their shares, e.g. sim=0.3,blazepose=0.25 "
                   "(default: the zoo mix in train.FAMILY_MIX; a family left out is unseen)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--data", help="mocap folder (default: $STRIDE_ROS_DATA or ../shared/data/mocap)")
    s.add_argument("--no-resume", action="store_true", help="start over even if the folder has a run")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("demo", help="the whole system on its defaults: node + simulated 30 Hz stream over DDS, "
                       "scored against One Euro (PNG + mcap bag)")
    s.add_argument("--motion", help="ground-truth .bvh/.npz (default: a built-in generated walk)")
    s.add_argument("--seconds", type=float, default=20.0)
    s.add_argument("--lag", type=int, default=0, help="the node's output lag in frames")
    s.add_argument("--out", default="stride_demo", help="folder for the PNG, the bag and the node log")
    s.add_argument("--model", help="prior checkpoint (default: the shipped one)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_demo)

    s = sub.add_parser("bench", help="speed benchmark: per-frame latency per backend, 1 and 4 people, "
                       "with and without adaptation, beside One Euro")
    s.add_argument("--backends", default="torch,onnx", help="comma list: torch, onnx, tensorrt")
    s.add_argument("--people", default="1,4", help="comma list of people counts")
    s.add_argument("--frames", type=int, default=900,
                   help="frames per run (30 Hz, paced; 900: a p99 from ~9 slowest frames, not 2 or 3)")
    s.add_argument("--lag", type=int, default=0)
    s.add_argument("--model", help="prior checkpoint (default: the shipped one)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--json", help="write the results as JSON here")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("replay", help="run the refiner over a rosbag2 (mcap or sqlite3) into a new bag")
    s.add_argument("bag", help="input bag folder")
    s.add_argument("-o", "--output", required=True, help="output bag folder (must not exist)")
    s.add_argument("--input-topic", default="/human_pose")
    s.add_argument("--gt-topic", default="/human_pose_gt", help="ground truth, scored when present")
    s.add_argument("--output-topic", default="/human_pose_refined")
    s.add_argument("--lag", type=int, default=0, help="output lag in frames (0 = causal)")
    s.add_argument("--storage", choices=["mcap", "sqlite3"], help="output storage (default: the input's)")
    s.add_argument("--adapt", action="store_true", help="test-time adaptation in the background (default off)")
    s.add_argument("--model", help="prior checkpoint (default: the shipped one)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--backend", choices=["auto", "torch", "onnx", "tensorrt"], default="auto")
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("make-bag", help="generate a test bag: motion -> estimator simulator -> /human_pose (+ ground truth)")
    s.add_argument("output", help="output bag folder (must not exist)")
    s.add_argument("--motion", help="ground-truth .bvh/.npz (default: the built-in generated walk)")
    s.add_argument("--seconds", type=float, default=20.0)
    s.add_argument("--people", type=int, default=1)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    s.set_defaults(func=cmd_make_bag)

    sub.add_parser("node", help="the ROS 2 node (same as `ros2 run stride_ros refine_node`); "
                   "takes --ros-args", add_help=False)

    s = sub.add_parser("tune-baselines", help="grid-search baseline parameters on the training subjects")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_tune)
    return p


NODE_HELP = """usage: stride-ros node [--ros-args ...]

Run the stride_refiner ROS 2 node (the same as `ros2 run stride_ros refine_node`), e.g.
  stride-ros node --ros-args --params-file config/refine.yaml -p lag_frames:=8
Parameters: see config/refine.yaml and the README's parameter table."""


def cmd_node(argv: list[str]) -> int:
    if any(a in ("-h", "--help") for a in argv if a != "--ros-args") and "--ros-args" not in argv:
        print(NODE_HELP)
        return 0
    try:
        from ..ros.node import main as node_main
    except ImportError as e:
        print(f"stride-ros node: error: ROS 2 Python packages missing ({e}); install the 'ros' extra "
              "(pip install 'stride_ros[ros]') or source a ROS 2 installation", file=sys.stderr)
        return 2
    return node_main(["stride-ros", *argv])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "node":
        return cmd_node(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InputError as e:
        print(f"stride-ros {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stride-ros {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
