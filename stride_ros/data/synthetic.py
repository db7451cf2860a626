# SPDX-License-Identifier: MIT
"""A built-in, generated walking motion: the demo's and the tests' input when no mocap is at hand.

A simple kinematic gait (hip/knee/shoulder/elbow swing, pelvis bob and sway) around a closed loop
(a circle of `radius` metres, so however long it runs the person stays in a small area in front of
the camera: the simulator is documented for people 2.5-4.5 m away), with body proportions of the
CMU skeleton. Not motion capture, but a periodic, articulated, bone-length-preserving motion that
exercises everything downstream.
"""
from __future__ import annotations

import numpy as np


def _rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def synthetic_walk(seconds: float = 10.0, fps: float = 30.0, seed: int = 0,
                   speed: float = 0.9, cadence_hz: float = 0.85, radius: float = 1.0) -> np.ndarray:
    """[T, 17, 3] metres, Y up, walking forward (+Z local) around a circle of `radius` metres."""
    rng = np.random.default_rng(seed)
    T = int(round(seconds * fps))
    t = np.arange(T) / fps
    phase = 2 * np.pi * cadence_hz * t + rng.uniform(0, 2 * np.pi)
    turn_rate = rng.choice([-1.0, 1.0]) * speed / radius  # rad/s: the loop closes every 2 pi r / v s
    heading = rng.uniform(0, 2 * np.pi) + turn_rate * t
    # path: integrate heading (a circle)
    vx, vz = np.sin(heading) * speed, np.cos(heading) * speed
    px, pz = np.cumsum(vx) / fps, np.cumsum(vz) / fps
    pelvis_h = 0.88 + 0.02 * np.cos(2 * phase)
    sway = 0.025 * np.sin(phase)

    thigh, shank, hipw = 0.368, 0.454, 0.10
    local = np.zeros((T, 17, 3))
    local[:, 0] = [0, 0, 0]
    for side, (h, k, a), sgn in (("r", (1, 2, 3), -1.0), ("l", (4, 5, 6), 1.0)):
        ph = phase if side == "r" else phase + np.pi
        hip_flex = 0.45 * np.sin(ph)  # forward swing
        knee_flex = 0.55 * np.clip(np.sin(ph + 1.2), 0, None) + 0.08
        local[:, h] = [sgn * hipw, 0.0, 0.0]
        kx = local[:, h] + np.stack([np.zeros(T), -thigh * np.cos(hip_flex), thigh * np.sin(hip_flex)], -1)
        local[:, k] = kx
        shin_ang = hip_flex - knee_flex
        local[:, a] = kx + np.stack([np.zeros(T), -shank * np.cos(shin_ang), shank * np.sin(shin_ang)], -1)
    lean = 0.05
    local[:, 7] = [0, 0.237, 0.237 * lean]
    local[:, 8] = [0, 0.237 + 0.281, (0.237 + 0.281) * lean]
    local[:, 9] = local[:, 8] + [0, 0.122, 0.02]
    local[:, 10] = local[:, 9] + [0, 0.141, 0.0]
    for side, (s, e, w), sgn in (("l", (11, 12, 13), 1.0), ("r", (14, 15, 16), -1.0)):
        ph = phase if side == "l" else phase + np.pi  # arms swing against the legs
        swing = 0.35 * np.sin(ph)
        local[:, s] = local[:, 8] + [sgn * 0.125, -0.02, 0.0]
        el = local[:, s] + np.stack([np.zeros(T), -0.282 * np.cos(swing), 0.282 * np.sin(swing)], -1)
        local[:, e] = el
        fa = swing + 0.35
        local[:, w] = el + np.stack([np.zeros(T), -0.237 * np.cos(fa), 0.237 * np.sin(fa)], -1)
    R = _rot_y(heading)  # [T, 3, 3]
    world = np.einsum("tij,tkj->tki", R, local)
    world[..., 0] += (px + sway * np.cos(heading))[:, None]
    world[..., 1] += pelvis_h[:, None]
    world[..., 2] += (pz - sway * np.sin(heading))[:, None]
    return world.astype(np.float32)
