# SPDX-License-Identifier: MIT
"""`stride-ros`: the command line. One module per verb (`add_arguments` + `run`), wired here.

Every subcommand answers --help, checks its arguments before any work, and ends any bad input with
one line on stderr and exit status 2 (never a traceback); inputs are never overwritten.
"""
from __future__ import annotations

import sys

from ..core.errors import InputError
from . import (
    bench,
    build_interfaces,
    convert,
    demo,
    estimate,
    evaluate,
    export,
    fit_up,
    fit_zoo,
    make_bag,
    node,
    refine,
    replay,
    soak,
    train,
    tune_baselines,
    video,
)
from .common import Parser

VERBS = {  # name -> module, in the order `--help` lists them
    "demo": demo, "refine": refine, "estimate": estimate, "video": video, "evaluate": evaluate, "bench": bench,
    "train": train, "export": export, "replay": replay, "make-bag": make_bag, "convert": convert,
    "tune-baselines": tune_baselines, "fit-zoo": fit_zoo, "fit-up": fit_up, "soak": soak,
    "build-interfaces": build_interfaces,
}


def build_parser() -> Parser:
    p = Parser(prog="stride-ros", description="STRIDE motion-prior refinement of 3D human skeletons for ROS 2")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, mod in VERBS.items():
        s = sub.add_parser(name, help=mod.HELP, description=mod.__doc__.splitlines()[0])
        s.prog = f"stride-ros {name}"
        mod.add_arguments(s)
        s.set_defaults(func=mod.run)
    sub.add_parser("node", help=node.HELP, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "node":
        return node.run_node(argv[1:])
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
