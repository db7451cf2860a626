# SPDX-License-Identifier: MIT
"""Where the person is: a Kalman filter on the pelvis, smoothed with a fixed lag or offline.

The prior refines the pose's shape (pelvis-relative); the trajectory is a job for a filter a
robotics engineer can reason about: a damped constant-velocity model in 3D (velocity decays with
time constant `tau_s`, so a 1.6 s occlusion does not send the person flying), measurement noise
worst along the viewing ray (the direction from the frame's origin to the person: depth is what a
monocular estimator resolves least) and a chi-square gate against outliers. Offline, a
Rauch-Tung-Striebel pass bridges gaps using the frames after them; streaming, the same smoother
runs over the last `lag` frames.

Two properties users rely on:
- Rotation-equivariant: the dynamics are isotropic and the measurement noise is aligned with the
  viewing ray, not with an axis, so a track in `base_link` (z up) and the same track in a camera
  optical frame (z forward) are filtered identically.
- It re-acquires: confident answers that keep falling outside the gate (a first estimate that was
  off, a fast real change in depth) restart the filter at the measurement after `reacquire_after`
  frames, instead of coasting until the growing uncertainty lets one in (measured: a 1 s hold and
  a 3 m jump on a real BlazePose clip).
- Confidence scale-free: estimators' confidences mean different things (BlazePose visibility, ZED,
  OpenPose, this project's simulator). A measurement is weighed by its confidence *relative to the
  track's own typical confidence* (a slowly leaking maximum of what it has fused), and only answers
  far below that are ignored (`min_rel_conf`). An absolute threshold once froze the filter for
  a distant person whose every joint came at confidence 0.40.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

I3 = np.eye(3)
_TRANSITIONS: dict[tuple[float, float, float], tuple[np.ndarray, np.ndarray]] = {}  # read-only once made


@dataclass(frozen=True)
class RootFilterParams:
    """The confidence rule (min_rel_conf 0.4, conf_power 4, gating at the typical confidence) was
    chosen on 30 training-subject clips through every estimator family of the zoo and on the demo's
    walk: pelvis error on fully visible frames, lag 0, 0.87-1.00 x the raw estimate's (sim 0.95,
    uncalibrated 0.87, hfr_drops 0.92, lifting 0.99, blazepose 1.00: their error is a slow bias no
    filter removes; demo walk 0.90), where the old absolute 0.45 threshold gave 0.88-1.17 and
    min_rel_conf 0.5 lost the demo walker's low-confidence frames (1.21)."""
    accel_sigma: float = 2.0  # m/s^2, white acceleration driving the velocity
    tau_s: float = 0.5  # s, velocity decay time constant
    sigma_lateral_m: float = 0.03  # measurement noise across the viewing ray, at typical confidence
    sigma_ray_m: float = 0.10  # along the viewing ray (depth)
    gate_chi2: float = 16.3  # chi-square(3) at 0.999
    min_rel_conf: float = 0.4  # ignore answers below this share of the track's typical confidence
    conf_power: float = 4.0  # noise sigma grows as (typical / this confidence) ** conf_power
    conf_memory: int = 300  # frames over which the typical confidence forgets a high value
    gate_nominal: bool = True  # gate with the typical-confidence noise: a low-confidence answer must agree
    reacquire_after: int = 5  # this many confident answers in a row outside the gate: the person is there
    reacquire_conf: float = 0.7  # "confident": at least this share of the typical confidence
    ray_min_m: float = 0.3  # closer to the origin than this there is no viewing ray (pelvis-relative input)


class RootFilter:
    """Forward filter with a short history for fixed-lag smoothing. dt may vary per update.

    State x [6] = position (3), velocity (3); P [6, 6]."""

    def __init__(self, params: RootFilterParams = RootFilterParams(), history: int = 32):
        self.p = params
        self.history = history
        self.x: np.ndarray | None = None
        self.P: np.ndarray | None = None
        self._hist: list[tuple] = []  # (x_pred, P_pred, x_filt, P_filt, F) per frame
        self.rejected = 0
        self._refused = 0  # confident answers refused by the gate in a row
        self.conf_ref: float | None = None  # the track's typical confidence (running mean)

    def _transition(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """(F, Q) for a step of dt: the same few dt come back every frame, so they are kept."""
        got = _TRANSITIONS.get((dt, self.p.tau_s, self.p.accel_sigma))
        if got is None:
            got = _TRANSITIONS[(dt, self.p.tau_s, self.p.accel_sigma)] = self._make_transition(dt)
            if len(_TRANSITIONS) > 256:
                _TRANSITIONS.pop(next(iter(_TRANSITIONS)))
        return got

    def _make_transition(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        a = np.exp(-dt / self.p.tau_s)
        f = np.array([[1.0, self.p.tau_s * (1 - a)], [0.0, a]])
        q = self.p.accel_sigma ** 2 * np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
        return np.kron(f, I3), np.kron(q, I3)

    def _noise(self, z: np.ndarray, conf: float) -> np.ndarray:
        """Measurement covariance [3, 3]: ray-aligned, scaled by (typical / this) confidence squared."""
        lat, ray = self.p.sigma_lateral_m ** 2, self.p.sigma_ray_m ** 2
        n = float(np.linalg.norm(z))
        R = lat * I3
        if n >= self.p.ray_min_m:
            r = z / n
            R = R + (ray - lat) * np.outer(r, r)
        scale = ((self.conf_ref or conf) / max(conf, 1e-3)) ** self.p.conf_power
        return R * float(np.clip(scale, 0.25, 1e4)) ** 2

    def update(self, z: np.ndarray | None, conf: float, dt: float) -> None:
        """Advance by dt and fuse measurement z [3] (None or NaN: nothing observed)."""
        observed = z is not None and bool(np.isfinite(z).all()) and conf > 0
        if observed and self.conf_ref is not None and conf < self.p.min_rel_conf * self.conf_ref:
            observed = False  # far below what this track's estimator usually reports: its garbage
        if self.x is None:
            if not observed:
                return
            self.conf_ref = float(conf)
            self.x = np.concatenate([z, np.zeros(3)]).astype(np.float64)
            self.P = np.zeros((6, 6))
            self.P[:3, :3] = self._noise(z, conf)
            self.P[3:, 3:] = I3
            self._hist.append((self.x.copy(), self.P.copy(), self.x.copy(), self.P.copy(), np.eye(6)))
            return
        F, Q = self._transition(dt)
        xp = F @ self.x
        Pp = F @ self.P @ F.T + Q
        x, P = xp, Pp
        if observed:
            S = Pp[:3, :3] + self._noise(z, conf)
            innov = z - xp[:3]
            Sinv = np.linalg.inv(S)
            G = np.linalg.inv(Pp[:3, :3] + self._noise(z, self.conf_ref)) if self.p.gate_nominal else Sinv
            if float(innov @ G @ innov) <= self.p.gate_chi2:
                self._refused = 0
                K = Pp[:, :3] @ Sinv  # [6, 3]
                x = xp + K @ innov
                P = Pp - K @ Pp[:3, :]
                # the typical confidence is a leaky maximum of what was fused: it follows the top of
                # what this track's estimator reports (a mean would sink with the garbage it let in)
                # and forgets it slowly, so a person reported ever less confidently is followed
                self.conf_ref = max(float(conf), self.conf_ref * (1.0 - 1.0 / self.p.conf_memory))
            else:
                self.rejected += 1
                confident = conf >= self.p.reacquire_conf * self.conf_ref
                self._refused = self._refused + 1 if confident else 0
                if self._refused >= self.p.reacquire_after:
                    # not an outlier: the estimate moved (a first guess that was off, a fast change in
                    # depth). Start again at the measurement instead of coasting until the gate opens.
                    self._refused = 0
                    x = np.concatenate([z, np.zeros(3)])
                    P = np.zeros((6, 6))
                    P[:3, :3] = self._noise(z, conf)
                    P[3:, 3:] = I3
        self.x, self.P = x, P
        self._hist.append((xp, Pp, x, P, F))
        if len(self._hist) > self.history:
            self._hist.pop(0)

    def peek(self, dt: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The pelvis predicted dt seconds after the newest frame and its covariance [3, 3], without
        changing anything: what association gates a detection against before it is committed."""
        if self.x is None:
            return None
        F, Q = self._transition(dt)
        return (F @ self.x)[:3], (F @ self.P @ F.T + Q)[:3, :3]

    @property
    def started(self) -> bool:
        return self.x is not None

    def predicted(self, dt: float) -> np.ndarray | None:
        """Position `dt` seconds after the newest frame: the damped constant-velocity model run forward
        (the velocity decays with tau_s, so a long horizon does not send the person flying)."""
        if self.x is None:
            return None
        if dt <= 0:
            return self.x[:3].copy()
        F, _ = self._transition(dt)
        return (F @ self.x)[:3].copy()

    def smoothed(self, lag: int) -> np.ndarray | None:
        """Position `lag` frames back, RTS-smoothed with the frames since ([3])."""
        if self.x is None:
            return None
        lag = min(lag, len(self._hist) - 1)
        xs = self.x
        for k in range(1, lag + 1):
            xp_next, Pp_next, _, _, F_next = self._hist[-k]
            _, _, xf, Pf, _ = self._hist[-k - 1]
            G = Pf @ F_next.T @ np.linalg.inv(Pp_next)
            xs = xf + G @ (xs - xp_next)
        return xs[:3].copy()


def smooth_root(ref: np.ndarray, conf: np.ndarray, fps: float,
                params: RootFilterParams = RootFilterParams()) -> np.ndarray:
    """Offline RTS smoothing of a [T, 3] root track (NaN = unobserved) -> complete [T, 3]."""
    T = ref.shape[0]
    f = RootFilter(params, history=T + 1)
    first = np.flatnonzero(np.isfinite(ref).all(-1) & (conf > 0))
    if first.size == 0:
        raise ValueError("the pelvis is never observed: cannot place the person")
    for t in range(first[0], T):
        f.update(ref[t], float(conf[t]), 1.0 / fps)
    hist = f._hist
    n = len(hist)
    xs = hist[-1][2]
    out = np.empty((T, 3))
    out[T - 1] = xs[:3]
    for k in range(n - 2, -1, -1):
        xp_next, Pp_next, _, _, F_next = hist[k + 1]
        _, _, xf, Pf, _ = hist[k]
        G = Pf @ F_next.T @ np.linalg.inv(Pp_next)
        xs = xf + G @ (xs - xp_next)
        out[first[0] + k] = xs[:3]
    out[: first[0]] = out[first[0]]
    return out.astype(np.float32)
