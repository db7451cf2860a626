# SPDX-License-Identifier: MIT
"""A seeded model of what a monocular, per-frame 3D pose estimator on a robot's camera outputs.

Ground-truth motion (metres, Y up) is placed in a camera optical frame (x right, y down,
z forward) a few metres away, then corrupted the way single-image estimators fail:

- per-frame jitter, worst along the viewing ray (depth is what a single image resolves least);
  it grows with distance, like the image-plane error does when projected back;
- slow per-joint bias and a slow whole-body depth drift (the scale/depth ambiguity);
- a per-clip body-scale error (estimators regress an average body);
- left/right swaps for a few frames and outlier frames with some joints far off;
- full-body occlusion for 1.6 s within every 3.2 s (as Occluded Human3.6M), entered and left over
  a few frames as the occluder slides across, with either no output at all (NaN) or wildly wrong
  output at low confidence; and partial occlusions (legs or arms) of 0.5-1.5 s.

Every number lives in `SimulatorConfig`, with the reason it is realistic next to it.
"""
from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import numpy as np

from ..core.skeleton import ARMS, LEFT_ARM, LOWER_LEGS, MIRROR, RIGHT_ARM


@dataclass(frozen=True)
class SimulatorConfig:
    # camera: a robot's head or mast camera, person a few metres in front of it
    distance_m: tuple[float, float] = (2.5, 4.5)
    camera_height_m: tuple[float, float] = (0.9, 1.6)
    # per-frame jitter (1 sigma, metres at 3 m): image-plane errors of 10-15 mm at 3 m are
    # 2-3 px for a 600 px focal length; depth is 3x worse (monocular estimators' known weakness)
    jitter_xy_m: float = 0.006
    jitter_z_m: float = 0.015
    body_depth_jitter_m: float = 0.025  # whole skeleton moving along the ray frame to frame
    # slow errors: per-joint bias (keyframes ~1 s apart) and a whole-body depth drift (~3 s)
    joint_bias_m: float = 0.035
    joint_bias_period_s: float = 0.7
    depth_drift_frac: float = 0.06  # of the distance: 18 cm at 3 m
    depth_drift_period_s: float = 3.0
    body_scale_sigma: float = 0.03
    # rare gross errors (per-frame start hazard, duration in frames)
    swap_hazard: float = 0.004
    swap_frames: tuple[int, int] = (1, 6)
    outlier_hazard: float = 0.005
    outlier_frames: tuple[int, int] = (1, 3)
    outlier_offset_m: tuple[float, float] = (0.15, 0.4)
    # full occlusion: 1.6 s occluded within every 3.2 s, as in Occluded Human3.6M
    occlusion_cycle_s: float = 3.2
    occlusion_s: float = 1.6
    occlusion_ramp_s: float = 0.2  # the occluder covers the body joint by joint at the span's edges
    garbage_prob: float = 0.4  # share of spans where the estimator answers with wrong poses
    garbage_offset_m: float = 0.35
    garbage_conf: tuple[float, float] = (0.05, 0.45)
    # partial occlusions outside the full spans: legs or arms hidden for 0.5-1.5 s
    partial_rate_per_s: float = 0.25
    partial_s: tuple[float, float] = (0.5, 1.5)
    partial_garbage_prob: float = 0.3
    # confidence of visible joints: high, lower where the joint is further off (imperfectly)
    conf_base: float = 0.92
    conf_per_m_error: float = 1.5
    conf_noise: float = 0.08
    conf_min_visible: float = 0.4


@dataclass
class Simulated:
    """One simulated estimator stream and the truth it came from (camera frame, metres)."""
    poses: np.ndarray  # [T, 17, 3] float32, NaN = missing
    confidence: np.ndarray  # [T, 17] float32
    gt: np.ndarray  # [T, 17, 3] float32
    occluded: np.ndarray  # [T, 17] bool: the occluder hid this joint (missing or garbage)
    fps: float
    camera_from_world: np.ndarray  # [4, 4]

    @property
    def occluded_frames(self) -> np.ndarray:
        return self.occluded.any(-1)

    def floor(self):
        """The floor (the world's y = 0 plane, Y up) in the camera frame, as a robot's mounting gives it."""
        from ..core.floor import Floor
        R, t = self.camera_from_world[:3, :3], self.camera_from_world[:3, 3]
        return Floor(R[:, 1].astype(np.float64), float(R[:, 1] @ t), "the simulated camera's mounting")


def clip_seed(seed: int, name: str) -> int:
    """A stable per-clip seed, so every method sees the same input for the same clip."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**32)


def smooth_noise(rng: np.random.Generator, T: int, period: float, shape: tuple[int, ...],
                 sigma: float) -> np.ndarray:
    """Zero-mean noise that varies over `period` frames: random keyframes, cubic interpolation."""
    n_keys = max(2, int(np.ceil(T / max(period, 1.0))) + 2)
    keys = rng.normal(0.0, sigma, size=(n_keys, *shape))
    pos = np.linspace(0, n_keys - 1.0001, T) if T > 1 else np.zeros(1)
    i = np.floor(pos).astype(int)
    f = (pos - i).reshape(-1, *([1] * len(shape)))
    p0 = keys[np.clip(i - 1, 0, n_keys - 1)]
    p1 = keys[i]
    p2 = keys[np.clip(i + 1, 0, n_keys - 1)]
    p3 = keys[np.clip(i + 2, 0, n_keys - 1)]
    # Catmull-Rom: smooth, passes through the keys
    return 0.5 * ((2 * p1) + (-p0 + p2) * f + (2 * p0 - 5 * p1 + 4 * p2 - p3) * f**2
                  + (-p0 + 3 * p1 - 3 * p2 + p3) * f**3)


def look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """camera_from_world for a Y-up world and an optical frame (x right, y down, z forward)."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.array([0.0, 1.0, 0.0]))  # right = forward x up (Y-up world)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)  # down
    R = np.stack([x, y, z])  # rows: camera axes in world coordinates
    M = np.eye(4)
    M[:3, :3] = R
    M[:3, 3] = -R @ eye
    return M


def place_in_camera(world: np.ndarray, rng: np.random.Generator,
                    cfg: SimulatorConfig) -> tuple[np.ndarray, np.ndarray]:
    """World motion (Y up) -> camera optical frame, camera facing the clip's centre."""
    root_xz = world[:, 0, [0, 2]]
    centre = root_xz.mean(0)
    extent = np.linalg.norm(root_xz - centre, axis=-1).max()
    dist = max(rng.uniform(*cfg.distance_m), extent + 1.5)
    azimuth = rng.uniform(0, 2 * np.pi)
    eye = np.array([centre[0] + dist * np.cos(azimuth), rng.uniform(*cfg.camera_height_m),
                    centre[1] + dist * np.sin(azimuth)])
    target = np.array([centre[0], rng.uniform(0.8, 1.1), centre[1]])
    M = look_at(eye, target)
    cam = world @ M[:3, :3].T + M[:3, 3]
    return cam.astype(np.float32), M


def _spans(rng: np.random.Generator, T: int, hazard: float, frames: tuple[int, int]) -> list[tuple[int, int]]:
    starts = np.flatnonzero(rng.random(T) < hazard)
    return [(int(s), int(min(T, s + rng.integers(frames[0], frames[1] + 1)))) for s in starts]


def simulate(gt_world: np.ndarray, fps: float, seed: int, cfg: SimulatorConfig = SimulatorConfig(),
             in_camera: bool = False) -> Simulated:
    """Simulate the estimator's output for one clip of ground-truth motion [T, 17, 3]."""
    rng = np.random.default_rng(seed)
    if in_camera:
        gt, M = gt_world.astype(np.float32), np.eye(4)
    else:
        gt, M = place_in_camera(gt_world, rng, cfg)
    T = gt.shape[0]
    root = gt[:, :1]
    depth = np.clip(gt[:, :, 2:3], 0.5, None)  # [T, 17, 1]
    dist_scale = depth / 3.0

    # 1. smooth errors: body scale, per-joint bias, whole-body depth drift
    scale = 1.0 + rng.normal(0, cfg.body_scale_sigma)
    est = root + scale * (gt - root)
    est = est + smooth_noise(rng, T, cfg.joint_bias_period_s * fps, (17, 3), cfg.joint_bias_m) * dist_scale
    drift = smooth_noise(rng, T, cfg.depth_drift_period_s * fps, (1,), cfg.depth_drift_frac)  # [T, 1]
    ray = gt[:, 0] / np.linalg.norm(gt[:, 0], axis=-1, keepdims=True)  # viewing ray to the pelvis
    est = est + (drift * np.linalg.norm(gt[:, 0], axis=-1, keepdims=True) * ray)[:, None]

    # 2. per-frame jitter, depth-heavy and growing with distance
    sig = np.array([cfg.jitter_xy_m, cfg.jitter_xy_m, cfg.jitter_z_m])
    est = est + rng.normal(0, 1, size=(T, 17, 3)) * sig * dist_scale
    est = est + (rng.normal(0, cfg.body_depth_jitter_m, size=(T, 1)) * ray)[:, None] * dist_scale[:, :1]

    # 3. gross errors: left/right swaps, outlier joints
    for a, b in _spans(rng, T, cfg.swap_hazard, cfg.swap_frames):
        part = rng.choice(["all", "legs", "arms"])
        perm = np.arange(17)
        if part == "all":
            perm = MIRROR
        elif part == "legs":
            perm[1:7] = MIRROR[1:7]
        else:
            perm[11:17] = MIRROR[11:17]
        est[a:b] = est[a:b][:, perm]
    outlier = np.zeros((T, 17), bool)
    for a, b in _spans(rng, T, cfg.outlier_hazard, cfg.outlier_frames):
        joints = rng.choice(17, size=rng.integers(2, 7), replace=False)
        direction = rng.normal(size=(len(joints), 3))
        direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
        est[a:b, joints] += direction * rng.uniform(*cfg.outlier_offset_m, size=(len(joints), 1))
        outlier[a:b, joints] = True

    err = np.linalg.norm(est - gt, axis=-1)
    conf = np.clip(cfg.conf_base - cfg.conf_per_m_error * err + rng.normal(0, cfg.conf_noise, (T, 17)),
                   cfg.conf_min_visible, 1.0)

    # 4. occlusions
    occluded = np.zeros((T, 17), bool)
    garbage = np.zeros((T, 17), bool)
    cycle = int(round(cfg.occlusion_cycle_s * fps))
    span = int(round(cfg.occlusion_s * fps))
    ramp = max(1, int(round(cfg.occlusion_ramp_s * fps)))
    full = np.zeros(T, bool)
    for c0 in range(0, T, cycle):
        a = c0 + int(rng.integers(0, cycle - span + 1))
        b = min(T, a + span)
        if a >= T:
            break
        full[a:b] = True
        # the occluder sweeps from one side: joints are covered in the order of their image x
        side = rng.choice([-1.0, 1.0])
        order = np.argsort(side * gt[min(a, T - 1), :, 0] / gt[min(a, T - 1), :, 2])
        hidden = np.zeros((b - a, 17), bool)
        for k in range(b - a):
            into, out_of = k + 1, b - a - k
            n = 17 if min(into, out_of) > ramp else int(np.ceil(17 * min(into, out_of) / (ramp + 1)))
            hidden[k, order[:n] if into <= out_of else order[17 - n:]] = True
        occluded[a:b] |= hidden
        if rng.random() < cfg.garbage_prob:
            garbage[a:b] |= hidden
    n_partial = rng.poisson(cfg.partial_rate_per_s * T / fps)
    for _ in range(n_partial):
        length = int(rng.uniform(*cfg.partial_s) * fps)
        a = int(rng.integers(0, max(1, T - length)))
        b = min(T, a + length)
        if full[a:b].any():
            continue
        joints = [LOWER_LEGS, LEFT_ARM, RIGHT_ARM, ARMS][rng.integers(0, 4)]
        occluded[a:b, joints] = True
        if rng.random() < cfg.partial_garbage_prob:
            garbage[a:b, joints] = True

    # garbage: a wrong, drifting pose near the occluder, reported with low confidence
    if garbage.any():
        src = rng.integers(0, T)
        wrong = gt[src] - gt[src, :1] + gt[:, :1]  # another moment's pose at the true place
        wrong = wrong + smooth_noise(rng, T, 0.3 * fps, (17, 3), cfg.garbage_offset_m)
        wrong = wrong + smooth_noise(rng, T, 1.0 * fps, (1, 3), cfg.garbage_offset_m)
        est = np.where(garbage[..., None], wrong, est)
        conf = np.where(garbage, rng.uniform(*cfg.garbage_conf, size=(T, 17)), conf)
    missing = occluded & ~garbage
    est[missing] = np.nan
    conf[missing] = 0.0
    return Simulated(poses=est.astype(np.float32), confidence=conf.astype(np.float32),
                     gt=gt.astype(np.float32), occluded=occluded, fps=float(fps), camera_from_world=M)


def describe(cfg: SimulatorConfig = SimulatorConfig()) -> dict:
    return asdict(cfg)
