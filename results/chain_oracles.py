# SPDX-License-Identifier: MIT
"""What a per-person adaptation could at best gain on the camera chain: oracles on the floored placement,
and the scale oracles on what the node publishes (the stream at lag 0 with the floor, second table).

For each real chain case, the placement `pose_estimator` publishes with the floor is corrected with
knowledge no running system has, and scored as `evaluate --chain` scores Abs on seen frames (15
comparable joints, mm):
- `const_rotation`: the one rotation about the pelvis that best fits the whole case to the truth
  (an adapted "estimator tilt" can do no better than this);
- `tilt_only`: the same without its part about the floor's normal (what the floor can observe);
- `own_bones`: every frame's bones set to the person's median bone lengths in this placement
  (the "constant bone lengths within a person" objective, reached exactly);
- `true_bones`: every frame's bones set to the truth's (an oracle body);
- `const_scale`: the one scale about the camera centre that gives the case its lowest Abs (searched
  from 0.8 to 1.25 in steps of 0.001):
  a per-person distance correction the floor leaves, such as the person's own resting ankle height
  (an adapted ankle height or size can do no better than this);
- `frame_scale`: each frame's own least-squares scale about the camera (the distance right in every frame,
  the shape as placed): how much of what is left is distance at all.

    STRIDE_ROS_CHAIN=../shared/data/real_chain python results/chain_oracles.py > results/chain_oracles.txt

About 7 minutes on a 2-core VM.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from stride_ros.core.skeleton import BONES, bone_lengths
from stride_ros.data.chaindata import load_chain_cases
from stride_ros.data.realdata import COMPARABLE
from stride_ros.eval.chain import Inputs, stream_row
from stride_ros.model.checkpoint import load_model

ROWS = ("placement_floor", "const_rotation", "tilt_only", "own_bones", "true_bones", "const_scale", "frame_scale")
STREAM_ROWS = ("stream_lag0", "const_scale", "frame_scale")


def best_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Kabsch: the rotation R minimising |a R^T - b| over [N, 3] point sets."""
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def frame_scales(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """[T] each frame's scale s about the origin (the camera) minimising |s p - g|^2 over its joints [T, J, 3]."""
    return (p * g).sum((1, 2)) / (p * p).sum((1, 2))


def case_scale(p: np.ndarray, g: np.ndarray) -> float:
    """The one scale about the origin with the lowest mean joint error over the case [T, J, 3]."""
    grid = np.arange(0.8, 1.2505, 0.001)
    return float(grid[np.argmin([np.linalg.norm(s * p - g, axis=-1).mean() for s in grid])])


def with_bones(poses: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each bone's direction kept, its length set; the tree rebuilt from the pelvis out."""
    out, now = poses.copy(), bone_lengths(poses)
    for i, (p, c) in enumerate(BONES):
        out[:, c] = out[:, p] + (poses[:, c] - poses[:, p]) * (lengths[..., i] / np.maximum(now[:, i], 1e-6))[:, None]
    return out


def scale_oracles(P: np.ndarray, G: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    """`const_scale` and `frame_scale` of [T, 17, 3] poses against the truth, and the case's scale."""
    scale = case_scale(P[:, COMPARABLE], G[:, COMPARABLE])
    return {"const_scale": P * scale,
            "frame_scale": P * frame_scales(P[:, COMPARABLE], G[:, COMPARABLE])[:, None, None]}, scale


def abs_mm(rows: dict[str, np.ndarray], names: tuple[str, ...], G: np.ndarray) -> list[float]:
    return [float(np.linalg.norm(rows[r][:, COMPARABLE] - G[:, COMPARABLE], axis=-1).mean() * 1000) for r in names]


def print_pooled(table: list, names: tuple[str, ...]) -> None:
    w = np.array([n for _, n in table], float)
    pooled = (np.array([v for v, _ in table]) * w[:, None]).sum(0) / w.sum()
    print(f"{'pooled (frame-weighted)':28s}" + "".join(f"{v:17.1f}" for v in pooled))
    print(f"{'ratio to ' + names[0]:28s}" + "".join(f"{v / pooled[0]:17.3f}" for v in pooled))


def main() -> None:
    model = load_model(None)
    table, stream_table, stream_lines = [], [], []
    print(f"{'case':28s}" + "".join(f"{r:>17s}" for r in ROWS) + "   angle  tilt (deg)  scale")
    for case in load_chain_cases():
        inputs = Inputs(case)
        P, G = inputs.placement(True).poses[case.first:].astype(float), case.gt[case.first:].astype(float)
        ok = ~np.isnan(P).any((1, 2)) & ~np.isnan(G).any((1, 2))
        S = stream_row(model, inputs, 0, True)[case.first:].astype(float)[ok]
        P, G = P[ok], G[ok]
        root = P[:, :1]
        rot = best_rotation((P - root)[:, COMPARABLE].reshape(-1, 3), (G - G[:, :1])[:, COMPARABLE].reshape(-1, 3))
        rv = Rotation.from_matrix(rot).as_rotvec()
        n = case.landmarks.floor.normal
        tilt = rv - (rv @ n) * n
        rows = {
            "placement_floor": P,
            "const_rotation": (P - root) @ rot.T + root,
            "tilt_only": (P - root) @ Rotation.from_rotvec(tilt).as_matrix().T + root,
            "own_bones": with_bones(P, np.median(bone_lengths(P), 0)),
            "true_bones": with_bones(P, np.median(bone_lengths(G), 0)),
        }
        scaled, scale = scale_oracles(P, G)
        rows.update(scaled)
        table.append((abs_mm(rows, ROWS, G), int(ok.sum())))
        print(f"{case.name:28s}" + "".join(f"{v:17.1f}" for v in table[-1][0])
              + f"   {np.degrees(np.linalg.norm(rv)):5.1f} {np.degrees(np.linalg.norm(tilt)):5.1f}  {scale:5.3f}",
              flush=True)
        scaled, scale = scale_oracles(S, G)
        stream_table.append((abs_mm({"stream_lag0": S, **scaled}, STREAM_ROWS, G), int(ok.sum())))
        stream_lines.append(f"{case.name:28s}" + "".join(f"{v:17.1f}" for v in stream_table[-1][0]) + f"  {scale:5.3f}")
    print_pooled(table, ROWS)
    print("\nwhat the node publishes (stream lag 0 with the floor), the same frames")
    print(f"{'case':28s}" + "".join(f"{r:>17s}" for r in STREAM_ROWS) + "  scale")
    print("\n".join(stream_lines))
    print_pooled(stream_table, STREAM_ROWS)


if __name__ == "__main__":
    main()
