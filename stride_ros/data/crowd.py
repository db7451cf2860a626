# SPDX-License-Identifier: MIT
"""A seeded crowd in front of one camera: several people who cross and hide each other in the image.

Identity is what fails when people cross: an estimator lists them in any order, a 2D box tracker
hands one person's id to another, and a person behind someone else is not reported at all. This
module makes such scenes from the validation motion capture (never the training subjects) with
the truth kept per person, so association can be measured:

- 2-5 people, each from a different validation clip (world frame, Y up, metres), scaled to a body
  height of their own and placed on the floor so that their paths run through a common region in
  front of the camera at nearby times: they cross in the image, walk together (one behind the
  other, or side by side in the same line of sight) or pass someone standing. A walking clip keeps its own
  motion and travel, extended where the crowd lasts longer than the clip by looping it at its
  best-matching gait phase (a motion-graph transition, blended over a few frames); an in-place
  clip (drinking, reaching, washing windows) stays where it is put, so walkers pass in front of
  and behind a person standing.
- One pinhole camera 1-3 m high, pitched down at that region, with a known floor. Every body is drawn
  as thick 2D capsules with depth (torso, limbs, head); a joint of one person is covered where a
  nearer person's capsule covers its pixel, and out of view outside the image. A covered joint is
  missing (NaN) or garbage at low confidence (per occlusion, seeded); a person with most joints
  hidden (`hidden_share`) is not reported that frame. Each crowd is placed until it holds a mutual
  occlusion as long as one it draws (`want_occlusion_s`), so crowds carry the hard cases.
- Each person's reported joints carry the `sim` estimator's errors (simulator.py: jitter, slow
  bias, depth drift along the ray, body-scale error, left/right swaps, outliers, confidence) with
  its own random occluders off, as the mutual occlusion replaces them. (`sim` corrupts motion
  already in a given camera frame; the zoo's other families place their own camera.)

Everything is in the camera's optical frame (x right, y down, z forward), absolute, as an
estimator publishes it. Deliveries of the same crowd: `true_ids`, `no_ids` (the slot order
shuffled every frame), and ids from any tracker given to `Delivery.with_ids` (the evaluation's
2D box tracker). Same seed, same crowd.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ..core.skeleton import NUM_JOINTS
from .simulator import SimulatorConfig, look_at, simulate, smooth_noise

# capsules that make a body's silhouette: (joint a, joint b, radius in metres)
CAPSULES: tuple[tuple[int, int, float], ...] = (
    (0, 7, 0.14), (7, 8, 0.14), (0, 1, 0.09), (0, 4, 0.09), (1, 4, 0.09),  # pelvis, belly, chest, hips
    (11, 14, 0.08), (1, 14, 0.08), (4, 11, 0.08),  # shoulders, flanks
    (8, 9, 0.06), (9, 10, 0.10),  # neck, head
    (1, 2, 0.075), (4, 5, 0.075), (2, 3, 0.055), (5, 6, 0.055),  # thighs, shins
    (11, 12, 0.045), (14, 15, 0.045), (12, 13, 0.04), (15, 16, 0.04),  # upper arms, forearms
)
PROP_WORDS = ("climb", "ladder", "stool", "stepstool")  # clips that stand on things the scene lacks
WALKER_TRAVEL_M = 1.0  # a clip whose pelvis travels further than this walks; nearer: in place


@dataclass(frozen=True)
class CrowdConfig:
    """Every number of a crowd, with the reason next to it."""
    fps: float = 30.0
    image_size: tuple[int, int] = (1280, 720)  # width, height (pixels)
    focal_px: float = 800.0  # 77 degrees across: a robot's wide-angle head camera
    camera_height_m: tuple[float, float] = (1.0, 3.0)
    aim_height_m: float = 1.0  # the camera is pitched down at this height above the crossing region...
    aim_jitter_deg: float = 3.0  # ...give or take this much
    meet_depth_m: tuple[float, float] = (3.5, 5.5)  # distance of that region from the camera
    meet_lateral_m: float = 0.4  # each person's own point in it: this far to either side...
    meet_depth_spread_m: float = 1.5  # ...and this far nearer or further
    meet_time_spread_s: float = 1.0  # each person passes their point within this of mid-crowd
    min_depth_m: float = 1.8  # no person's point nearer than this
    min_separation_m: float = 0.6  # two pelvises never closer than this on the floor (bodies do not overlap)
    pass_camera_m: tuple[float, float] = (1.0, 1.6)  # people pass the camera at least this far to its side
    body_scale: tuple[float, float] = (0.9, 1.1)  # people differ in size (the mocap has one skeleton)
    # each crowd draws the longest time one person should spend hidden by others from this range and
    # places its people (up to `placement_tries` times) until it holds one at least that long, else
    # keeps the placement that came closest: crowds are for measuring identity through occlusion
    want_occlusion_s: tuple[float, float] | None = (0.3, 2.0)
    placement_tries: int = 40
    stander_prob: float = 0.5  # a crowd has one person moving in place with this probability
    # how each walker walks: across the view, towards or away from the camera (along the ray), any way
    path_kinds: tuple[tuple[str, float], ...] = (("across", 0.45), ("ray", 0.3), ("any", 0.25))
    together_prob: float = 0.5  # a walker after the first walks together with the walker before them:
    queue_gap_m: tuple[float, float] = (1.0, 2.0)  # in a queue behind or ahead if that one walks along the ray...
    abreast_gap_m: tuple[float, float] = (0.7, 2.0)  # ...else abreast, one this much nearer the camera
    max_tempo: float = 1.3  # a clip walking with another is played at most this much faster or slower
    loop_blend_frames: int = 8  # a looped clip's seam is blended over this many frames
    # occlusion
    cover_margin_m: float = 0.1  # an occluder must be this much nearer than the joint it covers
    hidden_share: float = 0.6  # a person with this share of joints hidden is not reported (a detector
    # loses a person about half covered)
    max_depth_m: float = 10.0  # beyond this a person is too small to be detected
    garbage_prob: float = 0.35  # share of occlusions where the estimator answers with wrong joints
    garbage_offset_m: float = 0.3
    garbage_conf: tuple[float, float] = (0.05, 0.4)
    pixel_noise_px: float = 2.0  # image landmarks' error
    # the estimator's own errors: the `sim` family with its random occluders off
    estimator: SimulatorConfig = field(default_factory=lambda: SimulatorConfig(occlusion_s=0.0,
                                                                               partial_rate_per_s=0.0))

    @property
    def K(self) -> np.ndarray:
        w, h = self.image_size
        return np.array([[self.focal_px, 0, w / 2], [0, self.focal_px, h / 2], [0, 0, 1]])


@dataclass
class Crowd:
    """One scene: the truth per person and what the estimator reports per person (slot = person)."""
    name: str
    fps: float
    clips: list[str]  # the clip each person moves as
    paths: list[str]  # how each person walks (across, ray, any, queue, abreast, stand)
    gt: np.ndarray  # [T, N, 17, 3] float32, camera frame, metres
    poses: np.ndarray  # [T, N, 17, 3] float32: the estimator's output, NaN = missing or not reported
    confidence: np.ndarray  # [T, N, 17] float32
    keypoints_px: np.ndarray  # [T, N, 17, 2] float32: image landmarks, NaN where not seen
    reported: np.ndarray  # [T, N] bool: the estimator reports this person in this frame
    in_view: np.ndarray  # [T, N] bool: the pelvis is in the image, in range (the truth that counts)
    covered: np.ndarray  # [T, N, 17] bool: a nearer person covers this joint
    hidden_by_others: np.ndarray  # [T, N] bool: in view, but mostly covered by others (not reported)
    K: np.ndarray  # [3, 3]
    image_size: tuple[int, int]
    floor: np.ndarray  # [4]: (n, d), a point X is n.X - d above the floor
    camera_from_world: np.ndarray  # [4, 4]

    @property
    def n_people(self) -> int:
        return self.gt.shape[1]

    def __len__(self) -> int:
        return self.gt.shape[0]

    def stats(self) -> dict:
        """What the scene holds: mutual occlusions (runs of frames a person in view is not reported
        because others cover them), crossings (two people's image order swapping while both are in view)."""
        runs = [n / self.fps for k in range(self.n_people) for n in run_lengths(self.hidden_by_others[:, k])]
        u = self.gt[:, :, 0, 0] / np.maximum(self.gt[:, :, 0, 2], 1e-6)
        crossings = 0
        for a in range(self.n_people):
            for b in range(a + 1, self.n_people):
                both = self.in_view[:, a] & self.in_view[:, b]
                s = np.sign(u[both, a] - u[both, b])
                crossings += int((s[1:] * s[:-1] < 0).sum())
        return {"frames": len(self), "people": self.n_people, "clips": self.clips, "paths": self.paths,
                "occlusions_s": [round(r, 3) for r in runs], "crossings": crossings,
                "reported_share": float(self.reported.sum() / max(self.in_view.sum(), 1)),
                "covered_joint_share": float(self.covered[self.reported].mean()) if self.reported.any() else 0.0}


@dataclass
class Delivery:
    """A crowd as one estimator stream delivers it: N slots per frame in some order, with or without ids."""
    kind: str  # true_ids, no_ids, or the name of the tracker whose ids it carries
    fps: float
    poses: np.ndarray  # [T, N, 17, 3]; an all-NaN slot = empty
    confidence: np.ndarray  # [T, N, 17]
    keypoints_px: np.ndarray  # [T, N, 17, 2]
    track_ids: np.ndarray  # [T, N] int64, -1 = no id / empty slot
    person: np.ndarray  # [T, N] int64: the true person in the slot, -1 = empty (the truth; no method sees it)

    def with_ids(self, ids: np.ndarray, kind: str) -> Delivery:
        """The same slots with another source's ids (e.g. a tracker run over this delivery)."""
        if ids.shape != self.track_ids.shape:
            raise ValueError(f"ids {ids.shape} for slots {self.track_ids.shape}")
        return replace(self, kind=kind, track_ids=np.where(self.person >= 0, ids, -1).astype(np.int64))


def run_lengths(mask: np.ndarray) -> list[int]:
    """Lengths of the runs of True in a 1-D bool array."""
    m = np.r_[0, mask.astype(np.int8), 0]
    e = np.flatnonzero(np.diff(m))
    return list((e[1::2] - e[::2]).tolist())


# ---------------------------------------------------------------------------------------------
# motion: clips extended, scaled and placed

def _rot_y(angle: float) -> np.ndarray:
    """Rotation about the world's up axis that turns the xz direction at angle a (atan2(z, x)) to a + angle."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def facing(poses: np.ndarray) -> np.ndarray:
    """[..., 17, 3] -> [...]: the angle (atan2(z, x)) of the right-hip -> left-hip axis on the floor."""
    v = poses[..., 4, :] - poses[..., 1, :]
    return np.arctan2(v[..., 2], v[..., 0])


def _best_loop(clip: np.ndarray, fps: float) -> tuple[int, int]:
    """(e, j): play to frame e, continue from frame j + 1 (j < e - 1 s): the pair whose poses (each in
    its own facing) and pelvis velocity (likewise) agree best, so the seam keeps the gait's phase."""
    L = len(clip)
    rel = clip - clip[:, :1]
    yaw = facing(clip)
    R = np.stack([_rot_y(-a) for a in yaw])  # each frame into its own facing
    canon = np.einsum("tij,tkj->tki", R, rel).reshape(L, -1)
    vel = np.einsum("tij,tj->ti", R, np.gradient(clip[:, 0], axis=0) * fps)
    feat = np.concatenate([canon, 0.3 * vel], 1)
    ends = np.arange(L // 2, L - 1)
    starts = np.arange(0, L // 2)
    d = np.linalg.norm(feat[ends][:, None] - feat[starts][None], axis=-1)
    d[(ends[:, None] - starts[None]) < fps] = np.inf
    e, j = np.unravel_index(np.argmin(d), d.shape)
    return int(ends[e]), int(starts[j])


def extend_motion(clip: np.ndarray, T: int, fps: float, rng: np.random.Generator, blend: int = 8) -> np.ndarray:
    """T frames of a clip's motion (world, Y up): a random stretch of it, looped at its best-matching
    phase where it is too short; each loop continues from where the last one ended, facing its way."""
    L = len(clip)
    if L >= T:
        s = int(rng.integers(0, L - T + 1))
        return clip[s:s + T].copy()
    e, j = _best_loop(clip, fps)
    s = int(rng.integers(0, max(1, e - int(fps))))
    pieces = [clip[s:e + 1]]
    n = len(pieces[0])
    flat = np.array([1.0, 0.0, 1.0])
    while n < T:
        last = pieces[-1][-1]
        R = _rot_y(float(facing(last) - facing(clip[j])))
        anchor = clip[j, 0] * flat
        piece = (clip[j + 1:e + 1] - anchor) @ R.T + last[0] * flat
        seam = last - ((clip[j] - anchor) @ R.T + last[0] * flat)  # the pose difference at the seam
        k = min(blend, len(piece))
        w = (1.0 - (np.arange(k) + 1.0) / (k + 1.0))[:, None, None]
        piece[:k] += w * seam
        pieces.append(piece)
        n += len(piece)
    return np.concatenate(pieces)[:T]


def _travel(poses: np.ndarray) -> np.ndarray:
    return (poses[-1, 0] - poses[0, 0])[[0, 2]]


def crowd_clips(data_dir: Path | None = None, fps: float = 30.0) -> dict[str, np.ndarray]:
    """The validation clips a crowd draws from (name -> [T, 17, 3] world motion at fps), without
    those that stand on props the scene does not have (ladders, stools, steps)."""
    from ..core.timeseries import resample
    from .mocap import CACHE_FPS, load_cached
    out = {}
    for key, (poses, info) in sorted(load_cached(data_dir, split="val", progress=False).items()):
        if info.split != "val":  # never a training subject
            continue
        if any(w in info.description.lower() for w in PROP_WORDS):
            continue
        out[key] = resample(poses, CACHE_FPS, fps).astype(np.float32)
    if not out:
        raise InputError("no validation clip to make a crowd from")
    return out


def _speed(poses: np.ndarray, fps: float) -> float:
    """Mean speed of the pelvis over the floor (m/s)."""
    return float(np.linalg.norm(np.diff(poses[:, 0, [0, 2]], axis=0), axis=-1).mean() * fps)


def plan_paths(cfg: CrowdConfig, clips: dict[str, np.ndarray], names: list[str],
               rng: np.random.Generator) -> list[tuple[str, float]]:
    """How each person walks, and their body scale, drawn once per crowd. A walker crosses the view,
    walks towards or away from the camera, or any way; or walks together with the walker before
    them: behind or ahead of them if that one walks along the line of sight (queue), else beside
    them, one nearer the camera in the same line of sight (abreast). People walking together make
    the long occlusions. In-place clips stand."""
    kinds, p = zip(*cfg.path_kinds)
    p = np.asarray(p) / sum(p)
    plan: list[tuple[str, float]] = []
    last = None  # the last walker's kind
    for name in names:
        scale = float(rng.uniform(*cfg.body_scale))
        if np.linalg.norm(_travel(clips[name])) < WALKER_TRAVEL_M:
            plan.append(("stand", scale))
            continue
        kind = str(kinds[rng.choice(len(kinds), p=p)])
        if last is not None and rng.random() < cfg.together_prob:
            kind = "queue" if last in ("ray", "queue") else "abreast"
        plan.append((kind, scale))
        last = kind
    return plan


def _place(cfg: CrowdConfig, clips: dict[str, np.ndarray], names: list[str], plan: list[tuple[str, float]],
           T: int, depth: float, rng: np.random.Generator, attempts: int = 60) -> np.ndarray | None:
    """The chosen clips' world motion [T, N, 17, 3] as planned (plan_paths): each person through
    their own point near the crossing region at their own time (the camera looks along +z from the
    origin); people walking together go the same way at the same pace (the clip's tempo matched,
    within `max_tempo`), a step or two apart. None if no placement keeps them apart."""
    from ..core.timeseries import resample
    fps = cfg.fps
    flat = np.array([1.0, 0.0, 1.0])
    for attempt in range(attempts):
        wider = 1.0 + attempt / 20  # people who keep colliding are given more room, step by step
        spread = min(cfg.meet_time_spread_s * wider, T / fps / 4 * min(wider, 2.0))
        world, prev = [], None  # prev: (heading, spot, tc, speed) of the last walker
        for name, (kind, scale) in zip(names, plan):
            clip = clips[name]
            walker = kind != "stand"
            together = kind in ("queue", "abreast")
            if together:  # the clip played faster or slower, at the pace of the one walked with
                k = prev[3] / max(scale * _speed(clip, fps), 1e-3)
                clip = resample(clip, fps, fps / float(np.clip(k, 1 / cfg.max_tempo, cfg.max_tempo)))
            m = extend_motion(clip, T, fps, rng, cfg.loop_blend_frames).astype(np.float64)
            m = m * scale  # about the floor's origin: feet stay on the floor
            lateral, deeper = cfg.meet_lateral_m * wider, cfg.meet_depth_spread_m * wider
            spot = np.array([rng.uniform(-lateral, lateral), 0.0,
                             max(cfg.min_depth_m, depth + rng.uniform(-deeper, deeper))])
            tc = T / fps / 2 + rng.uniform(-spread, spread)
            if together:  # queue: along the way; abreast: nearer or further along the line of sight
                heading = prev[0] + np.deg2rad(rng.uniform(-5, 5))
                way = np.array([np.cos(prev[0]), 0.0, np.sin(prev[0])]) if kind == "queue" else \
                    prev[1] / np.linalg.norm(prev[1])
                gaps_m = cfg.queue_gap_m if kind == "queue" else cfg.abreast_gap_m
                gap = rng.choice([-1.0, 1.0]) * rng.uniform(*gaps_m)
                spot = prev[1] + gap * way
                tc = prev[2]
            elif kind == "ray":  # nearly along the line of sight, towards or away, passing beside the camera
                beside = np.array([rng.choice([-1.0, 1.0]) * rng.uniform(*cfg.pass_camera_m), 0.0, 0.0])
                heading = float(np.arctan2(*(spot - beside)[[2, 0]])) + rng.choice([0.0, np.pi])
            elif kind == "across":
                heading = rng.choice([0.0, np.pi]) + np.deg2rad(rng.uniform(-25, 25))
            else:
                heading = rng.uniform(-np.pi, np.pi)
            if walker:
                tr = _travel(m)
                m = m @ _rot_y(heading - float(np.arctan2(tr[1], tr[0]))).T
                prev = (heading, spot, tc, _speed(m, fps))
            else:
                m = m @ _rot_y(rng.uniform(-np.pi, np.pi)).T
            f = int(np.clip(round(tc * fps), 0, T - 1))
            at = m[f, 0] if walker else m[:, 0].mean(0)
            world.append(m + (spot - at) * flat)
        world = np.stack(world, 1)  # [T, N, 17, 3]
        xz = world[:, :, 0][..., [0, 2]]
        gaps = np.linalg.norm(xz[:, :, None] - xz[:, None], axis=-1)
        gaps[:, np.arange(len(names)), np.arange(len(names))] = np.inf
        near_camera = np.linalg.norm(xz, axis=-1).min()
        if gaps.min() >= cfg.min_separation_m and near_camera >= cfg.pass_camera_m[0]:
            return world
    return None


# ---------------------------------------------------------------------------------------------
# the camera and the occlusion

def camera(cfg: CrowdConfig, rng: np.random.Generator, depth: float) -> tuple[np.ndarray, np.ndarray]:
    """(camera_from_world [4, 4], floor [4]): above the world's origin, looking along +z, pitched
    down at the region `depth` metres away where the paths cross."""
    h = rng.uniform(*cfg.camera_height_m)
    pitch = np.arctan2(h - cfg.aim_height_m, depth) + np.deg2rad(rng.uniform(-cfg.aim_jitter_deg, cfg.aim_jitter_deg))
    eye = np.array([0.0, h, 0.0])
    M = look_at(eye, eye + np.array([0.0, -np.sin(pitch), np.cos(pitch)]))
    n = M[:3, 1]  # the world's up axis in the camera frame
    return M, np.r_[n, n @ M[:3, 3]]


def project(K: np.ndarray, X: np.ndarray) -> np.ndarray:
    """[..., 3] camera-frame points -> [..., 2] pixels (points behind the camera: NaN)."""
    z = X[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = X[..., :2] / np.where(z > 1e-3, z, np.nan)[..., None]
    return uv * np.array([K[0, 0], K[1, 1]]) + K[:2, 2]


def coverage(cam: np.ndarray, K: np.ndarray, margin: float) -> np.ndarray:
    """[T, N, 17] bool: the joint's pixel lies inside a capsule of another person that is nearer to
    the camera (by `margin` metres) at that point. cam: [T, N, 17, 3] camera frame (NaN: absent)."""
    T, N = cam.shape[:2]
    a = np.array([c[0] for c in CAPSULES])
    b = np.array([c[1] for c in CAPSULES])
    r = np.array([c[2] for c in CAPSULES])
    px = project(K, cam)  # [T, N, 17, 2]
    z = cam[..., 2]
    pa, pb = px[:, :, a], px[:, :, b]  # [T, N, C, 2]
    za, zb = z[:, :, a], z[:, :, b]
    out = np.zeros((T, N, NUM_JOINTS), bool)
    for i in range(N):
        q = px[:, i][:, :, None]  # [T, 17, 1, 2]
        for k in range(N):
            if k == i:
                continue
            seg = (pb[:, k] - pa[:, k])[:, None]  # [T, 1, C, 2]
            rel = q - pa[:, k][:, None]
            s = np.clip((rel * seg).sum(-1) / np.maximum((seg * seg).sum(-1), 1e-9), 0, 1)  # [T, 17, C]
            d = np.linalg.norm(rel - s[..., None] * seg, axis=-1)
            zk = za[:, k][:, None] + s * (zb[:, k] - za[:, k])[:, None]  # occluder's depth there
            with np.errstate(invalid="ignore"):
                inside = d < r * K[0, 0] / np.maximum(zk, 1e-3)
                nearer = zk < z[:, i][:, :, None] - margin
                out[:, i] |= (inside & nearer & (zk > 1e-3)).any(-1)
    return out


def make_crowd(clips: dict[str, np.ndarray], n_people: int, seconds: float, seed: int,
               cfg: CrowdConfig = CrowdConfig()) -> Crowd:
    """One seeded crowd of `n_people` from different clips, `seconds` long."""
    if not 1 <= n_people <= len(clips):
        raise InputError(f"{n_people} people: expected 1..{len(clips)} (one clip each)")
    T = int(round(seconds * cfg.fps))
    if T < 2:
        raise InputError(f"{seconds} s is too short for a crowd")
    rng = np.random.default_rng(seed)
    names_all = sorted(clips)
    walkers = [n for n in names_all if np.linalg.norm(_travel(clips[n])) >= WALKER_TRAVEL_M]
    standers = [n for n in names_all if n not in walkers]
    n_stand = 1 if (standers and n_people >= 2 and rng.random() < cfg.stander_prob) else 0
    if len(walkers) < n_people - n_stand:
        raise InputError(f"{n_people} people: only {len(walkers)} walking clips")
    names = [walkers[i] for i in rng.choice(len(walkers), n_people - n_stand, replace=False)]
    names += [standers[i] for i in rng.choice(len(standers), n_stand, replace=False)]
    depth = rng.uniform(*cfg.meet_depth_m)
    M, floor = camera(cfg, rng, depth)
    K = cfg.K
    w, h = cfg.image_size
    want = rng.uniform(*cfg.want_occlusion_s) if cfg.want_occlusion_s and n_people >= 2 else 0.0
    best = None
    for _ in range(20):  # a plan that cannot keep people apart (a fast walker queued behind a slow one) is redrawn
        plan = plan_paths(cfg, clips, names, rng)
        world = _place(cfg, clips, names, plan, T, depth, rng)
        if world is not None:
            break
    else:
        raise InputError(f"could not place {n_people} people {cfg.min_separation_m} m apart in {seconds:g} s "
                         "(fewer people or fewer seconds)")
    paths = [k for k, _ in plan]
    for i in range(cfg.placement_tries if want > 0 else 1):
        world = _place(cfg, clips, names, plan, T, depth, rng) if i else world
        if world is None:
            continue
        gt = (world @ M[:3, :3].T + M[:3, 3]).astype(np.float32)  # [T, N, 17, 3]
        px = project(K, gt.astype(np.float64))
        z = gt[..., 2]
        inside = (z > 0.1) & (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h)
        in_view = inside[..., 0] & (z[..., 0] >= 0.5) & (z[..., 0] <= cfg.max_depth_m)
        covered = coverage(gt.astype(np.float64), K, cfg.cover_margin_m) & inside
        hidden = covered | ~inside
        reported = in_view & (hidden.mean(-1) < cfg.hidden_share)
        hidden_by_others = in_view & ~reported & (covered.sum(-1) > (~inside).sum(-1))  # more covered than off-image
        longest = max((n for k in range(n_people) for n in run_lengths(hidden_by_others[:, k])), default=0) / cfg.fps
        if best is None or abs(longest - want) < best[0]:
            best = (abs(longest - want), gt, px, inside, in_view, covered, hidden, reported, hidden_by_others)
        if longest >= want:
            break
    _, gt, px, inside, in_view, covered, hidden, reported, hidden_by_others = best

    poses = np.full(gt.shape, np.nan, np.float32)
    conf = np.zeros(gt.shape[:3], np.float32)
    kp = np.full((*gt.shape[:3], 2), np.nan, np.float32)
    for k in range(n_people):
        sim = simulate(gt[:, k], cfg.fps, int(rng.integers(2**31)), cfg.estimator, in_camera=True)
        est, c = sim.poses.copy(), sim.confidence.copy()
        occl = covered[:, k].any(-1) & reported[:, k]
        garbage = np.zeros(T, bool)
        m = np.r_[0, occl.astype(np.int8), 0]
        edges = np.flatnonzero(np.diff(m))
        for a, b in zip(edges[::2], edges[1::2]):
            garbage[a:b] = rng.random() < cfg.garbage_prob
        wrong = est + smooth_noise(rng, T, 0.3 * cfg.fps, (NUM_JOINTS, 3), cfg.garbage_offset_m)
        junk = covered[:, k] & garbage[:, None]
        est = np.where(junk[..., None], wrong, est)
        c = np.where(junk, rng.uniform(*cfg.garbage_conf, size=c.shape), c)
        gone = (hidden[:, k] & ~junk) | ~reported[:, k][:, None]
        est[gone] = np.nan
        c[gone] = 0.0
        poses[:, k], conf[:, k] = est, c
        seen = reported[:, k][:, None] & ~hidden[:, k]
        noisy = px[:, k] + rng.normal(0, cfg.pixel_noise_px, px[:, k].shape)
        kp[:, k] = np.where(seen[..., None], noisy, np.nan)
    name = f"crowd{n_people}_s{seed}"
    return Crowd(name, cfg.fps, [n.split("#")[0] for n in names], paths, gt, poses, conf, kp, reported, in_view,
                 covered, hidden_by_others, K, (w, h), floor.astype(np.float32), M)


# ---------------------------------------------------------------------------------------------
# deliveries and files

def deliver(crowd: Crowd, kind: str, seed: int = 0) -> Delivery:
    """`true_ids`: slot k holds person k with id k; `no_ids`: no ids, the people in a new random slot
    order every frame (the slot order means nothing, as CONTRACT.md allows)."""
    T, N = crowd.reported.shape
    person = np.where(crowd.reported, np.arange(N)[None], -1)
    if kind == "true_ids":
        return Delivery(kind, crowd.fps, crowd.poses.copy(), crowd.confidence.copy(), crowd.keypoints_px.copy(),
                        person.copy(), person)
    if kind != "no_ids":
        raise ValueError(f"delivery {kind!r}: expected true_ids or no_ids (trackers: Delivery.with_ids)")
    rng = np.random.default_rng(seed)
    order = np.stack([rng.permutation(N) for _ in range(T)])  # slot s of frame t holds person order[t, s]
    take = np.take_along_axis
    return Delivery(kind, crowd.fps, take(crowd.poses, order[:, :, None, None], 1),
                    take(crowd.confidence, order[:, :, None], 1), take(crowd.keypoints_px, order[:, :, None, None], 1),
                    np.full((T, N), -1, np.int64), take(person, order, 1))


def save_delivery(path: str | Path, crowd: Crowd, d: Delivery) -> None:
    """A multi-person pose file (CONTRACT.md: poses [T, N, 17, 3], confidence, track_ids, -1 = none),
    with the camera it was seen by and the image landmarks."""
    np.savez(path, poses=d.poses.astype(np.float32), confidence=d.confidence.astype(np.float32),
             track_ids=d.track_ids.astype(np.int64), fps=np.float64(d.fps),
             stamps=np.arange(len(d.poses), dtype=np.float64) / d.fps, keypoints_px=d.keypoints_px.astype(np.float32),
             K=crowd.K.astype(np.float32), image_size=np.array(crowd.image_size), floor=crowd.floor)


def save_truth(path: str | Path, crowd: Crowd) -> None:
    """The truth in the same layout: every person in their own slot, with their true id; `in_view`
    marks where a person counts (in the image, in range)."""
    T, N = crowd.in_view.shape
    np.savez(path, poses=crowd.gt.astype(np.float32), track_ids=np.tile(np.arange(N, dtype=np.int64), (T, 1)),
             fps=np.float64(crowd.fps), stamps=np.arange(T, dtype=np.float64) / crowd.fps, in_view=crowd.in_view,
             reported=crowd.reported, K=crowd.K.astype(np.float32), image_size=np.array(crowd.image_size),
             floor=crowd.floor)
