# SPDX-License-Identifier: MIT
"""The streaming refiner: frames in one by one with stamps, one refined frame out per input frame.

This is the core the ROS node wraps and `stride-ros refine --mode stream` runs; it imports no ROS.

Per person (track) it keeps the model's key/value cache, a Kalman filter on the pelvis, the
track's canonical frame (core/canonical.py, for a prior trained with one) and a buffer of recent
encoded frames. Each input frame costs one cached model step per live track (model/dstformer.py);
the output for frame f leaves at frame f + lag, stamped with frame f's own stamp, from the pelvis
smoothed over the same `lag` frames and the trunk and head that publish that lag (the causal
trunk for short lags, the ahead trunk from the model's measured `ahead_from` on).

With a lead L (seconds, `lead_s`), each input frame also yields the pose forecast for its capture
time + L, stamped with that time: the causal trunk's forecast heads (interpolated between whole
frames, capped at the model's horizon) and the pelvis filter's prediction, with confidence falling
with the horizon. A lead needs the causal trunk, so it combines with lags the causal heads serve.

Time: stamps drive everything. A gap of k nominal periods inserts k-1 missing frames (the model
keeps its time base), within a budget of model steps per input frame, so a gap made by dropping
messages under overload never costs more than the frames it saved (beyond the budget the gap is
shortened, counted as `gap_frames_skipped`). A repeated stamp or one slightly out of order is
dropped, unless several in a row agree on an earlier timeline (one stamp from the future then
stops costing more than itself); a stamp far in the past (a bag restarted) resets every track.
Tracks expire after `track_timeout_s` of not being seen (also between messages: `expire_idle`).

Input is bounded: a joint further than `max_abs_m` from the frame's origin is implausible and
treated as missing, a "body" whose joints all sit within `min_extent_m` is no body (both counted);
every published value is checked finite, and a track whose output
is not is dropped and restarted (counted), so no NaN or absurd value ever leaves.

Adaptation: every `adapt_interval_s` a copy of one person's recent frames goes to the adaptation
worker (worker.py); finished bursts are polled here, on the frame thread, and swapped in between
two steps. The frame path never waits for adaptation, and the worker never touches a track.
"""
from __future__ import annotations

import logging
import math
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Hashable

import numpy as np

from ..core.body import BodyModel
from ..core.canonical import Canonicaliser
from ..core.counting import DropCounter
from ..core.floor import Floor
from ..core.representation import ANCHORS, encode, frame_weight, rezero, seen_centroid_shift, to_input_frame, usable
from ..core.rootpath import RootFilterParams
from ..core.skeleton import NUM_JOINTS
from ..model.backends import Backend, Runner
from ..model.dstformer import DSTformer
from ..offline.adapt import AdaptConfig
from .association import AssociationParams, Associator, Person
from .blend import BlendParams, EstimatorBlend
from .grounding import Ground, GroundParams
from .rays import DistanceKeeper, RayParams, RaySnap
from .worker import AdaptationWorker, AdaptRequest, Handover, InlineWorker, replay

log = logging.getLogger("stride_ros.stream.refiner")

TRUNKS = ("auto", "causal", "ahead")


@dataclass
class StreamConfig:
    lag: int = 0  # output lag in frames (0 = causal)
    fps: float = 30.0  # nominal input rate: defines a frame period for gap inference
    trunk: str = "auto"  # which trunk publishes the lag: auto (the model's measured choice), causal, ahead
    lead_s: float = 0.0  # forecast horizon (s): also publish the pose at capture time + lead (0: off)
    lead_conf_tau_s: float = 0.5  # confidence of a forecast falls as exp(-lead / tau)
    track_timeout_s: float = 3.0  # a track not seen for this long expires (> a 1.6 s occlusion)
    jump_back_reset_s: float = 0.5  # a stamp further back than this resets; nearer: out of order
    resync_after: int = 3  # this many consecutive older, mutually ordered stamps: follow them
    max_tracks: int = 8
    trust_ids: bool = True  # follow the input's track ids (as a strong cue); False: associate people itself
    association: AssociationParams = field(default_factory=AssociationParams)  # its timeout and max_tracks: above
    floor: Floor | None = None  # the floor in the input's frame (core/floor.py); None: distance rests on body size
    floor_up: bool = True  # with a floor: the canonical frame's up is the floor's normal (else the body's)
    ground: GroundParams = field(default_factory=GroundParams)  # contacts, scale, the lower bound (grounding.py)
    max_abs_m: float = 100.0  # a joint further than this from the frame's origin is implausible
    min_extent_m: float = 0.2  # 8+ joints packed closer than this (bounding-box diagonal) are no body
    max_gap_fill_steps: int = 32  # model steps (all tracks) one input frame may spend on inferred gap frames
    body_model: bool = False  # impose each person's own bone lengths (core/body.py; measured: docs/results.md)
    trust_band_m: float = 0.3  # a refined joint stays this close to a confidently observed one (0: off)
    max_output_speed_mps: float = 12.0  # the published pelvis never moves faster (0.4 m per frame at 30 Hz)
    trust_band_conf: float = 0.5  # "confidently": at least this confidence
    # where the refined body sits on the observation: "pelvis" (its pelvis on the filtered pelvis) or
    # "centroid" (then shifted so its confidently seen joints' weighted centroid is the observation's:
    # the estimator's hip midpoint is not a joint centre, and the prior corrects the pose but not the
    # root; measured on the camera chain, docs/results.md)
    anchor: str = "centroid"
    anchor_tau_s: float = 0.2  # the centroid shift is smoothed over this time constant (0: each frame's own)
    # the input is the camera chain's: the frame's origin is the camera centre and each observed joint lies
    # on its viewing ray (pose_estimator's placement); refined joints are kept on those rays (stream/rays.py)
    rays: bool = False
    ray: RayParams = field(default_factory=RayParams)
    inferred_conf: float = 0.3  # confidence of an inferred joint just after it was last seen...
    inferred_conf_tau_s: float = 1.0  # ...decaying with this time constant
    # background adaptation: off by default (docs/results.md, Adaptation: measured per estimator and prior).
    adapt: bool = False
    adapt_interval_s: float = 4.0
    adapt_buffer_frames: int = 162
    adapt_min_frames: int = 90
    adapt_min_observed: float = 0.5  # share of buffered frames with an observed pelvis
    adapt_epochs: int = 6
    adapt_objective: str = "stride"  # what a burst fits (offline/adapt.py AdaptConfig.objective)
    # what a burst learns: "blend", each person's estimator share (stream/blend.py; no weight moves), or
    # which weights it moves (AdaptConfig.params: top, norms, all)
    adapt_params: str = "blend"
    blend: BlendParams = field(default_factory=BlendParams)
    max_adapted_tracks: int = 4
    root: RootFilterParams = field(default_factory=RootFilterParams)
    # per-frame work is hundreds of tiny ops: extra intra-op threads only add synchronisation
    # (and spin against the adaptation worker); None leaves torch's process-wide setting alone
    torch_threads: int | None = 1

    def association_params(self) -> AssociationParams:
        from dataclasses import replace
        return replace(self.association, track_timeout_s=self.track_timeout_s, max_tracks=self.max_tracks)

    @property
    def adapts_share(self) -> bool:
        return self.adapt_params == "blend"

    def adapt_config(self) -> AdaptConfig:
        return AdaptConfig(epochs=self.adapt_epochs, flip=True, max_batch=4, objective=self.adapt_objective,
                           params="top" if self.adapts_share else self.adapt_params)


@dataclass
class TrackPose:
    poses: np.ndarray  # [17, 3] absolute, finite
    confidence: np.ndarray  # [17]: input confidence where observed, low and decaying where inferred
    observed: np.ndarray  # [17] bool


@dataclass
class RefinedFrame:
    stamp: float
    meta: Any
    tracks: dict[Hashable, TrackPose]


@dataclass
class PushResult:
    """What one input frame produced: refined frames the lag now allows, the forecast frame (with a
    lead), and what was dropped while processing it, by reason."""
    frames: list[RefinedFrame] = field(default_factory=list)
    led: list[RefinedFrame] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)


class Track:
    """The model's side of one person: cache, canonical frame, body, buffers, adaptation state. Who the
    person is, and where their pelvis is, belongs to the association's `Identity` (`root`)."""

    def __init__(self, tid: int, key: int, frame: int, stamp: float, runner: Runner, cfg: StreamConfig,
                 buffer_len: int, root):
        self.id = tid  # the published id (the association's)
        self.key = key  # unique for the refiner's lifetime (ids repeat after a reset)
        self.created = frame
        self.last_seen_stamp = stamp
        self.runner = runner
        self.state = runner.empty_state()
        self.weights_id: int | None = None  # adapted weights this track runs; None = the shared prior
        self.root = root  # the identity's pelvis filter (stream/association.py)
        self.canon = Canonicaliser(fps=cfg.fps, fixed_up=cfg.floor.normal if cfg.floor is not None and cfg.floor_up
                                   else None)
        self.ground = Ground(cfg.floor, cfg.fps, cfg.ground) if cfg.floor is not None else None
        self.body = BodyModel() if cfg.body_model else None
        # share 0 (the prior alone) until one is fitted; none when no share is learned (nothing per frame)
        self.blend = EstimatorBlend(cfg.fps, cfg.blend) if cfg.adapt and cfg.adapts_share else None
        self.frames: deque[tuple[int, np.ndarray]] = deque(maxlen=buffer_len)  # (index, x [17, 4])
        # with camera rays: each frame still to be published, with its observation (absolute) or None
        self.rays = RaySnap(cfg.fps, cfg.ray) if cfg.rays else None
        self.distance = (DistanceKeeper(cfg.fps, cfg.ray.keep_distance_tau_s, cfg.ray.keep_distance_follow)
                         if cfg.rays and cfg.ray.keep_distance_tau_s >= 0 else None)
        self.sightings: deque[tuple[int, tuple[np.ndarray, np.ndarray | None] | None]] = deque(maxlen=cfg.lag + 2)
        # (index, conf, since_seen, canonical rotation or None) of the frames still to be published
        self.flags: deque[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]] = deque(maxlen=cfg.lag + 2)
        self.since_seen = np.zeros(NUM_JOINTS)
        self.pending: Handover | None = None
        self.last_pose: np.ndarray | None = None  # the newest published pose [17, 3]
        self.anchor_shift: np.ndarray | None = None  # the centroid anchor's smoothed shift [3], input frame
        self.last_root: np.ndarray | None = None  # the newest published pelvis, before grounding...
        self.last_root_frame: int | None = None  # ... and its frame
        self.adapt_runs = 0
        self.adapt_state = "prior"
        self.adapt_last = ""

    @property
    def buffered(self) -> int:
        return len(self.frames)

    @property
    def shares(self) -> bool:
        """The estimator share is fitted and applied: not on the viewing rays with a floor, where it lost
        (stream/blend.py)."""
        return self.blend is not None and not (self.ground is not None and self.rays is not None)

    def where(self) -> dict:
        """Where the person is and how big, from the newest published pose: for /diagnostics."""
        out: dict = {}
        if self.last_pose is not None:
            from ..vision.placement import body_height
            out["height_m"] = round(float(body_height(self.last_pose)), 2)
            out["distance_m"] = round(float(np.linalg.norm(self.last_pose[0])), 2)
        if self.ground is not None:
            out.update(self.ground.status())
        if self.blend is not None and self.blend.fits:
            out.update(self.blend.status())
        return out


class StreamingRefiner:
    """push(stamp, persons) -> PushResult; flush() at the end; status() from any thread."""

    def __init__(self, model: DSTformer, cfg: StreamConfig = StreamConfig(), backend: Backend | None = None,
                 worker: AdaptationWorker | None = None):
        if cfg.trunk not in TRUNKS:
            raise ValueError(f"trunk {cfg.trunk!r}: expected one of {', '.join(TRUNKS)}")
        if cfg.anchor not in ANCHORS:
            raise ValueError(f"anchor {cfg.anchor!r}: expected one of {', '.join(ANCHORS)}")
        self.model = model.eval()
        self.cfg = cfg
        self.ahead, self.head = self.stream_head(model, cfg)
        if cfg.lead_s < 0 or not math.isfinite(cfg.lead_s):
            raise ValueError(f"lead {cfg.lead_s} s: expected 0 or more")
        if cfg.lead_s > 0 and self.ahead:
            raise ValueError(f"a lead needs the causal trunk, and lag {cfg.lag} is streamed by the ahead trunk "
                             f"(from lag {model.cfg.ahead_from}): use a smaller lag")
        if cfg.lead_s > 0 and not model.cfg.max_lead:
            raise ValueError("this model has no forecast heads (max_lead 0): a lead needs a prior trained with them")
        if cfg.torch_threads:
            import torch
            torch.set_num_threads(cfg.torch_threads)
        self.backend = backend or Backend()
        self.base_runner = self.backend.runner(model, ahead=self.ahead)
        self.swaps = 0  # adapted weights taken over by the frame path
        self.buffer_len = max(cfg.adapt_buffer_frames, model.cfg.depth * (model.cfg.window - 1) + 1)
        self.worker = worker
        if cfg.adapt and self.worker is None:
            self.worker = InlineWorker()
        if self.worker is not None:
            self.worker.start(model, self.base_runner)
        self.lead_s = cfg.lead_s  # may change between frames (the node's lead_auto)
        self._drops = DropCounter(log.warning, "{reason}: {detail} (logged once; counted in diagnostics)")
        self.dropped = self._drops.counts  # every drop since start, by reason
        self._lock = threading.RLock()  # push/flush vs status() from another thread
        self._next_key = 0
        self.reset()

    @staticmethod
    def stream_head(model: DSTformer, cfg: StreamConfig) -> tuple[bool, int]:
        """(ahead trunk?, head) that publish cfg.lag, by the model's measured choice or as forced."""
        c = model.cfg
        if not 0 <= cfg.lag <= c.max_stream_lag:
            raise ValueError(f"lag {cfg.lag} outside the model's lags 0..{c.max_stream_lag}")
        if cfg.trunk == "causal":
            if cfg.lag > c.max_lag:
                raise ValueError(f"the causal trunk has heads for lags 0..{c.max_lag}, not {cfg.lag}")
            return False, cfg.lag
        if cfg.trunk == "ahead":
            if not (c.lookahead and c.ahead_delay <= cfg.lag):
                raise ValueError(f"the ahead trunk streams lags {c.ahead_delay}..{c.max_stream_lag}, not {cfg.lag}"
                                 if c.lookahead else "this model has no ahead trunk")
            return True, cfg.lag - c.ahead_delay
        return c.stream_head(cfg.lag)

    # --- lifecycle -----------------------------------------------------------------------------
    def reset(self) -> None:
        for t in list(getattr(self, "tracks", {}).values()):
            self._drop_track(t, "reset")
        self.tracks: dict[int, Track] = {}  # by published id
        if not hasattr(self, "assoc"):
            self.assoc = Associator(self.cfg.association_params(), self.cfg.fps, self.cfg.root,
                                    root_history=max(self.cfg.lag + 2, 8))
        self.assoc.reset()
        self.frame = -1
        self.last_stamp: float | None = None
        self.messages: dict[int, tuple[float, Any]] = {}
        self.pending_out: dict[int, dict[Hashable, TrackPose]] = {}
        self.last_adapt_stamp: float | None = None
        self.shares: deque[float] = deque(maxlen=16)  # the newest accepted estimator-share fits, any person
        self._older: list[float] = []  # consecutive out-of-order stamps (a timeline to resync to?)
        self._rr = 0

    def _note(self, res: PushResult | None, reason: str, detail: str, n: int = 1) -> None:
        """Count a drop (in this push's result and in the totals); log each reason once."""
        self._drops.note(reason, detail, n)
        if res is not None:
            res.dropped[reason] += n

    # --- input -----------------------------------------------------------------------------------
    def push(self, stamp: float, persons: list[Person] | dict[Hashable, tuple[np.ndarray, np.ndarray | None]],
             meta: Any = None) -> PushResult:
        """One input frame: every person seen in it (empty: nobody seen). A list of `Person`s, or
        {upstream id or None: (poses [17, 3], confidence [17] or None)}."""
        with self._lock:
            res = PushResult()
            try:
                self._push(stamp, persons, meta, res)
            finally:
                if self.worker is not None:
                    self.worker.frame_done()
            return res

    def _push(self, stamp: float, persons: dict, meta: Any, res: PushResult) -> None:
        period = 1.0 / self.cfg.fps
        if not np.isfinite(stamp):
            self._note(res, "bad_stamp", f"stamp {stamp} is not finite: frame dropped")
            return
        steps = 1
        if self.last_stamp is not None:
            dt = stamp - self.last_stamp
            if dt == 0:
                self._note(res, "duplicate_stamp", f"stamp {stamp:.6f} repeated: frame dropped")
                return
            if dt < -self.cfg.jump_back_reset_s:
                self._note(res, "time_jumped_back", f"stamp went back {-dt:.2f} s: all tracks reset")
                self.reset()
            elif dt < 0:
                if not self._resync(stamp):
                    self._note(res, "out_of_order", f"stamp {-dt * 1000:.1f} ms older than the last: frame dropped")
                    return
                self._note(res, "stamps_resynced", f"{self.cfg.resync_after} ordered stamps behind the last one: "
                           "following them (the newest stamp before them was an outlier)")
            else:
                self._older.clear()
                steps = max(1, int(round(dt / period)))
                if dt > self.cfg.track_timeout_s:
                    steps = 1  # every track expires anyway: do not step through the silence
                    self._expire_all()
        gap = steps - 1
        budget = self.cfg.max_gap_fill_steps // max(1, len(self.tracks))
        if gap > budget:
            self._note(res, "gap_frames_skipped", f"a gap of {gap} frames with {len(self.tracks)} tracks: "
                       f"only {budget} inferred frames stepped (overload protection)", gap - budget)
            gap = budget
        for k in range(gap, 0, -1):  # inferred missing frames inside a gap
            self._advance(stamp - k * period, {}, None, False, res)
        led = self._advance(stamp, persons, meta, True, res)
        self.last_stamp = stamp
        res.frames += self._emit(upto=self.frame - self.cfg.lag)
        if led is not None:
            res.led.append(led)

    def _resync(self, stamp: float) -> bool:
        """An older stamp: follow it once `resync_after` consecutive ones came in order."""
        if self._older and stamp <= self._older[-1]:
            self._older.clear()
        self._older.append(stamp)
        if len(self._older) < self.cfg.resync_after:
            return False
        self._older.clear()
        return True

    def flush(self) -> list[RefinedFrame]:
        """Emit the last `lag` frames (end of a file or bag): `lag` more frames in which nobody is
        seen carry them out of the model, which treats the unknown future as it treats occlusion."""
        with self._lock:
            if self.last_stamp is None:
                return []
            res = PushResult()
            for k in range(1, self.cfg.lag + 1):
                self._advance(self.last_stamp + k / self.cfg.fps, {}, None, False, res)
            return self._emit(upto=self.frame)

    def expire_idle(self, now: float) -> list[int]:
        """Drop tracks not seen for `track_timeout_s` at time `now` (the stamps' clock), between
        messages: a node whose input stopped must not list people forever. Returns their ids."""
        with self._lock:
            gone = self.assoc.expire(now)
            for k in gone:
                if k in self.tracks:
                    self._drop_track(self.tracks[k], "expired")
            return gone

    # --- the per-frame work ----------------------------------------------------------------------
    def _expire_all(self) -> None:
        self.assoc.reset()
        for t in list(self.tracks.values()):
            self._drop_track(t, "expired")

    def _drop_track(self, t: Track, why: str) -> None:
        self.tracks.pop(t.id, None)
        self._retire(t.runner)
        t.runner = t.pending = None
        if self.worker is not None:
            self.worker.drop(t.key)
        log.info("track %s %s after %d frames", t.id, why, self.frame - t.created + 1)

    def _valid_people(self, persons, res: PushResult) -> tuple[list[Person], bool]:
        """The frame's people, checked and bounded (each problem counted), and whether their ids are
        to be trusted: a dict's keys are ids (None: none), a list's `track_id`s are trusted as the
        configuration says; a duplicated id is trusted for nobody who carries it."""
        if isinstance(persons, dict):
            items = [Person(p, c, None if k is None else k) for k, (p, c) in persons.items()]
        else:
            items = list(persons)
        trust = self.cfg.trust_ids
        out = []
        for p in items:
            tid = p.track_id if p.track_id is not None else "without id"
            v = self._valid_person(tid, p.poses, p.confidence, res)
            if v is not None:
                kp = p.keypoints_px if p.keypoints_px is not None and np.shape(p.keypoints_px) == (NUM_JOINTS, 2) \
                    else None
                out.append(Person(v[0], v[1], p.track_id if isinstance(p.track_id, (int, np.integer)) else None, kp))
        if trust:
            ids = Counter(p.track_id for p in out if p.track_id is not None)
            dup = {i for i, n in ids.items() if n > 1}
            if dup:
                self._note(res, "duplicate_track_id", f"track ids {sorted(dup)} repeat within one frame: "
                           "those people are associated by position instead", sum(ids[i] for i in dup))
                out = [Person(p.poses, p.confidence, None if p.track_id in dup else p.track_id, p.keypoints_px)
                       for p in out]
        return out, trust

    def _valid_person(self, tid, poses, conf, res: PushResult) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            poses = np.array(poses, dtype=np.float32)
        except (TypeError, ValueError):
            poses = np.zeros(0, np.float32)
        if poses.shape != (NUM_JOINTS, 3):
            self._note(res, "wrong_joint_count", f"person {tid}: {poses.shape} points, expected ({NUM_JOINTS}, 3)")
            return None
        conf = (np.ones(NUM_JOINTS, np.float32) if conf is None
                else np.nan_to_num(np.asarray(conf, np.float32).reshape(NUM_JOINTS), nan=0.0).clip(0, 1))
        poses[~np.isfinite(poses)] = np.nan
        wild = (np.abs(poses) > self.cfg.max_abs_m).any(-1)
        if wild.any():
            self._note(res, "implausible_joint", f"person {tid}: {int(wild.sum())} joint(s) more than "
                       f"{self.cfg.max_abs_m:g} m from the frame's origin: treated as missing", int(wild.sum()))
            poses[wild] = np.nan
        if np.isnan(poses).any(-1).all() or not (conf > 0).any():
            self._note(res, "all_nan", f"person {tid}: no valid joint: treated as not seen")
            return None
        ok = ~np.isnan(poses).any(-1)
        if ok.sum() >= 8 and np.linalg.norm(np.ptp(poses[ok], axis=0)) < self.cfg.min_extent_m:
            self._note(res, "implausible_pose", f"person {tid}: {int(ok.sum())} joints within "
                       f"{self.cfg.min_extent_m:g} m of each other (a garbled message?): treated as not seen")
            return None
        return poses, conf

    def _advance(self, stamp: float, persons: dict, meta: Any, real: bool, res: PushResult) -> RefinedFrame | None:
        self.frame += 1
        f = self.frame
        if real:
            self.messages[f] = (stamp, meta)
        for h in self.worker.poll() if self.worker is not None else ():
            self._apply(h)
        people, trust = self._valid_people(persons, res)
        a = self.assoc.associate(stamp, people, trust, dt=1.0 / self.cfg.fps)
        for k in a.removed:
            if k in self.tracks:
                self._drop_track(self.tracks[k], "expired")
        seen: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for p, key, why in zip(people, a.keys, a.reasons):
            if key is None:
                self._note(res, why or "not_tracked", {
                    "no_reference": "a person without the pelvis or both hips: not tracked",
                    "too_many_tracks": f"more than {self.cfg.max_tracks} people: the least confident ignored",
                    "duplicate_detection": "a second detection of a person already seen in this frame: ignored",
                }.get(why, "person not tracked"))
                continue
            if key not in self.tracks:
                self._next_key += 1
                self.tracks[key] = Track(key, self._next_key, f, stamp, self.base_runner, self.cfg, self.buffer_len,
                                         self.assoc.tracks[key].root)
                # the same estimator: a new person starts where the others' fits ended
                if self.shares and self.tracks[key].blend is not None:
                    self.tracks[key].blend.share = float(np.median(self.shares))
            seen[key] = (p.poses, p.confidence)
        canonical = self.model.cfg.canonical
        led: dict[Hashable, TrackPose] = {}
        for t in list(self.tracks.values()):
            obs = seen.get(t.id)
            rot = None
            if t.ground is not None:
                t.ground.observe(*((obs[0], usable(obs[0], obs[1])[0]) if obs is not None else (None, None)))
            if obs is not None:
                t.last_seen_stamp = stamp
                if canonical:
                    present, conf = usable(obs[0], obs[1])
                    rot = t.canon.update(obs[0], present, float(frame_weight(present, conf)))
                x = encode(obs[0][None], obs[1][None], None if rot is None else rot[None])[0][0]
            else:
                x = np.zeros((NUM_JOINTS, 4), np.float32)
                if canonical:
                    rot = t.canon.update(None, None)
            present = x[:, 3] > 0
            t.since_seen = np.where(present, 0.0, t.since_seen + 1)
            self._take_handover(t)
            out, t.state = t.runner.step(x[None], t.state)
            if not np.isfinite(out).all():
                self._note(res, "nonfinite_output", f"track {t.id}: the model produced a non-finite pose: "
                           "track dropped and restarted")
                self._drop_track(t, "reset (non-finite output)")
                continue
            t.frames.append((f, x))
            if self.worker is not None:
                self.worker.on_frame(t.key, f, x)
            t.flags.append((f, x[:, 3].copy(), t.since_seen.copy(), rot))
            if t.rays is not None:
                t.sightings.append((f, obs))
            g = f - self.cfg.lag
            if g >= t.created and t.root.started:
                # a track not yet confirmed (association.py) is posed but not published: a person it turns
                # out to be starts from the state of their first frames, not of their third
                pose = self._pose(t, out[0, :, self.head], g)
                if pose is None:
                    self._note(res, "nonfinite_output", f"track {t.id}: non-finite pose not published")
                elif self.assoc.confirmed(t.id):
                    self.pending_out.setdefault(g, {})[t.id] = pose
            if real and self.lead_s > 0 and t.root.started and self.assoc.confirmed(t.id):
                p = self._forecast(t, out[0], rot)
                if p is not None:
                    led[t.id] = p
        if self.worker is not None and self.cfg.adapt and self.worker.available():
            self._maybe_adapt(stamp)
        if real and self.lead_s > 0:
            return RefinedFrame(stamp + self.lead_s, meta, led)
        return None

    def _conf(self, conf: np.ndarray | None, since: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if conf is None:
            conf, since = np.zeros(NUM_JOINTS, np.float32), np.full(NUM_JOINTS, 1e6)
        observed = conf > 0
        inferred = self.cfg.inferred_conf * np.exp(-since / self.cfg.fps / self.cfg.inferred_conf_tau_s)
        return np.where(observed, conf, inferred).astype(np.float32), observed

    def _pose(self, t: Track, out: np.ndarray, g: int) -> TrackPose | None:
        """Frame g's published pose from the model's pelvis-relative output [17, 3] for it."""
        rel = rezero(out)
        root = self._continuous(t, t.root.smoothed(self.frame - g), g)
        conf = since = rot = None
        for idx, c, s, r in t.flags:
            if idx == g:
                conf, since, rot = c, s, r
        x = next((x for idx, x in reversed(t.frames) if idx == g), None)
        if t.shares:
            rel = t.blend.apply(rel, x)
        if self.cfg.trust_band_m > 0:
            rel = self._within_band(rel, x)
        shift = None
        if self.cfg.anchor == "centroid" and x is not None:
            shift = seen_centroid_shift(x, rel, self.cfg.trust_band_conf)
            shift = shift if np.isfinite(shift).all() else None  # nothing seen confidently
        if rot is not None:
            rel = to_input_frame(rel, rot)
            shift = None if shift is None else to_input_frame(shift[None], rot)[0]
        offset = self._smoothed_shift(t, shift) if self.cfg.anchor == "centroid" else np.zeros(3, np.float32)
        rel = rel + offset
        c, observed = self._conf(conf, since)
        if t.rays is not None:  # where the image saw each joint (before the body model: it has the last word)
            seen_at, seen_conf = next((o for idx, o in t.sightings if idx == g), None) or (None, None)
            rel = t.rays.apply(rel + root, seen_at, seen_conf) - root
        if t.body is not None:
            if observed.sum() >= 12:  # well seen: this frame's bones are evidence of the body
                t.body.observe(rel)
            rel = t.body.impose(rel)
        pose = (rel + root).astype(np.float32)
        if t.distance is not None and t.ground is None:  # no floor: the distance is the placement's
            pose = t.distance.apply(pose, seen_at)
        if t.ground is not None:
            pose = t.ground.apply(pose)
        if not np.isfinite(pose).all() or (np.abs(pose) > 10 * self.cfg.max_abs_m).any():
            return None
        t.last_pose = pose
        return TrackPose(pose, c, observed)

    def _continuous(self, t: Track, root: np.ndarray, g: int) -> np.ndarray:
        """The published pelvis moves no faster than `max_output_speed_mps` (faster than a sprint): when
        the filter starts again at an estimate that jumped (the estimator changed its mind about the
        depth), the output gets there over a few frames instead of teleporting; from a track's first
        frame on (measured: limiting a new track's first second too changes no camera-chain figure)."""
        if t.last_root is not None and t.last_root_frame is not None and g > t.last_root_frame:
            step = self.cfg.max_output_speed_mps * (g - t.last_root_frame) / self.cfg.fps
            d = root - t.last_root
            n = float(np.linalg.norm(d))
            if n > step:
                root = t.last_root + d * (step / n)
                self.assoc.events["speed_limited"] += 1  # frames published slower than the estimate jumped
        t.last_root, t.last_root_frame = root, g
        return root

    def _within_band(self, rel: np.ndarray, x: np.ndarray | None) -> np.ndarray:
        """The refined joints no further than `trust_band_m` from what the estimator confidently saw in
        this frame (x: the model's input row; both pelvis-relative, in the model's frame): the prior
        refines, it does not overrule a clear observation with a pose it has not learned (sitting or
        lying on the floor)."""
        if x is None:
            return rel
        seen = x[:, 3] >= self.cfg.trust_band_conf
        if not seen[0]:
            return rel
        d = rel - x[:, :3]
        n = np.linalg.norm(d, axis=-1)
        far = seen & (n > self.cfg.trust_band_m)
        if not far.any():
            return rel
        out = rel.copy()
        out[far] = x[far, :3] + d[far] * (self.cfg.trust_band_m / n[far])[:, None]
        return out

    def _smoothed_shift(self, t: Track, shift: np.ndarray | None) -> np.ndarray:
        """The centroid anchor (`anchor: centroid`): the refined body is moved so that its confidently
        seen joints' confidence-weighted centroid is the observation's. The observed pelvis (the
        estimator's hip midpoint) carries the estimator's offset from the true joint centre, and so do
        the other observed joints relative to it: in absolute positions the two cancel. The prior moves
        the pose toward true joint centres but not the root, so anchored at the pelvis the offset stays
        in every joint; anchored at the centroid it cancels again. The offset belongs to the person and
        changes slowly, so the shift is smoothed (`anchor_tau_s`) and held while nothing is seen."""
        if shift is not None:
            if t.anchor_shift is None or self.cfg.anchor_tau_s <= 0:
                t.anchor_shift = shift
            else:
                k = 1.0 - float(np.exp(-1.0 / (self.cfg.fps * self.cfg.anchor_tau_s)))
                t.anchor_shift = t.anchor_shift + k * (shift - t.anchor_shift)
        return np.zeros(3, np.float32) if t.anchor_shift is None else t.anchor_shift

    def _forecast(self, t: Track, out: np.ndarray, rot: np.ndarray | None) -> TrackPose | None:
        """The pose at the newest frame's time + lead, from the forecast heads (out [17, H, 3])."""
        c = self.model.cfg
        h = min(self.lead_s * self.cfg.fps, float(c.max_lead))
        lo, w = int(np.floor(h)), h - np.floor(h)

        def head(k: int) -> int:  # lead 0 is the lag-0 output itself
            return self.head if k == 0 else c.lead_head(k)

        rel = rezero(out[:, head(lo)])
        if w > 0:
            rel = (1 - w) * rel + w * rezero(out[:, head(min(lo + 1, c.max_lead))])
        if rot is not None:
            rel = to_input_frame(rel, rot)
        if self.cfg.anchor == "centroid" and t.anchor_shift is not None:  # where the body sits, as published
            rel = rel + t.anchor_shift
        if t.body is not None:
            rel = t.body.impose(rel)
        root = t.root.predicted(h / self.cfg.fps)
        conf, since = t.flags[-1][1], t.flags[-1][2]
        cf, observed = self._conf(conf, since)
        pose = (rel + root).astype(np.float32)
        if t.distance is not None and t.ground is None:
            pose = t.distance.scale(pose)
        if t.ground is not None:
            pose = t.ground.apply(pose)
        if not np.isfinite(pose).all():
            return None
        return TrackPose(pose, (cf * np.exp(-self.lead_s / self.cfg.lead_conf_tau_s)).astype(np.float32), observed)

    def _emit(self, upto: int) -> list[RefinedFrame]:
        out = []
        for g in sorted(k for k in self.messages if k <= upto):
            stamp, meta = self.messages.pop(g)
            out.append(RefinedFrame(stamp, meta, self.pending_out.pop(g, {})))
        for g in [k for k in self.pending_out if k <= upto]:
            del self.pending_out[g]  # inferred gap frames: nothing to publish
        return out

    # --- adaptation --------------------------------------------------------------------------------
    def _apply(self, h: Handover) -> None:
        """A finished burst, on the frame thread: the track (if still alive) takes it at its next step."""
        t = next((t for t in self.tracks.values() if t.key == h.key), None)
        if t is None:
            if h.runner is not None:
                self._retire(h.runner)
            return
        if h.share is not None:  # a share fit: nothing to swap
            if t.blend is None:
                return
            t.blend.share, t.blend.fits = h.share, t.blend.fits + int(h.ok)
            if h.ok:
                self.shares.append(h.share)
            t.adapt_runs += int(h.ok)
            t.adapt_state, t.adapt_last = "blend", h.message
            log.info("track %s %s", t.id, h.message)
            return
        if h.ok:
            t.adapt_runs += 1
            t.pending = h
            log.info("track %s %s", t.id, h.message)
        else:
            t.adapt_state = "adapted" if t.weights_id is not None else "prior"
            if h.message != "stopped":
                log.warning("track %s: %s; keeping the current weights", t.id, h.message)
        t.adapt_last = h.message

    def _take_handover(self, t: Track) -> None:
        h = t.pending
        if h is None:
            return
        t.pending = None
        behind = [x for idx, x in t.frames if idx > h.upto]
        if len(behind) > 8:
            t.adapt_last = f"handover {len(behind)} frames behind: discarded"
            t.adapt_state = "adapted" if t.weights_id is not None else "prior"
            self._retire(h.runner)
            return
        state = replay(h.runner, h.state, behind)
        self._retire(t.runner)
        t.runner, t.state, t.weights_id = h.runner, state, h.weights_id
        t.adapt_state = "adapted"
        self.swaps += 1

    def _retire(self, runner: Runner | None) -> None:
        """An adapted runner that is no longer used (the worker frees it between frames)."""
        if runner is not None and runner is not self.base_runner and self.worker is not None:
            self.worker.retire(runner)

    def _maybe_adapt(self, stamp: float) -> None:
        if self.last_adapt_stamp is not None and stamp - self.last_adapt_stamp < self.cfg.adapt_interval_s:
            return
        if self.worker.busy():
            return
        n_adapted = sum(m.weights_id is not None for m in self.tracks.values())
        eligible = [t for t in self.tracks.values() if t.buffered >= self.cfg.adapt_min_frames
                    and t.pending is None
                    and (self.cfg.adapts_share or t.weights_id is not None
                         or n_adapted < self.cfg.max_adapted_tracks)]  # a share holds no weights
        eligible = [t for t in eligible if self._observed_share(t) >= self.cfg.adapt_min_observed
                    and (t.shares or not self.cfg.adapts_share)]
        if not eligible:
            return
        self._rr += 1
        t = eligible[self._rr % len(eligible)]
        self.last_adapt_stamp = stamp
        t.adapt_state = "adapting"
        frames = list(t.frames)
        self.worker.submit(AdaptRequest(t.key, tuple(i for i, _ in frames), np.stack([x for _, x in frames]),
                                        self.cfg.adapt_buffer_frames, t.weights_id, self.cfg.lag,
                                        self.cfg.adapt_config(), self.cfg.fps,
                                        self.cfg.blend if self.cfg.adapts_share else None))

    def _observed_share(self, t: Track) -> float:
        xs = [x for _, x in list(t.frames)[-self.cfg.adapt_buffer_frames:]]
        return float(np.mean([x[0, 3] > 0 for x in xs])) if xs else 0.0

    # --- status -------------------------------------------------------------------------------------
    def status(self) -> dict:
        """A consistent snapshot (safe from another thread: the diagnostics timer)."""
        with self._lock:
            return {
                "frame": self.frame,
                "tracks": {str(t.id): {"buffered": t.buffered, "adaptation": t.adapt_state,
                                       "adapt_runs": t.adapt_runs, "last_result": t.adapt_last, **t.where()}
                           for t in self.tracks.values()},
                "floor": self.cfg.floor.describe() if self.cfg.floor is not None else None,
                "dropped": dict(self.dropped),
                "backend": self.backend.kind,
                "worker": self.worker.describe() if self.worker else "off",
                "worker_available": self.worker.available() if self.worker else False,
                "swaps": self.swaps,
                "identities": dict(self.assoc.events),
                "lead_s": self.lead_s,
            }

    def set_floor(self, floor: Floor | None) -> None:
        """A new floor between frames (TF moved the camera, or it became known): new tracks take it,
        live ones follow it (their contacts' scale is kept)."""
        from dataclasses import replace
        with self._lock:
            if floor is self.cfg.floor or (floor is not None and self.cfg.floor is not None
                                           and np.allclose(floor.as_array(), self.cfg.floor.as_array(), atol=1e-4)):
                return
            self.cfg = replace(self.cfg, floor=floor)
            for t in self.tracks.values():
                if floor is None:
                    t.ground = None
                elif t.ground is None:
                    t.ground = Ground(floor, self.cfg.fps, self.cfg.ground)
                else:
                    t.ground.set_floor(floor)
                if self.cfg.floor_up:
                    t.canon.fixed_up = None if floor is None else floor.normal

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

