# SPDX-License-Identifier: MIT
"""Who is who: each frame's detected people -> the people being tracked, with identities that hold.

An estimator reports people in some order, with or without ids, and its ids are often wrong: a new
id after an occlusion, two people merged, an id that jumps to someone else. The refiner must never
blend two bodies into one track, so identity is decided here, in one place, before any model runs.
The refiner (stream/refiner.py) and the camera-fed estimator (ros/estimator_node.py, `stride-ros
estimate`) run this same association, so the ids they publish agree.

Per frame (the norfair / ByteTrack pattern, in 3D):
1. predict every track's pelvis to this frame (its Kalman filter, core/rootpath.py; a track that was
   not seen keeps predicting, its uncertainty growing with the time it has been hidden);
2. cost every (track, person) pair: the pelvis innovation against the filter's own uncertainty plus
   a monocular estimator's depth uncertainty (a share of the distance along the viewing ray); the
   person's body (bone lengths against the track's running median); 2D overlap of the image boxes
   when the estimator's image keypoints are at hand; and, for ids the caller trusts, a bonus for the
   track that holds that id. Pairs no body could produce (faster than `max_speed_mps` across the
   viewing ray, or outside the chi-square gate) are not allowed at all;
3. optimal assignment (Hungarian) over the allowed pairs;
4. matched tracks are corrected; unmatched tracks coast (lost) and expire after `track_timeout_s`;
   an unmatched person starts a track, unless it duplicates a matched one (same place in the image)
   or `max_tracks` are live (the most confident people are served first, the rest counted). A new
   track that may be a tracked person's answer gone wrong (it came while someone seen a moment ago is
   missing; or it is far less confident than the people tracked) counts only after a few frames in a
   row: a wrong detection at full confidence would otherwise be published as a person standing where
   nobody is until it timed out. Until it has held twice that long, such a track waits with the hidden
   ones for its answers, and it is removed when it misses in the frame the person it may have come from
   is found again; a hidden track that stands where a track related to it by such a jump is seen is the
   same person followed twice, and the older identity takes it back (`_merge`).

A trusted id is a strong cue, not an order: an id that jumps somewhere no body can reach (an
estimator that swapped two people, or lost one and found another) starts or re-finds the track that
fits, and the event is counted (`identity_jump`). The track the id left keeps predicting, so a person
who comes back within the timeout is taken back, also after being hidden by someone else.
"""
from __future__ import annotations

import warnings
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..core.representation import frame_reference, usable
from ..core.rootpath import RootFilter, RootFilterParams
from ..core.skeleton import NUM_JOINTS, bone_lengths

NO_MATCH = 1e6  # cost of a pair that is not allowed


@dataclass
class Person:
    """One detected person in one frame."""
    poses: np.ndarray  # [17, 3] float32 metres, NaN = missing joint
    confidence: np.ndarray | None = None  # [17] in [0, 1]; None: every finite joint trusted
    track_id: int | None = None  # the upstream's id (None: none given)
    keypoints_px: np.ndarray | None = None  # [17, 2] the estimator's image joints (px), when known


@dataclass(frozen=True)
class AssociationParams:
    """Thresholds of the association, each with its unit. Defaults: see docs/results.md, several people."""
    track_timeout_s: float = 3.0  # a track not seen for this long is removed
    max_tracks: int = 8  # people tracked at once
    min_hits: int = 1  # frames a new track must be seen in before it is confirmed (published)
    gate_chi2: float = 16.3  # chi-square(3) at 0.999 on the pelvis innovation
    lateral_sigma_m: float = 0.15  # a detection's pelvis uncertainty across the viewing ray
    ray_sigma_frac: float = 0.15  # ... and along it, as a share of the distance (monocular depth)
    ray_min_m: float = 0.3  # nearer the origin than this there is no viewing ray (pelvis-relative input)
    max_speed_mps: float = 8.0  # no body crosses the viewing ray faster (a sprint is ~10 m/s at best)
    walk_mps: float = 1.5  # a hidden person is looked for within this speed of where last seen, too
    jump_margin_m: float = 0.5  # plus the estimator's own lateral noise
    body_sigma: float = 0.12  # spread of one body's bone-length estimate (mean |log ratio|)
    body_min_frames: int = 10  # well-seen frames before a track's body is a cue
    body_cap: float = 9.0  # most a body mismatch can add to a pair's cost
    box_weight: float = 12.0  # cost of no 2D overlap at all (1 - IoU scaled)
    box_memory_s: float = 0.5  # a track's last image box is a cue for this long after it was seen
    trusted_id_bonus: float = 12.0  # cost removed for the track holding a trusted id
    jump_confirm_frames: int = 3  # frames in a row a jumped id must hold before its new track counts
    doubt_rel: float = 0.7  # a new answer below this share of the tracked people's typical confidence is doubted
    doubt_rel_trusted: float = 0.5  # ... with a new trusted id: below this share
    junk_cost: float = 4.0  # an unsure answer no body could give is its person's junk only as a last choice
    duplicate_iou: float = 0.7  # an unmatched person overlapping a matched one this much is the same person
    duplicate_m: float = 0.25  # ... or whose pelvis lies this close across the ray to a matched one's
    duplicate_depth_frac: float = 0.1  # ... and along it, as a share of the distance (else: one behind the other)


def root_measurement(poses: np.ndarray, confidence: np.ndarray | None) -> tuple[np.ndarray | None, float]:
    """The pelvis the filter fuses (observed pelvis, else the hip midpoint) and its confidence."""
    present, conf = usable(poses, confidence)
    ref = frame_reference(poses[None].astype(np.float64), present[None])[0]
    if not np.isfinite(ref).all():
        return None, 0.0
    c = float(conf[0]) if present[0] else float(min(conf[1], conf[4]))
    return ref, c


def image_box(keypoints_px: np.ndarray | None) -> np.ndarray | None:
    """[17, 2] image joints -> [x0, y0, x1, y1] around the finite ones (None with fewer than 4)."""
    if keypoints_px is None:
        return None
    k = np.asarray(keypoints_px, np.float64).reshape(-1, 2)
    k = k[np.isfinite(k).all(-1)]
    if len(k) < 4:
        return None
    lo, hi = k.min(0), k.max(0)
    pad = 0.1 * (hi - lo)  # joints lie inside the body's outline
    return np.r_[lo - pad, hi + pad]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


@dataclass
class Observation:
    """What the association uses of one person."""
    index: int  # position in the caller's list
    root: np.ndarray | None  # [3]
    root_conf: float
    bones: np.ndarray  # [16], NaN where a joint is missing
    box: np.ndarray | None
    track_id: int | None
    score: float  # mean confidence of the present joints: who is served first

    @classmethod
    def of(cls, index: int, p: Person) -> "Observation":
        root, rc = root_measurement(p.poses, p.confidence)
        present, conf = usable(p.poses, p.confidence)
        bones = bone_lengths(np.where(present[:, None], p.poses, np.nan).astype(np.float64))
        score = float(conf[present].mean()) if present.any() else 0.0
        return cls(index, root, rc, bones, image_box(p.keypoints_px), p.track_id, score)


class Body:
    """A running median of a person's bone lengths over well-seen frames: who the person is."""

    def __init__(self, memory: int = 120, refresh: int = 15):
        self.samples: deque[np.ndarray] = deque(maxlen=memory)
        self.refresh = refresh  # the median is recomputed every this many samples (a body changes slowly)
        self._median: np.ndarray | None = None
        self._since = 0

    def observe(self, bones: np.ndarray) -> None:
        if np.isfinite(bones).sum() >= 12:
            self.samples.append(bones)
            self._since += 1
            if self._since >= self.refresh or len(self.samples) <= self.refresh:
                self._median, self._since = None, 0

    def median(self) -> np.ndarray:
        if self._median is None:
            with warnings.catch_warnings():  # a bone never seen stays NaN (it is no cue), quietly
                warnings.simplefilter("ignore", RuntimeWarning)
                self._median = np.nanmedian(np.stack(self.samples), axis=0)
        return self._median

    def mismatch(self, bones: np.ndarray) -> float | None:
        """Mean |log(bone / this body's bone)| over the bones both have (None: nothing to compare)."""
        m = self.median()
        ok = np.isfinite(bones) & np.isfinite(m) & (bones > 1e-3) & (m > 1e-3)
        if ok.sum() < 6:
            return None
        return float(np.mean(np.abs(np.log(bones[ok] / m[ok]))))


@dataclass
class Identity:
    """One tracked person as the association sees it: pelvis filter, body, image box, counters."""
    key: int  # the identity published for this person
    root: RootFilter
    created: float
    last_seen: float  # last frame this person was reported (garbage answers included: they keep a track)
    last_fused: float  # last frame with an answer that was not junk (what a jump is measured from) ...
    last_pos: np.ndarray | None = None  # ... and where that answer put the pelvis
    upstream_id: int | None = None  # the trusted id currently bound to this person
    body: Body = field(default_factory=Body)
    box: np.ndarray | None = None
    hits: int = 0
    misses: int = 0  # frames in a row not seen
    confirmed: bool = False
    from_jump: bool = False  # started where a tracked person's answer may have jumped to (_birth) ...
    jumped_from: frozenset[int] = frozenset()  # ... from these people (missing at its birth)
    doubtful: bool = False  # started from an answer far less confident than the people already tracked

    @property
    def lost(self) -> bool:
        return self.misses > 0


@dataclass
class Assignment:
    """One frame's result: the identity of each caller person (None: not tracked), and the changes."""
    keys: list[int | None]
    reasons: list[str | None]  # why a person got no identity: no_reference, duplicate_detection, too_many_tracks
    born: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)


class Associator:
    """Per-frame association of detected people with tracked identities (module docstring)."""

    def __init__(self, params: AssociationParams = AssociationParams(), fps: float = 30.0,
                 root: RootFilterParams = RootFilterParams(), root_history: int = 8):
        self.p = params
        self.fps = fps
        self.root_params = root
        self.root_history = root_history
        self.tracks: dict[int, Identity] = {}
        self.events: Counter[str] = Counter()  # identity_jump, reidentified, duplicate_detection, ...
        self._next_key = 0
        self._last_stamp: float | None = None

    # --- the frame ---------------------------------------------------------------------------------
    def step(self, stamp: float, persons: list[Person], trust_ids: bool = False,
             dt: float | None = None) -> list[int | None]:
        """One frame: each person's identity (int >= 0, stable per person while tracked), None for a
        person not tracked (beyond max_tracks, no pelvis or hips). Convenience over `associate`."""
        return self.associate(stamp, persons, trust_ids, dt).keys

    def associate(self, stamp: float, persons: list[Person], trust_ids: bool = False,
                  dt: float | None = None) -> Assignment:
        """One frame (also one without anybody: every track coasts). dt: the filter's step (s);
        default: the time since the previous frame."""
        if dt is None:
            dt = 1.0 / self.fps if self._last_stamp is None else max(stamp - self._last_stamp, 1e-3)
        self._last_stamp = stamp
        res = Assignment([None] * len(persons), [None] * len(persons))
        res.removed = self.expire(stamp)
        obs = [Observation.of(i, p) for i, p in enumerate(persons)]
        for o in obs:
            if o.root is None:
                res.reasons[o.index] = "no_reference"
        obs = [o for o in obs if o.root is not None]
        tracks = list(self.tracks.values())
        preds = [self._predict(t, dt) for t in tracks]
        cost = self._cost(tracks, preds, obs, stamp, trust_ids)
        matched_t: set[int] = set()
        matched_o: set[int] = set()
        fused: dict[int, Observation] = {}  # track index -> the answer it took (not as junk)
        # two stages (ByteTrack's order): the people seen in the last frame first, then the hidden ones
        # look among what is left, so a track that lost its person never takes someone else's frame. A track
        # on probation (`_probation`) waits with the hidden ones: when the person whose answer may have jumped
        # to it comes back, the two compete on cost, and the newcomer does not take them for having been seen
        active = [i for i, t in enumerate(tracks) if not t.lost and not self._probation(t)]
        for stage in (active, [i for i in range(len(tracks)) if i not in active]):
            free = [j for j in range(len(obs)) if j not in matched_o]
            if not stage or not free:
                continue
            sub = cost[np.ix_(stage, free)]
            rows, cols = linear_sum_assignment(sub)
            for r, c in zip(rows, cols):
                if sub[r, c] < NO_MATCH:
                    i, j = stage[r], free[c]
                    matched_t.add(i)
                    matched_o.add(j)
                    self._observe(tracks[i], obs[j], stamp, dt, trust_ids, junk=(i, j) in self._junk)
                    res.keys[obs[j].index] = tracks[i].key
                    if (i, j) not in self._junk:
                        fused[i] = obs[j]
        self._merge(tracks, preds, fused, matched_t, stamp, dt, trust_ids, res)
        refound = {tracks[i].key for i in matched_t}
        for i, t in enumerate(tracks):
            if i not in matched_t and t.key in self.tracks:
                t.root.update(None, 0.0, dt)
                t.misses += 1
                # a tentative track that misses was a false start; a track on probation that misses in the
                # frame the person it may have come from is found again was that person's answer, jumped
                jumped = self._probation(t) and bool(t.jumped_from & refound)
                if not t.confirmed or jumped:
                    if jumped:
                        self.events["jumped_answer"] += 1
                    self.tracks.pop(t.key, None)
                    res.removed.append(t.key)
        # a person seen a moment ago is missing while an answer appears where nobody is: the answer may be
        # theirs, jumped (a wrong detection, another body at full confidence, for a frame or a few)
        vanished = frozenset() if len(matched_o) == len(obs) else frozenset(
            t.key for i, t in enumerate(tracks)
            if i not in matched_t and t.confirmed and t.misses <= self.p.jump_confirm_frames and t.key in self.tracks)
        taken = [obs[k] for k in matched_o]
        for o in sorted((o for k, o in enumerate(obs) if k not in matched_o), key=lambda o: -o.score):
            if self._duplicate(o, taken):
                self.events["duplicate_detection"] += 1
                res.reasons[o.index] = "duplicate_detection"
                continue
            if len(self.tracks) >= self.p.max_tracks:
                self.events["too_many_tracks"] += 1
                res.reasons[o.index] = "too_many_tracks"
                continue
            t = self._birth(o, stamp, trust_ids, vanished)
            taken.append(o)
            res.keys[o.index] = t.key
            res.born.append(t.key)
        return res

    def _merge(self, tracks: list[Identity], preds: list, fused: dict[int, Observation], matched_t: set[int],
               stamp: float, dt: float, trust_ids: bool, res: Assignment) -> None:
        """One person, one track (ByteTrack's duplicate removal, in 3D): a track that missed this frame while
        standing where a track it is related to by a jump (`Identity.jumped_from`, either way) was just seen is
        the same person followed twice. The older identity stays and takes the answer; the younger goes.
        Left alone, the two would trade the person between them and the one without it would be published
        coasting beside them."""
        for i, o in list(fused.items()):
            u = tracks[i]
            for k, v in enumerate(tracks):
                if k in matched_t or preds[k] is None or not (u.confirmed and v.confirmed) or v.key not in self.tracks:
                    continue  # (a track merged away earlier in this frame is gone)
                if not (v.key in u.jumped_from or u.key in v.jumped_from) or not self._same_place(preds[k][0], o.root):
                    continue
                self.events["duplicate_track"] += 1
                young, old = (u, v) if v.created < u.created else (v, u)
                if old is v:  # the answer goes to the older identity, as if it had matched
                    self._observe(v, o, stamp, dt, trust_ids)
                    matched_t.discard(i)
                    matched_t.add(k)
                    res.keys[o.index] = v.key
                self.tracks.pop(young.key, None)
                res.removed.append(young.key)
                break

    def expire(self, now: float) -> list[int]:
        """Remove tracks not seen for track_timeout_s at time `now`; their keys."""
        gone = [k for k, t in self.tracks.items() if now - t.last_seen > self.p.track_timeout_s]
        for k in gone:
            del self.tracks[k]
        return gone

    def reset(self) -> list[int]:
        gone = list(self.tracks)
        self.tracks.clear()
        self._last_stamp = None
        return gone

    def confirmed(self, key: int) -> bool:
        t = self.tracks.get(key)
        return t is not None and t.confirmed

    # --- pieces --------------------------------------------------------------------------------------
    def _predict(self, t: Identity, dt: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The track's pelvis at this frame and its covariance [3, 3] (the filter's own)."""
        return t.root.peek(dt)

    def _noise(self, z: np.ndarray) -> np.ndarray:
        """A detection's pelvis uncertainty [3, 3]: lateral, and along the viewing ray a share of the
        distance (a monocular estimator's depth is its weakest axis)."""
        lat = self.p.lateral_sigma_m ** 2
        n = float(np.linalg.norm(z))
        if n < self.p.ray_min_m:
            return lat * np.eye(3)
        ray = max(self.p.ray_sigma_frac * n, self.p.lateral_sigma_m) ** 2
        r = z / n
        return lat * np.eye(3) + (ray - lat) * np.outer(r, r)

    def _cost(self, tracks: list[Identity], preds: list, obs: list[Observation], stamp: float,
              trust_ids: bool) -> np.ndarray:
        cost = np.full((len(tracks), len(obs)), NO_MATCH)
        self._junk: set[tuple[int, int]] = set()  # pairs allowed only as this person's junk (not fused)
        for i, (t, pred) in enumerate(zip(tracks, preds)):
            if pred is None:
                continue
            x, P = pred
            hidden_s = max(stamp - t.last_fused, 1.0 / self.fps)
            for j, o in enumerate(obs):
                named = trust_ids and o.track_id is not None and o.track_id == t.upstream_id
                junk = self._garbage(t, o)
                if named and junk:
                    cost[i, j] = -self.p.trusted_id_bonus  # this person's own junk: its filter ignores it
                    self._junk.add((i, j))
                    continue
                if t.last_pos is not None and not self._reachable(o.root - t.last_pos, o.root, hidden_s):
                    if self._unsure(t, o) and not t.lost:  # an unsure answer no body could give: a guess
                        cost[i, j] = self.p.gate_chi2 + self.p.junk_cost  # while the person is covered;
                        self._junk.add((i, j))  # theirs (last choice), never fused, never a new person
                    continue
                v = o.root - x
                R = self._noise(o.root) * self._doubt(t, o) ** 2
                m2 = float(v @ np.linalg.solve(P + R, v))
                if t.last_pos is not None and t.misses:  # a coasting filter may drift: also where last seen
                    w = o.root - t.last_pos
                    S2 = R + (self.p.walk_mps * hidden_s) ** 2 * np.eye(3)
                    m2 = min(m2, float(w @ np.linalg.solve(S2, w)))
                if named:  # a trusted id goes wherever a body can go: the teleport guard alone judges it
                    c = min(m2, self.p.gate_chi2) - self.p.trusted_id_bonus
                elif m2 > self.p.gate_chi2:
                    continue
                else:
                    c = m2
                if len(t.body.samples) >= self.p.body_min_frames:
                    mm = t.body.mismatch(o.bones)
                    if mm is not None:  # a soft cue: it orders candidates, it cannot outvote a trusted id
                        c += min((mm / self.p.body_sigma) ** 2, self.p.body_cap)
                if o.box is not None and t.box is not None and hidden_s <= self.p.box_memory_s:
                    c += self.p.box_weight * (1.0 - iou(o.box, t.box))
                cost[i, j] = c
        return cost

    def _lateral(self, v: np.ndarray, z: np.ndarray) -> float:
        """|v| across the viewing ray through z (all of |v| where there is no ray)."""
        n = float(np.linalg.norm(z))
        return float(np.linalg.norm(v - (v @ z) / n ** 2 * z if n >= self.p.ray_min_m else v))

    def _reachable(self, v: np.ndarray, z: np.ndarray, hidden_s: float) -> bool:
        """Could a body have moved by v (across the viewing ray) in hidden_s? The teleport guard."""
        return self._lateral(v, z) <= self.p.max_speed_mps * hidden_s + self.p.jump_margin_m

    def _doubt(self, t: Identity, o: Observation) -> float:
        """How much less this answer's position is worth than the person's usual one (>= 1): a
        low-confidence answer (a partly covered person) is matched loosely."""
        ref = t.root.conf_ref
        if ref is None or o.root_conf <= 0:
            return 1.0
        return float(np.clip(ref / o.root_conf, 1.0, 3.0))

    def _unsure(self, t: Identity, o: Observation) -> bool:
        """Less confident than this person's estimator is when it re-finds them (rootpath's
        reacquire_conf): a jump made at such confidence is a guess, not the person moving."""
        ref = t.root.conf_ref
        return ref is not None and o.root_conf < t.root.p.reacquire_conf * ref

    def _garbage(self, t: Identity, o: Observation) -> bool:
        """An answer far below the confidence this person's estimator usually gives (an occluded
        person's guess): the filter ignores it, and it is no evidence of anyone new."""
        ref = t.root.conf_ref
        return ref is not None and o.root_conf < t.root.p.min_rel_conf * ref

    def _observe(self, t: Identity, o: Observation, stamp: float, dt: float, trust_ids: bool,
                 junk: bool = False) -> None:
        if t.lost and t.confirmed and stamp - t.last_seen > 2.0 / self.fps:  # taken back after a gap
            self.events["reidentified"] += 1
        t.root.update(None if junk else o.root, 0.0 if junk else o.root_conf, dt)
        t.last_seen = stamp
        if junk:
            self.events["junk_answers"] += 1
        elif not self._garbage(t, o):
            t.last_fused, t.last_pos = stamp, o.root
            t.body.observe(o.bones)  # a guess made while hidden says nothing about the body
        t.hits += 1
        t.misses = 0
        if not t.confirmed and t.hits >= self._hits_needed(t):
            t.confirmed = True
        if trust_ids and o.track_id is not None and t.confirmed:
            self._bind(t, o.track_id)
        if o.box is not None:
            t.box = o.box

    def _hits_needed(self, t: Identity) -> int:
        """A track born where an answer may have jumped (`_birth`), or from an answer far less confident
        than the people tracked (an occluded person's guess), must be seen a few frames in a row before it
        counts (one outlier answer is no new person); any other: min_hits."""
        return max(self.p.min_hits, self.p.jump_confirm_frames if t.from_jump or t.doubtful else 1)

    def _probation(self, t: Identity) -> bool:
        """A track born where an answer may have jumped, seen fewer than twice `jump_confirm_frames` frames:
        a run of wrong answers as long as the confirmation is over only when the person comes back."""
        return t.from_jump and t.hits < 2 * self.p.jump_confirm_frames

    def _bind(self, t: Identity, upstream: int) -> None:
        """A trusted id names one person at a time: moving it is an identity jump (counted)."""
        if t.upstream_id == upstream:
            return
        for other in self.tracks.values():
            if other is not t and other.upstream_id == upstream and other.confirmed:
                other.upstream_id = None
                self.events["identity_jump"] += 1
        if t.upstream_id is not None:
            self.events["identity_jump"] += 1
        t.upstream_id = upstream

    def _duplicate(self, o: Observation, matched: list[Observation]) -> bool:
        """An unmatched person at the same place as one already placed this frame: the same image box
        (or, without boxes, the same place across the viewing ray) AND the same depth. A person
        behind another shares the line of sight, not the depth."""
        for m in matched:
            if o.box is not None and m.box is not None:
                if self._same_place(o.root, m.root, lateral=False) and iou(o.box, m.box) >= self.p.duplicate_iou:
                    return True
            elif self._same_place(o.root, m.root):
                return True
        return False

    def _same_place(self, a: np.ndarray, b: np.ndarray, lateral: bool = True) -> bool:
        """Two pelvis positions one person could give: the same depth along b's viewing ray (within
        `duplicate_depth_frac` of the distance) and, with `lateral`, within `duplicate_m` across it."""
        v = a - b
        n = float(np.linalg.norm(b))
        along = float(v @ b) / n if n >= self.p.ray_min_m else 0.0
        if abs(along) > max(self.p.duplicate_m, self.p.duplicate_depth_frac * n):
            return False
        across = v - along * b / n if n >= self.p.ray_min_m else v
        return not lateral or float(np.linalg.norm(across)) < self.p.duplicate_m

    def _birth(self, o: Observation, stamp: float, trust_ids: bool,
               vanished: frozenset[int] = frozenset()) -> Identity:
        """A new track. It counts at once unless it may be a tracked person's answer that jumped: a trusted id
        that left the person it named, or (without ids) an answer that came while a person seen within the last
        `jump_confirm_frames` frames is missing; those must hold that many frames in a row (one wrong answer at
        full confidence is no new person, and a published one would stand where nobody is until it timed out)."""
        upstream = o.track_id if trust_ids else None
        jumped = (frozenset(t.key for t in self.tracks.values() if t.upstream_id == upstream and t.confirmed)
                  if upstream is not None else vanished)
        refs = [u.root.conf_ref for u in self.tracks.values() if u.confirmed and u.root.conf_ref]
        # an answer far less confident than the people tracked may be an occluded person's guess: it must
        # hold a few frames; an upstream that vouches for a new person with a new id is doubted less
        doubt = self.p.doubt_rel if upstream is None else self.p.doubt_rel_trusted
        doubtful = bool(refs) and o.root_conf < doubt * float(np.median(refs))
        t = Identity(self._new_key(upstream), RootFilter(self.root_params, history=self.root_history), stamp, stamp,
                     stamp, upstream_id=upstream, from_jump=bool(jumped), jumped_from=jumped, doubtful=doubtful)
        t.root.update(o.root, o.root_conf, 1.0 / self.fps)
        t.last_pos = o.root
        t.hits = 1
        t.confirmed = self._hits_needed(t) <= 1
        if t.confirmed and upstream is not None:
            t.upstream_id = None
            self._bind(t, upstream)
        t.body.observe(o.bones)
        t.box = o.box
        self.tracks[t.key] = t
        return t

    def _new_key(self, wanted: int | None) -> int:
        """A trusted id is published as given while no live track holds it; otherwise the next free one."""
        if wanted is not None and wanted not in self.tracks and wanted >= 0:
            return int(wanted)
        while self._next_key in self.tracks:
            self._next_key += 1
        key = self._next_key
        self._next_key += 1
        return key


def valid_person(p: Person) -> bool:
    """The shape the association and the refiner accept (a wrong-shaped slot is counted by the caller)."""
    return np.asarray(p.poses).shape == (NUM_JOINTS, 3)
