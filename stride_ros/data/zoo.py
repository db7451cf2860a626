# SPDX-License-Identifier: MIT
"""An estimator zoo: corruption families with different character, each standing for a kind of real
estimator, so the prior is trained for diversity and measured on estimators it has not seen.

Every family maps ground-truth motion (world frame, Y up) to what an estimator on a robot's camera
would publish (camera optical frame, NaN = missing, confidence), as `simulator.Simulated`:

- `sim`: the project's original simulator (simulator.py): a single-image 3D estimator in the wild,
  Occluded-Human3.6M-style 1.6 s occlusions with nothing or low-confidence garbage, swaps, outliers.
- `blazepose`: fitted to real MediaPipe BlazePose output against motion capture (the development
  set, `fit_blazepose`; the fitted numbers ship in `zoo_blazepose.json`): systematic per-joint
  offsets between its surface landmarks and mocap joint centres (in the body's own frame), a
  slowly varying whole-body rotation, errors that are mostly slow (per joint, per axis, measured),
  long detection gaps with nothing published (lengths and rate measured), visibility that tracks
  the error only loosely (rank correlation measured), no garbage poses.
- `lifting`: a 2D-to-3D lifting network (VideoPose3D-style) on a good 2D detector: accurate in the
  image plane, ambiguous in depth (slow per-joint depth errors, a limb's depth flipped for a few
  frames), bone lengths that breathe, a whole-body tilt about the camera's x axis, a per-clip scale
  error that moves the person along the ray (scale/depth ambiguity), short occlusions.
- `uncalibrated`: a detector whose confidence means nothing the prior has seen (all ones, noise
  unrelated to the error, or squeezed into [0.05, 0.4]) with whole-frame outliers published at
  full confidence (a wrong detection, a person swap) and short dropouts.
- `hfr_drops`: a 60 fps estimator over a lossy link: moderate noise, frames dropped singly and in
  bursts (the stream sees stamp gaps; here those frames are empty), no long occlusions.

`corrupt(family, gt_world, fps, rng, train)` draws one clip; `FAMILIES` lists them with their frame rate.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
from scipy.spatial.transform import Rotation

from ..core.skeleton import ARMS, BODY_JOINTS, BONES, LEFT_ARM, LOWER_LEGS, MIRROR, NUM_JOINTS, RIGHT_ARM, rescale_bones
from .simulator import Simulated, SimulatorConfig, place_in_camera, simulate, smooth_noise

FIT_PATH = Path(__file__).with_name("zoo_blazepose.json")
COMPARABLE = BODY_JOINTS


@dataclass(frozen=True)
class Family:
    name: str
    fps: float  # the rate this estimator publishes at
    stands_for: str
    make: Callable[[np.ndarray, float, np.random.Generator, bool], Simulated]  # (gt_world, fps, rng, train)


# ---------------------------------------------------------------------------------------------
# shared pieces

def body_axes(rel: np.ndarray) -> np.ndarray:
    """Pelvis-relative poses [T, 17, 3] -> [T, 3, 3] rows: x right hip -> left hip, y up (towards the
    thorax), z = x cross y. Offsets expressed in it follow the body however the person turns."""
    x = rel[:, 4] - rel[:, 1]
    x = x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-9)
    up = rel[:, 8] - rel[:, 0]
    up = up - x * (up * x).sum(-1, keepdims=True)
    up = up / np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    return np.stack([x, up, np.cross(x, up)], 1)


def _camera(gt_world: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A camera placement drawn wider than the original simulator's: 2-5 m away, 0.5-2.8 m high
    (a small robot to a studio camera looking down)."""
    return place_in_camera(gt_world, rng, replace(SimulatorConfig(), distance_m=(2.0, 5.0),
                                                  camera_height_m=(0.5, 2.8)))


def _runs(rng: np.random.Generator, T: int, hazard: float, length: Callable[[], int]) -> np.ndarray:
    """[T] bool: spans starting with per-frame probability `hazard`, `length()` frames long."""
    out = np.zeros(T, bool)
    for s in np.flatnonzero(rng.random(T) < hazard):
        out[s:s + max(1, int(length()))] = True
    return out


def _rotate_about_pelvis(poses: np.ndarray, rotvec: np.ndarray) -> np.ndarray:
    root = poses[:, :1]
    R = Rotation.from_rotvec(rotvec).as_matrix()  # [T, 3, 3]
    return root + np.einsum("tij,tkj->tki", R, poses - root)


def _rank_confidence(err: np.ndarray, rng: np.random.Generator, quantiles: np.ndarray, rho: float) -> np.ndarray:
    """Confidence whose rank correlates with -error at about `rho`, distributed as `quantiles`."""
    z = -(err - err.mean()) / max(err.std(), 1e-9)
    noise = np.sqrt(max(1.0 / max(rho, 1e-3) ** 2 - 1.0, 0.0))
    score = z + noise * rng.normal(size=err.shape)
    ranks = score.ravel().argsort().argsort().reshape(err.shape) / max(err.size - 1, 1)
    return np.interp(ranks, np.linspace(0, 1, len(quantiles)), quantiles).astype(np.float32)


def _root_error(gt: np.ndarray, rng: np.random.Generator, fps: float, drift_frac: float = 0.06) -> np.ndarray:
    """A monocular estimator's placement error: slow drift along the viewing ray, some jitter."""
    T = len(gt)
    dist = np.linalg.norm(gt[:, 0], axis=-1, keepdims=True)
    ray = gt[:, 0] / np.maximum(dist, 1e-6)
    drift = smooth_noise(rng, T, 3.0 * fps, (1,), drift_frac) * dist
    return (drift + rng.normal(0, 0.02, (T, 1)) * dist / 3.0) * ray


# ---------------------------------------------------------------------------------------------
# families

def random_simulator(rng: np.random.Generator) -> SimulatorConfig:
    """Estimator behaviour varies by camera, scene and model: train on a spread around the default."""
    base = SimulatorConfig()
    k = rng.uniform(0.5, 1.8)
    return replace(
        base,
        jitter_xy_m=base.jitter_xy_m * k, jitter_z_m=base.jitter_z_m * k,
        joint_bias_m=base.joint_bias_m * rng.uniform(0.5, 1.5),
        swap_hazard=base.swap_hazard * rng.uniform(0, 2.5),
        outlier_hazard=base.outlier_hazard * rng.uniform(0, 2.5),
        occlusion_cycle_s=rng.uniform(2.4, 4.0),
        occlusion_s=rng.uniform(0.0, 2.2) if rng.random() < 0.85 else 0.0,
        garbage_prob=rng.uniform(0.0, 0.7),
        partial_rate_per_s=rng.uniform(0.0, 0.6),
    )


def _severity(rng: np.random.Generator, train: bool) -> float:
    """Training draws each family's severity from a spread around its measured or documented value."""
    return float(rng.uniform(0.5, 1.6)) if train else 1.0


def make_sim(gt_world: np.ndarray, fps: float, rng: np.random.Generator, train: bool = False) -> Simulated:
    if not train:
        return simulate(gt_world, fps, int(rng.integers(2**31)), SimulatorConfig())
    cfg = replace(random_simulator(rng), camera_height_m=(0.5, 2.8), distance_m=(2.0, 5.0))
    return simulate(gt_world, fps, int(rng.integers(2**31)), cfg)


def load_fit(path: Path = FIT_PATH) -> dict:
    return json.loads(Path(path).read_text())


@dataclass(frozen=True)
class BlazePosePerson:
    """One person's error statistics as the `blazepose` family applies them to a clip."""
    offset_body_m: np.ndarray  # [17, 3] landmark - joint centre, in the body's own frame
    log_scale: float  # the estimator's error in this person's size
    rot_case_sd_rad: float  # fixed rotation between its world frame and the camera's
    rot_slow_sd_rad: float
    rot_period_s: float
    lf_sd_m: np.ndarray  # [17, 3] slow per-joint error
    lf_period_s: float
    hf_sd_m: np.ndarray  # [17, 3] fast per-joint error
    conf_rank_rho: float


# Training draws every person's statistics from a spread, not from the one subject the family was
# fitted to (a prior trained on one person's landmark offsets learns to undo that person's offsets,
# and adds them to everyone else's). The spreads:
# - offsets: the fitted pattern with a weight drawn from U(-0.5, 1.5) (part of it is how BlazePose's
#   landmarks are defined, the same for everyone, part is this person's build and clothes, of either
#   sign: one subject cannot tell the two apart, so the expected correction is half the pattern and a
#   quarter of people have it reversed), mirrored left/right for half the people, plus independent
#   per-joint offsets whose spread is the fitted offset's own size (at least the 15 mm per clip seen
#   within the subject);
# - size: people's sizes are misjudged by several per cent from images (MonoLoco: ~4.6 % in height,
#   the spread of adult stature); the fitted 0.8 % is the spread of one person over 14 clips;
# - rotation and error levels: each independently 0.5-1.6x the fitted value (per joint and axis a
#   further log-normal 25 %), periods 0.5-2x the fitted ones; the visibility-error correlation
#   0.5-1.5x the fitted one.
OFFSET_WEIGHT = (-0.5, 1.5)
SCALE_SD_TRAIN = 0.046
LEVEL_RANGE = (0.5, 1.6)
LEVEL_JOINT_SD = 0.25
PERIOD_RANGE = (0.5, 2.0)


def blazepose_person(f: dict, rng: np.random.Generator, train: bool) -> BlazePosePerson:
    """Error statistics for one clip: at evaluation the fitted subject's (offsets 0.6-1.3x the fitted
    pattern plus 15 mm per joint, its own scale spread); in training a person drawn from the spreads
    above."""
    fit_off = np.asarray(f["offset_body_m"], float)
    if not train:
        off = fit_off * rng.uniform(0.6, 1.3) + rng.normal(0, f["offset_case_sd_m"], (NUM_JOINTS, 3))
        off[0] = 0.0
        return BlazePosePerson(off, float(rng.normal(f["log_scale_mean"], f["log_scale_sd"])),
                               f["rot_case_sd_rad"], f["rot_slow_sd_rad"], f["rot_period_s"],
                               np.asarray(f["lf_sd_m"]), f["lf_period_s"], np.asarray(f["hf_sd_m"]),
                               f["conf_rank_rho"])
    if rng.random() < 0.5:  # another person's asymmetry: the pattern mirrored (x: right hip -> left hip)
        fit_off = fit_off[MIRROR] * np.array([-1.0, 1.0, 1.0])
    own = np.maximum(np.linalg.norm(fit_off, axis=-1, keepdims=True) / np.sqrt(3.0), f["offset_case_sd_m"])
    off = rng.uniform(*OFFSET_WEIGHT) * fit_off + rng.normal(size=(NUM_JOINTS, 3)) * own
    off[0] = 0.0
    off[4] = -off[1]  # the pelvis is the mid-hip on both sides: hip offsets cancel

    def level(sd) -> np.ndarray:
        sd = np.asarray(sd, float)
        return sd * rng.uniform(*LEVEL_RANGE) * np.exp(rng.normal(0, LEVEL_JOINT_SD, sd.shape))

    return BlazePosePerson(
        off, float(rng.normal(f["log_scale_mean"], max(SCALE_SD_TRAIN, f["log_scale_sd"]))),
        float(level(f["rot_case_sd_rad"])), float(level(f["rot_slow_sd_rad"])),
        f["rot_period_s"] * rng.uniform(*PERIOD_RANGE), level(f["lf_sd_m"]),
        f["lf_period_s"] * rng.uniform(*PERIOD_RANGE), level(f["hf_sd_m"]),
        float(np.clip(f["conf_rank_rho"] * rng.uniform(0.5, 1.5), 0.01, 0.95)))


def make_blazepose(gt_world: np.ndarray, fps: float, rng: np.random.Generator, train: bool = False,
                   fit: dict | None = None) -> Simulated:
    f = fit or _FIT()
    gt, M = _camera(gt_world, rng)
    T = len(gt)
    rel = gt - gt[:, :1]
    B = body_axes(rel)
    person = blazepose_person(f, rng, train)
    est = rel + np.einsum("tji,kj->tki", B, person.offset_body_m)  # body-frame offsets into the camera frame
    est = est * np.exp(person.log_scale)
    lf = smooth_noise(rng, T, person.lf_period_s * fps, (NUM_JOINTS, 3), 1.0) * person.lf_sd_m
    hf = rng.normal(size=(T, NUM_JOINTS, 3)) * person.hf_sd_m
    est = est + lf + hf
    est[:, 0] = 0.0  # pelvis-relative, as BlazePose's world landmarks are hip-centred
    rv = (rng.normal(0, person.rot_case_sd_rad, 3)[None]
          + smooth_noise(rng, T, person.rot_period_s * fps, (3,), person.rot_slow_sd_rad))
    est = _rotate_about_pelvis(est + gt[:, :1], rv)
    est = est + _root_error(gt, rng, fps)[:, None]
    err = np.linalg.norm(est - est[:, :1] - rel, axis=-1)
    conf = _rank_confidence(err, rng, np.asarray(f["conf_quantiles"]), person.conf_rank_rho)
    # detection gaps: nobody published, for seconds (training shows them 4x as often: they are
    # where the prior matters most, and one 81-frame window rarely holds one at the measured rate)
    n_rate = f["gap_rate_per_frame"] * rng.uniform(0.0, 2.5) * (4.0 if train else 1.0)
    gap = _runs(rng, T, n_rate, lambda: np.exp(rng.normal(f["gap_log_mean"], f["gap_log_sd"])) * fps / f["fps"])
    est[gap] = np.nan
    conf[gap] = 0.0
    occluded = np.repeat(gap[:, None], NUM_JOINTS, 1)
    return Simulated(est.astype(np.float32), conf, gt.astype(np.float32), occluded, float(fps), M)


def _limb_depth_flip(est: np.ndarray, rng: np.random.Generator, hazard: float) -> None:
    """Mirror a forearm or shank in depth about its parent joint for a few frames (in place)."""
    T = len(est)
    limbs = [(12, 13), (15, 16), (2, 3), (5, 6), (11, 12), (14, 15)]
    for s in np.flatnonzero(rng.random(T) < hazard):
        p, c = limbs[rng.integers(len(limbs))]
        e = min(T, s + int(rng.integers(3, 15)))
        est[s:e, c, 2] = 2 * est[s:e, p, 2] - est[s:e, c, 2]


def make_lifting(gt_world: np.ndarray, fps: float, rng: np.random.Generator, train: bool = False) -> Simulated:
    k = _severity(rng, train)
    gt, M = _camera(gt_world, rng)
    T = len(gt)
    breathe = 1.0 + smooth_noise(rng, T, 1.0 * fps, (len(BONES),), 0.06 * k)
    est = np.stack([rescale_bones(gt[t:t + 1], breathe[t])[0] for t in range(T)]) if T else gt.copy()
    tilt = np.zeros((T, 3))
    tilt[:, 0] = smooth_noise(rng, T, 3.0 * fps, (), np.radians(8.0) * k) + rng.normal(0, np.radians(5.0))
    est = _rotate_about_pelvis(est, tilt)
    depth = np.clip(gt[:, :, 2:3], 0.5, None) / 3.0
    est[..., 2] += (smooth_noise(rng, T, 0.5 * fps, (NUM_JOINTS,), 0.05 * k) * depth[..., 0])
    est[..., :2] += rng.normal(0, 0.004, (T, NUM_JOINTS, 2)) * depth
    est[..., 2:] += rng.normal(0, 0.015 * k, (T, NUM_JOINTS, 1)) * depth
    _limb_depth_flip(est, rng, 0.01 * k)
    scale = np.exp(rng.normal(0, 0.06))  # scale/depth ambiguity: a smaller person is nearer
    est = est * scale
    err = np.linalg.norm(est - gt, axis=-1)
    conf = np.clip(0.95 - 1.0 * err + rng.normal(0, 0.05, err.shape), 0.3, 1.0).astype(np.float32)
    occluded = np.zeros((T, NUM_JOINTS), bool)
    for _ in range(rng.poisson(0.3 * T / fps)):  # limbs hidden for 0.3-1.5 s: the 2D detector guesses
        a = int(rng.integers(0, max(1, T - 5)))
        b = min(T, a + int(rng.uniform(0.3, 1.5) * fps))
        occluded[a:b, [LOWER_LEGS, LEFT_ARM, RIGHT_ARM, ARMS][rng.integers(4)]] = True
    full = _runs(rng, T, 0.01, lambda: rng.uniform(0.3, 1.0) * fps)
    occluded[full] = True
    guess = occluded & ~full[:, None]
    est[guess] += smooth_noise(rng, T, 0.3 * fps, (NUM_JOINTS, 3), 0.12)[guess]
    conf[guess] = rng.uniform(0.05, 0.4, guess.sum())
    est[full] = np.nan
    conf[full] = 0.0
    return Simulated(est.astype(np.float32), conf, gt.astype(np.float32), occluded, float(fps), M)


def make_uncalibrated(gt_world: np.ndarray, fps: float, rng: np.random.Generator, train: bool = False) -> Simulated:
    severity = _severity(rng, train)
    base = SimulatorConfig(occlusion_s=rng.uniform(0.0, 1.0), garbage_prob=0.0, partial_rate_per_s=0.2,
                           camera_height_m=(0.5, 2.8), distance_m=(2.0, 5.0))
    sim = simulate(gt_world, fps, int(rng.integers(2**31)), base)
    est, T = sim.poses.copy(), len(sim.poses)
    seen = ~np.isnan(est).any(-1)
    # whole-frame outliers at full confidence: a wrong detection, another person's pose
    bad = _runs(rng, T, 0.02 * severity, lambda: rng.integers(1, 4))
    src = rng.integers(0, T, size=T)
    shift = rng.normal(0, 0.5, (T, 1, 3))
    wrong = sim.gt[src] - sim.gt[src, :1] + sim.gt[:, :1] + shift
    est = np.where((bad[:, None] & seen)[..., None], wrong, est)
    drop = _runs(rng, T, 0.01, lambda: rng.integers(1, 8))
    est[drop] = np.nan
    seen = ~np.isnan(est).any(-1)
    err = np.where(seen, np.linalg.norm(np.nan_to_num(est) - sim.gt, axis=-1), 0.0)
    mode = rng.integers(3)
    if mode == 0:  # no confidence at all
        conf = np.ones((T, NUM_JOINTS), np.float32)
    elif mode == 1:  # noise unrelated to the error
        conf = rng.uniform(0.3, 1.0, (T, NUM_JOINTS)).astype(np.float32)
    else:  # another scale: squeezed into [0.05, 0.4], still ordered by the error
        conf = np.clip(0.4 - 0.5 * err + rng.normal(0, 0.03, err.shape), 0.05, 0.4).astype(np.float32)
    conf = np.where(seen, conf, 0.0).astype(np.float32)
    occluded = sim.occluded | drop[:, None]
    return Simulated(est.astype(np.float32), conf, sim.gt, occluded, float(fps), sim.camera_from_world)


def make_hfr_drops(gt_world: np.ndarray, fps: float, rng: np.random.Generator, train: bool = False) -> Simulated:
    severity = _severity(rng, train)
    base = SimulatorConfig(occlusion_s=0.0, garbage_prob=0.0, partial_rate_per_s=0.15,
                           jitter_xy_m=0.004, jitter_z_m=0.010, camera_height_m=(0.5, 2.8), distance_m=(2.0, 5.0))
    sim = simulate(gt_world, fps, int(rng.integers(2**31)), base)
    T = len(sim.poses)
    p = rng.uniform(0.03, 0.12) * severity
    single = rng.random(T) < p
    burst = _runs(rng, T, p / 8, lambda: rng.integers(3, 16))
    drop = single | burst
    est, conf = sim.poses.copy(), sim.confidence.copy()
    est[drop] = np.nan
    conf[drop] = 0.0
    return Simulated(est, conf, sim.gt, sim.occluded | drop[:, None], float(fps), sim.camera_from_world)


FAMILIES: dict[str, Family] = {
    "sim": Family("sim", 30.0, "single-image 3D estimator in the wild, long full occlusions with garbage", make_sim),
    "blazepose": Family("blazepose", 30.0, "MediaPipe BlazePose world landmarks, fitted to the development set",
                        make_blazepose),
    "lifting": Family("lifting", 30.0, "2D-to-3D lifting: depth ambiguity, breathing bones, whole-body tilt",
                      make_lifting),
    "uncalibrated": Family("uncalibrated", 30.0, "confidence on another scale or meaningless, whole-frame outliers",
                           make_uncalibrated),
    "hfr_drops": Family("hfr_drops", 60.0, "60 fps over a lossy link: single and burst frame drops",
                        make_hfr_drops),
}


def corrupt(family: str, gt_world: np.ndarray, fps: float, rng: np.random.Generator,
            train: bool = False) -> Simulated:
    """One clip of `family`'s output for motion gt_world [T, 17, 3] sampled at `fps` (train: with the
    family's severity randomised around its documented value)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown estimator family {family!r} (known: {', '.join(FAMILIES)})")
    return FAMILIES[family].make(gt_world, fps, rng, train)


_FIT_CACHE: dict = {}


def _FIT() -> dict:
    if "fit" not in _FIT_CACHE:
        _FIT_CACHE["fit"] = load_fit()
    return _FIT_CACHE["fit"]


# ---------------------------------------------------------------------------------------------
# fitting the blazepose family to real cases (statistics only; the truth is never a training target)

def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame rotation R [T, 3, 3] with R a_j ~ b_j (a, b: [T, J, 3], centred on the pelvis)."""
    H = np.einsum("tji,tjk->tik", a, b)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.einsum("tji,tkj->tik", Vt, U)))
    D = np.zeros_like(H)
    D[:, 0, 0] = D[:, 1, 1] = 1.0
    D[:, 2, 2] = d
    return np.einsum("tji,tjk,tlk->til", Vt, D, U)


def fit_blazepose(cases: list) -> dict:
    """Statistics of real estimator output against its truth (realdata.RealCase list), in the units
    `make_blazepose` uses. Pelvis-relative, seen frames only (except for the gap statistics)."""
    from scipy.ndimage import uniform_filter1d
    from scipy.stats import spearmanr

    fps = float(cases[0].fps)
    rels = []
    for c in cases:
        s = ~c.missing
        P = c.poses[s] - c.poses[s, :1]
        G = c.gt[s] - c.gt[s, :1]
        rels.append((P.astype(np.float64), G.astype(np.float64)))
    off = np.concatenate([np.einsum("tij,tkj->tki", body_axes(G), P - G) for P, G in rels]).mean(0)
    off[0] = 0.0
    log_scales, rot_case, rot_slow, lf, hf, confs, errs = [], [], [], [], [], [], []
    for (P, G), c in zip(rels, cases):
        P1 = P - np.einsum("tji,kj->tki", body_axes(G), off)
        s = np.median(np.linalg.norm(P1[:, COMPARABLE], axis=(1, 2)) / np.linalg.norm(G[:, COMPARABLE], axis=(1, 2)))
        log_scales.append(np.log(s))
        P1 = P1 / s
        R = _kabsch(G[:, COMPARABLE], P1[:, COMPARABLE])
        rv = Rotation.from_matrix(R).as_rotvec()
        rot_case.append(rv.mean(0))
        rot_slow.append(rv - rv.mean(0))
        res = np.einsum("tji,tkj->tki", R, P1) - G  # R^T P1 - G
        low = uniform_filter1d(res, int(fps), axis=0)
        lf.append(low)
        hf.append(res - low)
        confs.append(c.confidence[~c.missing])
        errs.append(np.linalg.norm(P - G, axis=-1))
    gaps, frames = [], 0
    for c in cases:
        m = np.r_[0, c.missing.astype(int), 0]
        e = np.flatnonzero(np.diff(m))
        gaps += list(e[1::2] - e[::2])
        frames += len(c.missing)
    gaps = np.asarray(gaps, float) if gaps else np.array([60.0])
    conf, err = np.concatenate(confs).ravel(), np.concatenate(errs).ravel()
    rho = -float(spearmanr(conf, err).statistic)
    rs = np.concatenate(rot_slow)
    return {
        "source": [c.name for c in cases],
        "fps": fps,
        "offset_body_m": off.round(4).tolist(),
        "offset_case_sd_m": 0.015,
        "log_scale_mean": 0.0,  # a scale bias would be this estimator's calibration, not a body's: left out
        "log_scale_sd": float(np.std(log_scales)),
        "rot_case_sd_rad": float(np.sqrt(np.mean(np.var(np.stack(rot_case), axis=0)))),
        "rot_slow_sd_rad": float(np.sqrt(np.mean(rs ** 2))),
        "rot_period_s": 3.0,
        "lf_sd_m": np.sqrt(np.mean(np.concatenate(lf) ** 2, axis=0)).round(4).tolist(),
        "lf_period_s": 1.0,
        "hf_sd_m": np.sqrt(np.mean(np.concatenate(hf) ** 2, axis=0)).round(4).tolist(),
        "gap_rate_per_frame": float(len(gaps) / max(frames, 1)),
        "gap_log_mean": float(np.log(gaps).mean()),
        "gap_log_sd": float(np.log(gaps).std()),
        "conf_quantiles": np.quantile(conf, np.linspace(0, 1, 41)).round(4).tolist(),
        "conf_rank_rho": max(rho, 0.01),
        "raw_mpjpe_mm": float(np.mean(np.concatenate([np.linalg.norm(P - G, axis=-1)[:, COMPARABLE].mean(-1)
                                                      for P, G in rels])) * 1000),
    }
