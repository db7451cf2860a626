"""The per-person body model: lengths from well-seen frames, imposed keeping every bone's direction."""
import numpy as np

from stride_ros.core.body import BodyModel
from stride_ros.core.skeleton import BONE_CHILDREN, BONE_PARENTS, bone_lengths
from stride_ros.data.synthetic import synthetic_walk


def test_imposed_bones_are_constant_symmetric_and_keep_their_direction():
    walk = synthetic_walk(seconds=3.0, fps=30.0, seed=0)
    rng = np.random.default_rng(0)
    noisy = walk + rng.normal(0, 0.02, walk.shape).astype(np.float32)  # bones that breathe
    body = BodyModel(warmup=30)
    for p in noisy[:40]:
        body.observe(p - p[0])
    assert body.ready
    out = np.stack([body.impose(p) for p in noisy])
    lengths = bone_lengths(out)
    assert lengths.std(0).max() < 1e-5  # constant
    np.testing.assert_allclose(lengths[:, 0], lengths[:, 3], rtol=1e-5)  # left hip = right hip
    d_in = noisy[:, BONE_CHILDREN] - noisy[:, BONE_PARENTS]
    d_out = out[:, BONE_CHILDREN] - out[:, BONE_PARENTS]
    cos = (d_in * d_out).sum(-1) / np.linalg.norm(d_in, axis=-1) / np.linalg.norm(d_out, axis=-1)
    assert cos.min() > 0.9999  # directions kept
    np.testing.assert_allclose(out[:, 0], noisy[:, 0])  # the pelvis stays


def test_nothing_is_imposed_before_the_body_is_known():
    body = BodyModel(warmup=30)
    p = synthetic_walk(seconds=1.0, fps=30.0, seed=1)[0]
    body.observe(p)
    np.testing.assert_array_equal(body.impose(p), p)
