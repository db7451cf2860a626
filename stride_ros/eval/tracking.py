# SPDX-License-Identifier: MIT
"""Identity metrics for several people: does each person keep one id, and how good is their pose.

Inputs are in the layout of multi-person pose files (CONTRACT.md): truth [T, G, 17, 3] with each
true person in their own slot (NaN = not in the scene), predictions [T, P, 17, 3] with their ids
[T, P] (-1 = empty slot). People are located by the pelvis (else the hip midpoint), absolute.

- Per frame, predicted people are matched to true people within `threshold_m` of pelvis distance
  (CLEAR-MOT, Bernardin & Stiefelhagen 2008): last frame's pairs are kept while still within the
  threshold, the rest are assigned by the Hungarian method on distance.
- An identity switch: a true person matched to a predicted id other than the one they were last
  matched to; reported per person-minute (minutes of true people in view).
- IDF1 (Ristani et al. 2016): the one-to-one mapping between true and predicted ids over the whole
  sequence that maximises the frames where both are present within the threshold (IDTP); IDF1 =
  2 IDTP / (2 IDTP + IDFP + IDFN), IDFP/IDFN the predicted/true detections it leaves unmatched.
- Per true person: MPJPE (pelvis-aligned) and Abs (absolute) in millimetres on the frames they are
  matched, over the joints both sides have; coverage = matched frames / frames in view.

`care` [T, G] marks where a true person counts (in view); elsewhere a present true person is
"don't care": a prediction matched to them is neither a hit nor a false positive (a track that
coasts on after its person left the image is right, not wrong), and the frame is not a miss.
`pred_care` [T, P] likewise marks predictions where the camera can check them (in view): one
outside it that matches nobody is not counted as a false positive (a track kept alive for a
person who walked out of the image, until it expires).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

MATCH_M = 1.0  # pelvis distance within which a prediction is that person: a monocular estimator's
# depth error reaches 0.5 m at 5-7 m (the zoo's `sim` family: 90th percentile), people keep 0.6 m apart
MM = 1000.0


def locate(poses: np.ndarray) -> np.ndarray:
    """[..., 17, 3] -> [..., 3]: the pelvis, else the midpoint of both hips, else NaN."""
    hips = 0.5 * (poses[..., 1, :] + poses[..., 4, :])
    return np.where(np.isfinite(poses[..., 0, :]).all(-1, keepdims=True), poses[..., 0, :], hips)


@dataclass
class PersonScore:
    """One true person's figures (sums, so scores of several sequences add up)."""
    frames: int = 0  # frames in view
    matched: int = 0
    switches: int = 0
    mpjpe_sum: float = 0.0  # mm, over matched frames with a pelvis on both sides
    mpjpe_n: int = 0
    abs_sum: float = 0.0
    abs_n: int = 0

    @property
    def mpjpe(self) -> float:
        return self.mpjpe_sum / self.mpjpe_n if self.mpjpe_n else float("nan")

    @property
    def abs(self) -> float:
        return self.abs_sum / self.abs_n if self.abs_n else float("nan")

    @property
    def coverage(self) -> float:
        return self.matched / self.frames if self.frames else float("nan")


@dataclass
class TrackingScore:
    """The figures of one or more sequences; `merge` pools them (sums, then the ratios)."""
    fps: float
    threshold_m: float = MATCH_M
    person_frames: int = 0  # true people in view, summed over frames
    matched: int = 0
    misses: int = 0
    false_positives: int = 0
    switches: int = 0
    idtp: int = 0
    idfp: int = 0
    idfn: int = 0
    people: dict[str, PersonScore] = field(default_factory=dict)

    @property
    def person_minutes(self) -> float:
        return self.person_frames / self.fps / 60.0

    @property
    def switches_per_person_minute(self) -> float:
        return self.switches / self.person_minutes if self.person_frames else float("nan")

    @property
    def idf1(self) -> float:
        d = 2 * self.idtp + self.idfp + self.idfn
        return 2 * self.idtp / d if d else float("nan")

    @property
    def coverage(self) -> float:
        return self.matched / self.person_frames if self.person_frames else float("nan")

    @property
    def mpjpe(self) -> float:
        """Pooled over every matched frame of every person (mm)."""
        n = sum(p.mpjpe_n for p in self.people.values())
        return sum(p.mpjpe_sum for p in self.people.values()) / n if n else float("nan")

    @property
    def abs(self) -> float:
        n = sum(p.abs_n for p in self.people.values())
        return sum(p.abs_sum for p in self.people.values()) / n if n else float("nan")

    def merge(self, other: TrackingScore, prefix: str = "") -> TrackingScore:
        """This score plus another sequence's (its people named with `prefix`)."""
        if abs(other.fps - self.fps) > 1e-9:
            raise ValueError("scores at different frame rates do not pool")
        out = TrackingScore(self.fps, self.threshold_m)
        for name in ("person_frames", "matched", "misses", "false_positives", "switches", "idtp", "idfp", "idfn"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        out.people = dict(self.people)
        out.people.update({f"{prefix}{k}": v for k, v in other.people.items()})
        return out

    def to_json(self) -> dict:
        def num(x: float) -> float | None:
            return None if not np.isfinite(x) else round(float(x), 4)
        return {
            "switches": self.switches, "person_minutes": num(self.person_minutes),
            "switches_per_person_minute": num(self.switches_per_person_minute), "idf1": num(self.idf1),
            "idtp": self.idtp, "idfp": self.idfp, "idfn": self.idfn, "coverage": num(self.coverage),
            "false_positives": self.false_positives, "misses": self.misses,
            "mpjpe_mm": num(self.mpjpe), "abs_mm": num(self.abs), "threshold_m": self.threshold_m,
            "people": {k: {"mpjpe_mm": num(p.mpjpe), "abs_mm": num(p.abs), "coverage": num(p.coverage),
                           "switches": p.switches, "frames": p.frames} for k, p in self.people.items()},
        }


def _pose_errors(pred: np.ndarray, gt: np.ndarray) -> tuple[float | None, float | None]:
    """(MPJPE pelvis-aligned, absolute error) in mm over the joints both have; None where undefined."""
    ok = np.isfinite(pred).all(-1) & np.isfinite(gt).all(-1)
    if not ok.any():
        return None, None
    err_abs = float(np.linalg.norm(pred[ok] - gt[ok], axis=-1).mean() * MM)
    if not ok[0]:
        return None, err_abs
    rel = np.linalg.norm((pred[ok] - pred[0]) - (gt[ok] - gt[0]), axis=-1).mean() * MM
    return float(rel), err_abs


def score_tracking(gt: np.ndarray, pred: np.ndarray, pred_ids: np.ndarray, fps: float,
                   care: np.ndarray | None = None, threshold_m: float = MATCH_M,
                   pred_care: np.ndarray | None = None) -> TrackingScore:
    """Match, count and score a multi-person prediction against the truth (module docstring).

    gt [T, G, 17, 3] (slot = true person), pred [T, P, 17, 3], pred_ids [T, P] (-1: empty; a slot
    with an id but no pelvis or hips cannot be located and is left out), care [T, G] and
    pred_care [T, P] bool (None: everything counts)."""
    T, G = gt.shape[:2]
    if pred.shape[0] != T or pred_ids.shape != pred.shape[:2]:
        raise ValueError(f"prediction {pred.shape} / ids {pred_ids.shape} do not fit truth {gt.shape}")
    g_loc = locate(gt)
    p_loc = locate(pred)
    g_here = np.isfinite(g_loc).all(-1)
    care = g_here if care is None else (care & g_here)
    score = TrackingScore(fps, threshold_m)
    score.people = {str(g): PersonScore() for g in range(G)}
    last: dict[int, int] = {}  # true person -> the predicted id they were last matched to (CLEAR-MOT)
    prev_pairs: dict[int, int] = {}  # last frame's pairs
    co: dict[tuple[int, int], int] = {}  # (true person, predicted id) -> frames both counted and within threshold
    pred_count: dict[int, int] = {}
    truth_count = np.zeros(G, np.int64)
    for t in range(T):
        gs = np.flatnonzero(g_here[t])
        slots = [s for s in range(pred.shape[1]) if pred_ids[t, s] >= 0 and np.isfinite(p_loc[t, s]).all()]
        ids = [int(pred_ids[t, s]) for s in slots]
        if len(set(ids)) != len(ids):
            raise ValueError(f"frame {t}: a predicted id appears twice")
        d = np.linalg.norm(g_loc[t, gs][:, None] - p_loc[t, slots][None], axis=-1) if len(slots) else \
            np.zeros((len(gs), 0))
        pairs: dict[int, int] = {}  # row in gs -> column in slots
        for r, g in enumerate(gs):  # keep last frame's pairs that still hold
            pid = prev_pairs.get(int(g))
            if pid is not None and pid in ids and d[r, ids.index(pid)] <= threshold_m:
                pairs[r] = ids.index(pid)
        free_r = [r for r in range(len(gs)) if r not in pairs]
        free_c = [c for c in range(len(slots)) if c not in pairs.values()]
        if free_r and free_c:
            sub = d[np.ix_(free_r, free_c)]
            rows, cols = linear_sum_assignment(np.where(sub <= threshold_m, sub, 1e6))
            for r, c in zip(rows, cols):
                if sub[r, c] <= threshold_m:
                    pairs[free_r[r]] = free_c[c]
        prev_pairs = {int(gs[r]): ids[c] for r, c in pairs.items()}
        ignored = {c for r, c in pairs.items() if not care[t, gs[r]]}  # matched to a don't-care person
        if pred_care is not None:  # out of view and nobody's: not checkable
            ignored |= {c for c in range(len(slots)) if not pred_care[t, slots[c]] and c not in pairs.values()}
        counted = [c for c in range(len(slots)) if c not in ignored]
        for c in counted:
            pred_count[ids[c]] = pred_count.get(ids[c], 0) + 1
        for r, g in enumerate(gs):
            if not care[t, g]:
                continue
            truth_count[g] += 1
            for c in counted:
                if d[r, c] <= threshold_m:
                    co[(int(g), ids[c])] = co.get((int(g), ids[c]), 0) + 1
            ps = score.people[str(g)]
            ps.frames += 1
            score.person_frames += 1
            if r not in pairs:
                score.misses += 1
                continue
            c = pairs[r]
            ps.matched += 1
            score.matched += 1
            if int(g) in last and last[int(g)] != ids[c]:
                ps.switches += 1
                score.switches += 1
            last[int(g)] = ids[c]
            rel, ab = _pose_errors(pred[t, slots[c]], gt[t, g])
            if rel is not None:
                ps.mpjpe_sum += rel
                ps.mpjpe_n += 1
            if ab is not None:
                ps.abs_sum += ab
                ps.abs_n += 1
        score.false_positives += len([c for c in counted if c not in pairs.values()])
    # IDF1: the one-to-one id mapping with the most frames right
    pids = sorted(pred_count)
    if pids and G:
        m = np.zeros((G, len(pids)))
        for (g, pid), n in co.items():
            m[g, pids.index(pid)] = n
        rows, cols = linear_sum_assignment(-m)
        score.idtp = int(m[rows, cols].sum())
    score.idfn = int(truth_count.sum()) - score.idtp
    score.idfp = int(sum(pred_count.values())) - score.idtp
    return score
