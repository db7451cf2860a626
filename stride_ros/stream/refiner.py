"""The streaming refiner: frames in one by one with stamps, one refined frame out per input frame.

This is the core the ROS node wraps and `stride-ros refine --mode stream` runs; it imports no ROS.

Per person (track) it keeps the model's key/value cache, a Kalman filter on the pelvis and a
buffer of recent encoded frames. Each input frame costs one cached model step per live track
(model.py); the output for frame f leaves at frame f + lag, stamped with frame f's own stamp, from
the pelvis smoothed over the same `lag` frames and the trunk and head that publish that lag: the
causal trunk for short lags, the ahead trunk (every layer sees a few future frames) from the
model's measured `ahead_from` on (ModelConfig.stream_head).

Time: stamps drive everything. A gap of k nominal periods inserts k-1 missing frames (the model
keeps its time base); a repeated stamp or one slightly out of order is dropped; a stamp far in the
past (a bag restarted) resets every track. Tracks expire after `track_timeout_s` of not being seen.

Adaptation: every `adapt_interval_s` a track's recent frames go to the adaptation worker
(adaptation_worker.py), which returns a runner with adapted weights and a cache already caught up;
the frame path swaps it in between two steps. The frame path never waits for adaptation.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Hashable

import numpy as np

from ..offline.adapt import AdaptConfig
from ..model.backends import Backend, Runner
from ..model.dstformer import DSTformer
from ..core.canonical import Canonicaliser
from ..core.representation import encode, frame_weight, to_input_frame, usable
from ..core.rootpath import RootFilter, RootFilterParams
from ..core.skeleton import NUM_JOINTS

if TYPE_CHECKING:
    from .worker import AdaptationWorkerBase

log = logging.getLogger("stride_ros.stream.refiner")


@dataclass
class StreamConfig:
    lag: int = 0  # output lag in frames (0 = causal)
    fps: float = 30.0  # nominal input rate: defines a frame period for gap inference
    track_timeout_s: float = 3.0  # a track not seen for this long expires (> a 1.6 s occlusion)
    jump_back_reset_s: float = 0.5  # a stamp further back than this resets; nearer: out of order
    max_tracks: int = 8
    inferred_conf: float = 0.3  # confidence of an inferred joint just after it was last seen...
    inferred_conf_tau_s: float = 1.0  # ...decaying with this time constant
    # background adaptation: off by default. Measured on the validation subjects with the shipped
    # prior (README, Results): bursts that pass every check still cost 2 % MPJPE at lag 0 and 12 %
    # at lag 8, because the prior already beats the estimator it would learn from. Turn it on
    # for a prior that does not match your estimator (its held-out check then decides).
    adapt: bool = False
    adapt_interval_s: float = 4.0
    adapt_buffer_frames: int = 162
    adapt_min_frames: int = 90
    adapt_min_observed: float = 0.5  # share of buffered frames with an observed pelvis
    adapt_epochs: int = 6
    max_adapted_tracks: int = 4
    root: RootFilterParams = field(default_factory=RootFilterParams)
    # per-frame work is hundreds of tiny ops: extra intra-op threads only add synchronisation
    # (and spin against the adaptation worker); None leaves torch's process-wide setting alone
    torch_threads: int | None = 1

    def adapt_config(self) -> AdaptConfig:
        return AdaptConfig(epochs=self.adapt_epochs, flip=True, max_batch=4)


@dataclass
class TrackPose:
    poses: np.ndarray  # [17, 3] absolute, no NaN
    confidence: np.ndarray  # [17]: input confidence where observed, low and decaying where inferred
    observed: np.ndarray  # [17] bool


@dataclass
class RefinedFrame:
    stamp: float
    meta: Any
    tracks: dict[Hashable, TrackPose]


@dataclass
class Handover:
    runner: Runner
    state: Any
    upto: int  # the state has consumed frames up to and including this index
    weights: dict  # the adapted state dict (for the next burst of this person)


class Track:
    def __init__(self, tid: Hashable, key: int, frame: int, stamp: float, runner: Runner, cfg: StreamConfig,
                 buffer_len: int):
        self.id = tid
        self.key = key  # unique for the refiner's lifetime (ids repeat after a reset)
        self.created = frame
        self.last_seen_stamp = stamp
        self.runner = runner
        self.state = runner.empty_state()
        self.weights: dict | None = None  # adapted state dict; None = the shared prior
        self.root = RootFilter(cfg.root, history=max(cfg.lag + 2, 8))
        self.lock = threading.Lock()
        self.frames: deque[tuple[int, np.ndarray]] = deque(maxlen=buffer_len)  # (index, x [17, 4])
        # (index, conf, since_seen, canonical rotation or None) of the frames still to be published
        self.flags: deque[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]] = deque(maxlen=cfg.lag + 2)
        self.canon = Canonicaliser(fps=cfg.fps)
        self.since_seen = np.zeros(NUM_JOINTS)
        self.pending: Handover | None = None
        self.alive = True
        self.adapt_runs = 0
        self.adapt_state = "prior"
        self.adapt_last = ""

    @property
    def buffered(self) -> int:
        return len(self.frames)


class StreamingRefiner:
    """push(stamp, persons) -> refined frames that the lag now allows; flush() at the end."""

    def __init__(self, model: DSTformer, cfg: StreamConfig = StreamConfig(), backend: Backend | None = None,
                 worker: "AdaptationWorkerBase | None" = None):
        if not 0 <= cfg.lag <= model.cfg.max_stream_lag:
            raise ValueError(f"lag {cfg.lag} outside the model's lags 0..{model.cfg.max_stream_lag}")
        self.model = model.eval()
        self.cfg = cfg
        self.ahead, self.head = model.cfg.stream_head(cfg.lag)
        if cfg.torch_threads:
            import torch
            torch.set_num_threads(cfg.torch_threads)
        self.backend = backend or Backend()
        self.base_runner = self.backend.runner(model, ahead=self.ahead)
        self.frame_done = threading.Event()  # set when push() returns: between frames, the CPU is free
        self.swaps = 0  # adapted weights taken over by the frame path
        self.buffer_len = max(cfg.adapt_buffer_frames, model.cfg.depth * (model.cfg.window - 1) + 1)
        self.worker = worker
        if cfg.adapt and self.worker is None:
            from .worker import InlineWorker
            self.worker = InlineWorker()
        if self.worker is not None:
            self.worker.bind(self)
        self.dropped: Counter[str] = Counter()
        self._logged: set[str] = set()
        self.reset()

    # --- lifecycle -----------------------------------------------------------------------------
    def reset(self) -> None:
        for t in list(getattr(self, "tracks", {}).values()):
            self._drop_track(t, "reset")
        self.tracks: dict[Hashable, Track] = {}
        self.frame = -1
        self.last_stamp: float | None = None
        self.messages: dict[int, tuple[float, Any]] = {}
        self.pending_out: dict[int, dict[Hashable, TrackPose]] = {}
        self.last_adapt_stamp: float | None = None
        self._rr = 0
        self._next_key = getattr(self, "_next_key", 0)

    def _note(self, reason: str, detail: str) -> None:
        self.dropped[reason] += 1
        if reason not in self._logged:
            self._logged.add(reason)
            log.warning("%s: %s (logged once; counted in diagnostics)", reason, detail)

    # --- input -----------------------------------------------------------------------------------
    def push(self, stamp: float, persons: dict[Hashable, tuple[np.ndarray, np.ndarray | None]],
             meta: Any = None) -> list[RefinedFrame]:
        """One input frame: every person seen in it (empty: nobody seen). Returns refined frames."""
        period = 1.0 / self.cfg.fps
        if not np.isfinite(stamp):
            self._note("bad_stamp", f"stamp {stamp} is not finite: frame dropped")
            return []
        steps = 1
        if self.last_stamp is not None:
            dt = stamp - self.last_stamp
            if dt == 0:
                self._note("duplicate_stamp", f"stamp {stamp:.6f} repeated: frame dropped")
                return []
            if dt < -self.cfg.jump_back_reset_s:
                self._note("time_jumped_back", f"stamp went back {-dt:.2f} s: all tracks reset")
                self.reset()
            elif dt < 0:
                self._note("out_of_order", f"stamp {-dt * 1000:.1f} ms older than the last: frame dropped")
                return []
            else:
                steps = max(1, int(round(dt / period)))
                if dt > self.cfg.track_timeout_s:
                    steps = 1  # every track expires anyway: do not step through the silence
                    self._expire_all(stamp)
        out: list[RefinedFrame] = []
        for k in range(steps - 1, 0, -1):  # inferred missing frames inside a gap
            self._advance(stamp - k * period, {}, None, real=False)
        self._advance(stamp, persons, meta, real=True)
        self.last_stamp = stamp
        out += self._emit(upto=self.frame - self.cfg.lag)
        self.frame_done.set()
        return out

    def flush(self) -> list[RefinedFrame]:
        """Emit the last `lag` frames (end of a file or bag): `lag` more frames in which nobody is
        seen carry them out of the model, which treats the unknown future as it treats occlusion."""
        if self.last_stamp is None:
            return []
        for k in range(1, self.cfg.lag + 1):
            self._advance(self.last_stamp + k / self.cfg.fps, {}, None, real=False)
        return self._emit(upto=self.frame)

    # --- the per-frame work ----------------------------------------------------------------------
    def _expire_all(self, stamp: float) -> None:
        for t in list(self.tracks.values()):
            self._drop_track(t, "expired")

    def _drop_track(self, t: Track, why: str) -> None:
        t.alive = False
        self.tracks.pop(t.id, None)
        self._retire(t.runner)
        t.runner = t.pending = None
        if self.worker is not None:
            self.worker.on_drop(t)
        log.info("track %s %s after %d frames", t.id, why, self.frame - t.created + 1)

    def _valid_person(self, tid, poses, conf) -> tuple[np.ndarray, np.ndarray] | None:
        poses = np.asarray(poses, dtype=np.float32)
        if poses.shape != (NUM_JOINTS, 3):
            self._note("wrong_joint_count", f"person {tid}: {poses.shape} points, expected ({NUM_JOINTS}, 3)")
            return None
        conf = (np.ones(NUM_JOINTS, np.float32) if conf is None
                else np.nan_to_num(np.asarray(conf, np.float32).reshape(NUM_JOINTS), nan=0.0).clip(0, 1))
        poses = np.where(np.isinf(poses), np.nan, poses)
        if np.isnan(poses).any(-1).all() or not (conf > 0).any():
            self._note("all_nan", f"person {tid}: no valid joint: treated as not seen")
            return None
        return poses, conf

    def _advance(self, stamp: float, persons: dict, meta: Any, real: bool) -> None:
        self.frame += 1
        f = self.frame
        if real:
            self.messages[f] = (stamp, meta)
        seen: dict[Hashable, tuple[np.ndarray, np.ndarray]] = {}
        for tid, (poses, conf) in persons.items():
            v = self._valid_person(0 if tid is None else tid, poses, conf)
            if v is not None:
                seen[0 if tid is None else tid] = v
        for t in list(self.tracks.values()):
            if t.id not in seen and stamp - t.last_seen_stamp > self.cfg.track_timeout_s:
                self._drop_track(t, "expired")
        for tid, (poses, conf) in seen.items():
            if tid not in self.tracks:
                if len(self.tracks) >= self.cfg.max_tracks:
                    self._note("too_many_tracks", f"more than {self.cfg.max_tracks} people: person {tid} ignored")
                    continue
                x, ref = encode(poses[None], conf[None])
                if np.isnan(ref).any():
                    self._note("no_reference", f"person {tid}: neither pelvis nor both hips seen: not started")
                    continue
                self._next_key += 1
                self.tracks[tid] = Track(tid, self._next_key, f, stamp, self.base_runner, self.cfg, self.buffer_len)
        dt = 1.0 / self.cfg.fps
        canonical = self.model.cfg.canonical
        for t in self.tracks.values():
            obs = seen.get(t.id)
            rot = None
            if obs is not None:
                t.last_seen_stamp = stamp
                if canonical:
                    present, conf = usable(obs[0], obs[1])
                    rot = t.canon.update(obs[0], present, float(frame_weight(present, conf)))
                x, ref = encode(obs[0][None], obs[1][None], None if rot is None else rot[None])
                x, ref = x[0], ref[0]
                rconf = x[0, 3] if x[0, 3] > 0 else min(x[1, 3], x[4, 3])
            else:
                x, ref, rconf = np.zeros((NUM_JOINTS, 4), np.float32), None, 0.0
                if canonical:
                    rot = t.canon.update(None, None)
            t.root.update(ref, float(rconf), dt)
            present = x[:, 3] > 0
            t.since_seen = np.where(present, 0.0, t.since_seen + 1)
            self._take_handover(t)
            out, t.state = t.runner.step(x[None], t.state)
            with t.lock:
                t.frames.append((f, x))
            if self.worker is not None:
                self.worker.on_frame(t, f, x)
            t.flags.append((f, x[:, 3].copy(), t.since_seen.copy(), rot))
            g = f - self.cfg.lag
            if g >= t.created and t.root.started:
                self.pending_out.setdefault(g, {})[t.id] = self._pose(t, out[0, :, self.head], g)
        if self.worker is not None and self.cfg.adapt:
            self._maybe_adapt(stamp)

    def _pose(self, t: Track, out: np.ndarray, g: int) -> TrackPose:
        """Frame g's published pose from the model's pelvis-relative output [17, 3] for it."""
        rel = out - out[:1]
        root = t.root.smoothed(self.frame - g)
        conf = since = rot = None
        for idx, c, s, r in t.flags:
            if idx == g:
                conf, since, rot = c, s, r
        if rot is not None:
            rel = to_input_frame(rel, rot)
        if conf is None:
            conf, since = np.zeros(NUM_JOINTS, np.float32), np.full(NUM_JOINTS, 1e6)
        observed = conf > 0
        inferred = self.cfg.inferred_conf * np.exp(-since / self.cfg.fps / self.cfg.inferred_conf_tau_s)
        return TrackPose((rel + root).astype(np.float32), np.where(observed, conf, inferred).astype(np.float32),
                         observed)

    def _emit(self, upto: int) -> list[RefinedFrame]:
        out = []
        for g in sorted(k for k in self.messages if k <= upto):
            stamp, meta = self.messages.pop(g)
            out.append(RefinedFrame(stamp, meta, self.pending_out.pop(g, {})))
        for g in [k for k in self.pending_out if k <= upto]:
            del self.pending_out[g]  # inferred gap frames: nothing to publish
        return out

    # --- adaptation --------------------------------------------------------------------------------
    def _take_handover(self, t: Track) -> None:
        h = t.pending
        if h is None:
            return
        t.pending = None
        behind = [x for idx, x in list(t.frames) if idx > h.upto]
        if len(behind) > 8:
            t.adapt_last = f"handover {len(behind)} frames behind: discarded"
            return
        state = h.state
        for x in behind:
            _, state = h.runner.step(x[None], state)
        self._retire(t.runner)
        t.runner, t.state, t.weights = h.runner, state, h.weights
        t.adapt_state = "adapted"
        self.swaps += 1

    def _retire(self, runner: Runner | None) -> None:
        """An adapted runner that is no longer used. Freeing an onnxruntime session takes 5-15 ms with
        the GIL held: the worker frees it just after a frame instead of in the middle of one."""
        if runner is not None and runner is not self.base_runner and self.worker is not None:
            self.worker.retire(runner)

    def _maybe_adapt(self, stamp: float) -> None:
        if self.last_adapt_stamp is not None and stamp - self.last_adapt_stamp < self.cfg.adapt_interval_s:
            return
        if self.worker.busy():
            return
        n_adapted = sum(m.weights is not None for m in self.tracks.values())
        eligible = [t for t in self.tracks.values() if t.buffered >= self.cfg.adapt_min_frames
                    and (t.weights is not None or n_adapted < self.cfg.max_adapted_tracks)]
        eligible = [t for t in eligible if self._observed_share(t) >= self.cfg.adapt_min_observed]
        if not eligible:
            return
        self._rr += 1
        t = eligible[self._rr % len(eligible)]
        self.last_adapt_stamp = stamp
        t.adapt_state = "adapting"
        self.worker.submit(t)

    def _observed_share(self, t: Track) -> float:
        with t.lock:
            xs = [x for _, x in list(t.frames)[-self.cfg.adapt_buffer_frames:]]
        return float(np.mean([x[0, 3] > 0 for x in xs])) if xs else 0.0

    # --- status -------------------------------------------------------------------------------------
    def status(self) -> dict:
        return {
            "frame": self.frame,
            "tracks": {str(t.id): {"buffered": t.buffered, "adaptation": t.adapt_state,
                                   "adapt_runs": t.adapt_runs, "last_result": t.adapt_last}
                       for t in self.tracks.values()},
            "dropped": dict(self.dropped),
            "backend": self.backend.kind,
            "worker": self.worker.describe() if self.worker else "off",
            "swaps": self.swaps,
        }

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
