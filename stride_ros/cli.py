"""`stride-ros`: the command line. Parsing only; the work lives in the modules it calls.

Every subcommand answers --help, and any bad input ends in one line on stderr and exit status 2
(never a traceback); inputs are never overwritten.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import InputError


def _out_path(out: str, inputs: list[str]) -> Path:
    p = Path(out)
    for i in inputs:
        if Path(i).exists() and p.exists() and p.resolve() == Path(i).resolve():
            raise InputError(f"{p}: refusing to overwrite an input file")
    return p


# --- subcommands ------------------------------------------------------------------------------

def cmd_convert(a: argparse.Namespace) -> int:
    from .bvh import load_h36m
    from .mocap import list_clips
    from .posefile import PoseSequence, save_poses

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
    from .evaluate import (clips_from_paths, clips_from_split, format_table, plot_clip, run_benchmark,
                           save_json)
    from .methods import build_methods

    clips = clips_from_paths(a.inputs) if a.inputs else clips_from_split(a.split, a.data, max_clips=a.max_clips)
    if a.max_clips and a.inputs:
        clips = clips[: a.max_clips]
    if not clips:
        raise InputError("no clips to evaluate")
    methods = build_methods(a.methods, model=a.model, tta_steps=a.tta_steps, lags=a.lags, device=a.device)
    keep = a.plot_clip or clips[0].name
    if keep not in {c.name for c in clips}:
        raise InputError(f"--plot-clip {keep}: no such clip (have e.g. {clips[0].name})")
    report, traces = run_benchmark(clips, methods, seed=a.seed, progress=not a.quiet, keep_clip=keep)
    print(format_table(report))
    if a.json:
        save_json(report, a.json)
        print(f"wrote {a.json}")
    if a.plot:
        plot_clip(traces, a.plot, title=f"{keep}: error over time (occluded spans shaded)")
        print(f"wrote {a.plot}")
    return 0


def cmd_train(a: argparse.Namespace) -> int:
    from .model import CONFIGS
    from .train import TrainConfig, train

    if a.model not in CONFIGS:
        raise InputError(f"--model {a.model}: unknown configuration (known: {', '.join(CONFIGS)})")
    cfg = TrainConfig(model=a.model, steps=a.steps, batch=a.batch, lr=a.lr, threads=a.threads,
                      epoch_steps=a.epoch_steps, seed=a.seed)
    path = train(cfg, a.output, data_dir=a.data, resume=not a.no_resume, progress=not a.quiet)
    print(f"checkpoint: {path} (loss curve: {Path(a.output) / 'loss_curve.png'})")
    return 0


def cmd_tune(a: argparse.Namespace) -> int:
    from .tune import tune

    for name, (params, score) in tune(progress=not a.quiet).items():
        print(f"{name:<14} MPJPE {score:6.1f} mm on training subjects with {params}")
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

    s = sub.add_parser("evaluate", help="accuracy benchmark: simulated estimator -> every method -> metrics")
    s.add_argument("inputs", nargs="*", help="ground-truth .bvh/.npz files or folders "
                   "(default: the validation subjects of the shared mocap)")
    s.add_argument("--split", default="val", choices=["val", "train"], help="mocap split when no inputs")
    s.add_argument("--data", help="mocap folder (default: $STRIDE_ROS_DATA or ../shared/data/mocap)")
    s.add_argument("--methods", default="baselines,prior",
                   help="comma list of methods or groups (baselines, prior, stride, stream, all); "
                   "see README")
    s.add_argument("--model", help="prior checkpoint (default: the shipped one)")
    s.add_argument("--tta-steps", type=int, default=30, help="STRIDE adaptation epochs (default 30)")
    s.add_argument("--lags", default="0,8", help="stream lags to evaluate (default 0,8)")
    s.add_argument("--device", default="cpu", help="torch device for model methods")
    s.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    s.add_argument("--max-clips", type=int, help="evaluate only the first N clips")
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
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--data", help="mocap folder (default: $STRIDE_ROS_DATA or ../shared/data/mocap)")
    s.add_argument("--no-resume", action="store_true", help="start over even if the folder has a run")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("tune-baselines", help="grid-search baseline parameters on the training subjects")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_tune)
    return p


def main(argv: list[str] | None = None) -> int:
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
