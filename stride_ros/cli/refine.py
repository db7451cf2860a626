# SPDX-License-Identifier: MIT
"""`stride-ros refine`: one sequence, offline (the whole clip) or streamed exactly as the node runs.

The input is a pose file (one person [T, 17, 3], or several [T, N, 17, 3] with or without
track_ids) or a landmarks file (what a camera-fed estimator saw, CONTRACT.md), which is placed
exactly as the `pose_estimator` node places a live camera's landmarks, on the file's floor unless
`--no-floor`. The output is absolute joints in the input's frame (the camera's optical frame for a
landmarks file): the one-person form for one person, the several-people form with the refiner's own
track ids otherwise.
"""
from __future__ import annotations

import argparse

import numpy as np

from ..core.errors import InputError
from .common import add_model_args, check_lag, load_model, make_backend, nonneg_float, nonneg_int, out_path

HELP = "refine a pose or landmarks file (offline STRIDE, or streamed as the node does)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="input .npz: a pose file (one or several people) or a landmarks file")
    p.add_argument("-o", "--output", required=True, help="output .npz (never the input)")
    p.add_argument("--mode", choices=["offline", "stream"], default="offline")
    p.add_argument("--lag", type=nonneg_int, default=None, help="stream: output lag in frames (default 0 = causal)")
    p.add_argument("--lead-ms", type=nonneg_float, default=0.0,
                   help="stream: publish each frame's pose forecast this far ahead, stamped with that time "
                   "(latency compensation; 0 = off; at most the prior's horizon)")
    p.add_argument("--tta-steps", type=nonneg_int, default=None,
                   help="offline: adaptation epochs (default 0 = the prior alone, the measured best: "
                   "docs/results.md, Adaptation; the paper used 30); stream: epochs per background burst (default: no "
                   "adaptation; N > 0 turns it on)")
    p.add_argument("--adapt", action="store_true",
                   help="stream: learn each person's share of the estimator's pose in the background "
                   "(the node's adapt with adapt_params: blend)")
    p.add_argument("--floor", metavar="NX,NY,NZ,D",
                   help="the floor in the input's frame: a point X lies n.X - d metres above it, n the unit up "
                   "vector (default: a landmarks file's own floor; pose files: none)")
    p.add_argument("--no-floor", action="store_true", help="ignore the landmarks file's floor: distance then "
                   "rests on the estimator's body size")
    p.add_argument("--rays", action=argparse.BooleanOptionalAction, default=None,
                   help="keep refined joints on the camera's viewing rays through the observed ones (the input's "
                   "origin is the camera centre, as pose_estimator publishes; the node's camera_rays). Default: "
                   "on for a landmarks file and for `stride-ros estimate`'s pose files (they carry the "
                   "intrinsics), off for other pose files")
    p.add_argument("--ignore-ids", action="store_true",
                   help="several people: ignore the file's track_ids and associate people by position, body "
                   "and image overlap (the node's trust_track_ids: false)")
    add_model_args(p, device=True, backend=True)


def run(a: argparse.Namespace) -> int:
    from ..core.floor import parse_floor
    from ..data.landmarkfile import is_landmarks_file, load_landmarks
    from ..data.posefile import PoseSequence, load_poses, save_poses

    if a.mode == "offline" and a.lag is not None:
        raise InputError("--lag applies to --mode stream (offline refinement sees the whole clip)")
    if a.mode == "offline" and a.lead_ms:
        raise InputError("--lead-ms applies to --mode stream (a forecast from the frames seen so far)")
    if a.mode == "offline" and a.adapt:
        raise InputError("--adapt applies to --mode stream (offline refinement already sees each frame's future)")
    if a.adapt and a.tta_steps:
        raise InputError("--adapt (the estimator share) and --tta-steps (weight bursts) are two adaptations: "
                         "choose one")
    if a.mode == "offline" and a.backend not in ("auto", "torch"):
        raise InputError("--mode offline runs on the torch backend (it trains the model)")
    if a.floor and a.no_floor:
        raise InputError("--floor and --no-floor contradict each other")
    floor = parse_floor(a.floor, "--floor", origin_is_camera=False) if a.floor else None
    out = out_path(a.output, [a.input], ".npz")
    keypoints = None
    if is_landmarks_file(a.input):
        from ..vision.chain import place_sequence
        from .common import progress
        lm = load_landmarks(a.input)
        if floor is None and not a.no_floor:
            floor = lm.floor
        with progress(len(lm), "placing") as bar:
            placed = place_sequence(lm, floor, progress=lambda: bar.update(1))
        seq = PoseSequence(placed.poses, lm.fps, placed.confidence, None, placed.track_ids)
        keypoints = placed.keypoints_px
        print(f"placed {len(lm)} frames of landmarks ({lm.people()} slot(s)); floor: "
              f"{floor.describe() if floor else 'none: distance rests on body size'}")
    else:
        seq = load_poses(a.input)
    if a.rays is None:  # a landmarks file is placed on its rays here; `estimate` wrote its poses on them
        a.rays = keypoints is not None or _from_the_camera_chain(a.input)
    if np.isnan(seq.poses).all():
        raise InputError(f"{a.input}: every joint of every frame is missing: nothing to refine")
    model = load_model(a.model, a.device, threads=None if a.mode == "offline" else 1)
    if seq.several or a.ignore_ids:
        result = _several(a, model, seq, keypoints, floor)
    else:
        result = _one(a, model, seq, floor)
    stamps = seq.stamps
    if a.mode == "stream" and a.lead_ms:  # each row describes its frame's time + lead
        stamps = seq.stamps_or_default() + a.lead_ms / 1000
    result.stamps = stamps
    save_poses(out, result, protect=(a.input,))
    print(f"wrote {out}")
    return 0


def _from_the_camera_chain(path: str) -> bool:
    """A pose file `stride-ros estimate` wrote: absolute joints in the camera's optical frame, each on
    its viewing ray, with the intrinsics and 2D joints beside them."""
    try:
        with np.load(path) as z:
            return {"intrinsics", "keypoints_px"} <= set(z.files)
    except (OSError, ValueError):
        return False


def _floor_up(floor) -> np.ndarray | None:
    """Offline, as the stream with a floor (`StreamConfig.floor_up`): the canonical frame's up is its normal."""
    return None if floor is None else floor.normal


def _stream_config(a: argparse.Namespace, model, seq, floor):
    from ..stream.refiner import StreamConfig
    lag = a.lag or 0
    check_lag(model, lag)
    lead_s = a.lead_ms / 1000
    horizon = model.cfg.max_lead / seq.fps
    if lead_s > horizon + 1e-9:
        raise InputError(f"--lead-ms {a.lead_ms:g}: beyond the prior's horizon ({horizon * 1000:.0f} ms at "
                         f"{seq.fps:g} fps)" if horizon else "--lead-ms: this prior has no forecast heads")
    weights = a.tta_steps is not None and a.tta_steps > 0
    return StreamConfig(lag=lag, fps=seq.fps, lead_s=lead_s, floor=floor, trust_ids=not a.ignore_ids,
                        adapt=weights or a.adapt, adapt_params="top" if weights else "blend",
                        adapt_epochs=max(1, a.tta_steps or 1), rays=a.rays)


def _one(a: argparse.Namespace, model, seq, floor):
    """One person: the one-person file form."""
    from ..data.posefile import PoseSequence
    from ..offline.adapt import AdaptConfig, refine_offline
    from ..stream.sequence import stream_sequence
    if a.mode == "offline":
        res = refine_offline(model, seq.poses, seq.confidence_or_default(), seq.fps,
                             AdaptConfig(epochs=a.tta_steps or 0), up=_floor_up(floor))
        poses = res.poses
        if a.rays:
            from ..stream.rays import rays_sequence
            poses = rays_sequence(poses, seq.poses, seq.confidence, seq.fps, keep_distance=floor is None)
        if floor is not None:
            from ..stream.grounding import ground_track
            poses = ground_track(poses, seq.poses, floor, seq.fps)
        print(f"offline: {len(seq)} frames, adaptation: {res.reason} ({res.seconds:.1f} s)")
        return PoseSequence(poses, seq.fps)
    backend = make_backend(a.backend, a.device)
    cfg = _stream_config(a, model, seq, floor)
    try:
        poses, conf, status = stream_sequence(model, seq, cfg, backend)
    except ValueError as e:  # a configuration the refiner refuses (e.g. a lead with the ahead trunk)
        raise InputError(str(e)) from None
    print(f"stream: {len(seq)} frames at lag {cfg.lag}{f', lead {a.lead_ms:g} ms' if cfg.lead_s else ''}, "
          f"backend {backend.kind}; {status['worker']}; dropped {status['dropped'] or 'none'}")
    return PoseSequence(poses, seq.fps, conf)


def _several(a: argparse.Namespace, model, seq, keypoints, floor):
    """Several people (or ids to ignore): the several-people form with the refiner's own ids."""
    from ..data.posefile import PoseSequence
    from ..stream.sequence import people_of, stream_people
    if a.lead_ms:
        raise InputError("--lead-ms applies to one person's file")
    frames = people_of(seq, keypoints)
    if a.mode == "offline":
        poses, conf, ids = _offline_people(model, frames, seq, a, floor)
        print(f"offline: {len(seq)} frames, {int(ids.max()) + 1 if (ids >= 0).any() else 0} people")
        return PoseSequence(poses, seq.fps, conf, None, ids)
    backend = make_backend(a.backend, a.device)
    cfg = _stream_config(a, model, seq, floor)
    try:
        res = stream_people(model, frames, seq.stamps_or_default(), cfg, backend)
    except ValueError as e:
        raise InputError(str(e)) from None
    people = len(set(res.track_ids[res.track_ids >= 0].tolist()))
    print(f"stream: {len(seq)} frames at lag {cfg.lag}, {people} people tracked, ids "
          f"{'from the file (trusted)' if cfg.trust_ids and seq.track_ids is not None else 'associated'}; "
          f"identity events {res.status['identities'] or 'none'}; dropped {res.status['dropped'] or 'none'}")
    return PoseSequence(res.poses, seq.fps, res.confidence, None, res.track_ids)


def _offline_people(model, frames, seq, a, floor):
    """Offline, several people: who is who from the same association the stream runs, then each
    person's frames refined as one clip (frames they were not seen in are gaps)."""
    from ..offline.adapt import AdaptConfig, refine_offline
    from ..stream.association import AssociationParams, Associator
    T = len(frames)
    assoc = Associator(AssociationParams(), seq.fps)
    stamps = seq.stamps_or_default()
    tracks: dict[int, list[tuple[int, object]]] = {}
    for t, people in enumerate(frames):
        for p, key in zip(people, assoc.step(float(stamps[t]), people, trust_ids=not a.ignore_ids)):
            if key is not None:
                tracks.setdefault(key, []).append((t, p))
    keys = sorted(tracks)
    poses = np.full((T, max(len(keys), 1), 17, 3), np.nan, np.float32)
    conf = np.zeros((T, max(len(keys), 1), 17), np.float32)
    ids = np.full((T, max(len(keys), 1)), -1, np.int64)
    for k, key in enumerate(keys):
        idx = [t for t, _ in tracks[key]]
        lo, hi = idx[0], idx[-1] + 1
        P = np.full((hi - lo, 17, 3), np.nan, np.float32)
        C = np.zeros((hi - lo, 17), np.float32)
        for t, p in tracks[key]:
            P[t - lo], C[t - lo] = p.poses, 1.0 if p.confidence is None else p.confidence
        if (~np.isnan(P[:, 0]).any(-1)).sum() < 2:
            continue
        out = refine_offline(model, P, C, seq.fps, AdaptConfig(epochs=a.tta_steps or 0),
                             up=_floor_up(floor)).poses
        if a.rays:
            from ..stream.rays import rays_sequence
            out = rays_sequence(out, P, C, seq.fps, keep_distance=floor is None)
        if floor is not None:
            from ..stream.grounding import ground_track
            out = ground_track(out, P, floor, seq.fps)
        poses[lo:hi, k], conf[lo:hi, k], ids[lo:hi, k] = out, np.where(np.isnan(P).any(-1), 0.3, C), key
    return poses, conf, ids
