# SPDX-License-Identifier: MIT
"""What every verb shares: the parser that fails in one line, argument types that check values
before any work, the --model/--device/--backend options and the objects built from them."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn

from ..core.errors import InputError
from ..model import BACKEND_KINDS

BACKENDS = ("auto", *BACKEND_KINDS)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2 (the CLI's contract)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def _number(kind, lo=None, lo_open=False, hi=None, what="value"):
    def check(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if kind is float and not (v == v and abs(v) != float("inf")):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if lo is not None and (v <= lo if lo_open else v < lo):
            raise argparse.ArgumentTypeError(f"{v} must be {'>' if lo_open else '>='} {lo}")
        if hi is not None and v > hi:
            raise argparse.ArgumentTypeError(f"{v} must be <= {hi}")
        return v
    check.__name__ = what  # argparse names the type in its messages
    return check


positive_int = _number(int, 1, what="positive integer")
nonneg_int = _number(int, 0, what="non-negative integer")
positive_float = _number(float, 0.0, lo_open=True, what="positive number")
nonneg_float = _number(float, 0.0, what="non-negative number")


def int_list(text: str, lo: int = 0, name: str = "") -> list[int]:
    """'1,4' -> [1, 4]; every entry an integer >= lo (`name`: the option, for the message)."""
    what = f"{name} {text!r}" if name else repr(text)
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise InputError(f"{what}: expected a comma list of integers") from None
    if not vals or any(v < lo for v in vals):
        raise InputError(f"{what}: expected integers >= {lo}")
    return vals


def add_model_args(p: argparse.ArgumentParser, device: bool = True, backend: bool = False) -> None:
    p.add_argument("--model", help="prior checkpoint (default: the shipped models/stride_small.pt)")
    if device:
        p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="torch device (default cpu)")
    if backend:
        p.add_argument("--backend", choices=BACKENDS, default="auto",
                       help="stream inference backend (auto: onnx on CPU when onnxruntime is installed, "
                       "else torch; tensorrt is unverified)")


def load_model(path: str | None, device: str = "cpu", threads: int | None = None):
    """The prior, ready. Per-frame work is many small ops: one intra-op thread is fastest and leaves
    the other core to adaptation (threads=None keeps torch's default, for batch work)."""
    import torch

    from ..model.checkpoint import load_model as _load
    if threads:
        torch.set_num_threads(threads)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device available (CPU build of torch, or no GPU)")
    return _load(path).to(device)


def make_backend(kind: str, device: str):
    from ..model.backends import Backend
    try:
        return Backend(kind, device)
    except ValueError as e:
        raise InputError(str(e)) from None


def check_lag(model, lag: int) -> None:
    if not 0 <= lag <= model.cfg.max_stream_lag:
        raise InputError(f"--lag {lag}: the model streams lags 0..{model.cfg.max_stream_lag}")


def out_path(out: str, inputs: list[str], suffix: str | None = None) -> Path:
    """An output path checked before any work: not an input, the right suffix, a folder that can be
    made and written."""
    p = Path(out)
    for i in inputs:
        if Path(i).exists() and p.exists() and p.resolve() == Path(i).resolve():
            raise InputError(f"{p}: refusing to overwrite an input file")
    if suffix is not None and p.suffix.lower() != suffix:
        raise InputError(f"{p}: output must end in {suffix}")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{p}: cannot create its folder ({e.strerror})") from None
    if not os.access(p.parent, os.W_OK):
        raise InputError(f"{p}: folder {p.parent} is not writable")
    return p


def new_folder(out: str, what: str = "output") -> Path:
    """An output folder that must not exist yet (bags), whose parent can be written."""
    p = Path(out)
    if p.exists():
        raise InputError(f"{p}: {what} already exists (choose a new folder)")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{p}: cannot create its parent folder ({e.strerror})") from None
    if not os.access(p.parent, os.W_OK):
        raise InputError(f"{p}: folder {p.parent} is not writable")
    return p


def progress(total: int | None, desc: str, unit: str = "frame"):
    """A tqdm bar on stderr: live on a terminal, a line every 10 s in a log (not one per frame)."""
    from tqdm import tqdm
    return tqdm(total=total or None, desc=desc, unit=unit, mininterval=0.1 if sys.stderr.isatty() else 10.0)


def add_source_args(p: argparse.ArgumentParser, what: str = "input") -> None:
    """Where the frames come from (estimate, video): a video file or a stream URL, or --camera N."""
    p.add_argument("video", nargs="?", default=None,
                   help=f"{what}: a video file (anything OpenCV decodes: mp4, avi, mkv, ...) or a stream URL "
                   "(rtsp://, http(s)://, e.g. an IP camera's MJPEG or RTSP address)")
    p.add_argument("--camera", type=nonneg_int, metavar="N", default=None,
                   help="a camera instead of a file: V4L2/webcam device index N (/dev/videoN); stop with Ctrl-C "
                   "or --max-frames")


def open_source(video: str | None, camera: int | None, max_frames: int | None = None):
    """The source opened and its first frame read (vision/capture.py): a missing camera, a URL that does not
    answer, a corrupt file: one line, before any work. A file is probed first (truncation up front)."""
    from ..vision.capture import Capture, source_of
    from ..vision.video import probe
    source = source_of(video, camera)
    if source.kind == "file":
        probe(source.target, max_frames)
    return Capture(source)


def add_estimator_args(p: argparse.ArgumentParser) -> None:
    """The camera-fed estimator's options (estimate, video, demo --video)."""
    from ..vision.estimator import DEFAULT_MAX_PEOPLE
    from ..vision.multipose import MAX_PEOPLE
    p.add_argument("--intrinsics", metavar="FX,FY,CX,CY|YAML",
                   help="camera intrinsics in pixels, or a ROS camera_info YAML (camera_matrix) / a YAML with "
                   "fx, fy, cx, cy (default: a guess, focal length = image width, principal point = centre)")
    p.add_argument("--no-smoothing", action="store_true",
                   help="turn off MediaPipe's own landmark smoothing (on by default, as MediaPipe ships it; it "
                   "exists for one person only)")
    p.add_argument("--max-people", type=_number(int, 1, hi=MAX_PEOPLE, what="people count"),
                   default=DEFAULT_MAX_PEOPLE, metavar="N",
                   help="find up to N people per frame, each with a track id (default 1: the single-person "
                   "estimator, about half the cost per frame; N > 1 writes the multi-person pose file form)")
    p.add_argument("--no-tiles", action="store_true",
                   help="with --max-people > 1: look for people in the whole frame at once, not in two overlapping "
                   "square tiles of a wide frame (cheaper; people far from the camera are found less often)")
    p.add_argument("--max-frames", type=positive_int, default=None, help="stop after this many frames")
    p.add_argument("--floor", metavar="NX,NY,NZ,D", type=_floor_arg,
                   help="the floor in the camera's optical frame (a point X lies n.X - d above it, n the unit up "
                   "vector): each person is scaled about the camera to stand on it, so their distance rests on "
                   "the floor rather than on BlazePose's idea of their size")


def _floor_arg(text: str):
    from ..core.floor import parse_floor
    try:
        return parse_floor(text, "--floor", origin_is_camera=True)
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def check_estimator(max_people: int) -> None:
    """Before any work: MediaPipe installed, and for several people the model bundle built (one line if not)."""
    from ..vision.blazepose import import_mediapipe
    import_mediapipe()
    if max_people > 1:
        from ..vision.bundle import pose_bundle
        pose_bundle()


def video_intrinsics(text: str | None, width: int, height: int, what: str):
    """--intrinsics for a video of width x height (parsed, checked against its size), or the guess."""
    from ..vision.camera import guess_intrinsics, parse_intrinsics
    if not text:
        return guess_intrinsics(width, height)
    intr = parse_intrinsics(text)
    intr.check_size(width, height, what)
    return intr


def estimate_video(capture, intr, smooth: bool = True, limit: int | None = None, desc: str = "estimating",
                   max_people: int = 1, tiles: bool = True, floor=None):
    """The estimator over an opened source (vision/capture.py), with a progress bar: the per-frame Series.
    The frames' stamps are in `capture.stamps` (the first len(Series) of them). A live source stops at
    `limit`, when it stops sending (capture.stop_reason says so), or on Ctrl-C: what was estimated is kept.
    max_people > 1: every person found, with the track ids of the association the refiner runs
    (stream/identify.py), in the multi-person form (Series.of_people)."""
    from ..stream.association import Associator
    from ..stream.identify import identify
    from ..vision.estimator import PoseEstimator, Series
    from ..vision.video import to_rgb
    try:
        est = PoseEstimator(smooth=smooth, max_people=max_people, tiles=tiles, floor=floor)
    except BaseException:
        capture.close()
        raise
    assoc = Associator(fps=capture.fps)
    n = capture.frames_announced
    total = min(n, limit) if limit and n else (limit or n)
    out, ids = [], []
    try:
        with progress(total, desc) as bar:
            for frame in capture.frames(limit):
                if max_people == 1:
                    out.append(est(to_rgb(frame.bgr), intr))
                else:
                    people = est.people(to_rgb(frame.bgr), intr, frame.stamp)
                    ids.append(identify(assoc, frame.stamp, people).ids)
                    out.append(people)
                bar.update(1)
    except KeyboardInterrupt:
        if not capture.live:
            raise
        capture.stop_reason = f"stopped by Ctrl-C after {len(out)} frames"
    finally:
        est.close()
        capture.close()
    if not out:
        raise InputError(f"{capture.source}: no frame could be decoded")
    return Series.of(out) if max_people == 1 else Series.of_people(out, ids)
