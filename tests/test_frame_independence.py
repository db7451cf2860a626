"""The refined pose does not depend on how the input frame is oriented (the contract: any
right-handed metric frame): the same clean motion sent in a camera optical frame, a Y-up world and
`base_link` (z up, x forward) comes back the same after rotating back, streamed and offline."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from stride_ros.data.posefile import PoseSequence
from stride_ros.data.simulator import look_at
from stride_ros.data.synthetic import synthetic_walk
from stride_ros.offline.adapt import AdaptConfig, refine_offline
from stride_ros.stream.refiner import StreamConfig
from stride_ros.stream.sequence import stream_sequence

FPS = 30.0
# rotations taking optical-frame coordinates into each other frame (vectors: v_other = R @ v_optical)
TO_BASE_LINK = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # x fwd, y left, z up
TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])  # x right, y up, z back


@pytest.fixture(scope="module")
def optical():
    """A clean walk (no estimator errors) in a camera's optical frame, 3 m away, camera pitched 10 deg."""
    world = synthetic_walk(seconds=5.0, fps=FPS, seed=4)
    centre = world[:, 0].mean(0)
    M = look_at(np.array([centre[0], 1.4, centre[2] - 3.0]), np.array([centre[0], 0.9, centre[2]]))
    return (world @ M[:3, :3].T + M[:3, 3]).astype(np.float32)


def _frames(optical):
    tilt = Rotation.from_euler("x", 10, degrees=True).as_matrix()  # a camera that is not level
    return {"base_link": TO_BASE_LINK, "y_up": TO_Y_UP, "tilted": tilt}


def _check(run, optical, prior_model):
    ref = run(optical)
    for name, R in _frames(optical).items():
        other = run((optical @ R.T).astype(np.float32)) @ R  # refine in that frame, rotate back
        err = np.linalg.norm(other - ref, axis=-1).max() * 1000
        assert err < 5.0, f"{name}: {err:.2f} mm from the optical-frame result"


def test_stream_output_does_not_depend_on_the_frame(prior_model, optical):
    if not prior_model.cfg.canonical:
        pytest.fail("the shipped prior is not trained on canonical frames: its output depends on the frame")

    def run(poses):
        out, _, _ = stream_sequence(prior_model, PoseSequence(poses, FPS), StreamConfig(lag=0, fps=FPS))
        return out
    _check(run, optical, prior_model)


def test_offline_output_does_not_depend_on_the_frame(prior_model, optical):
    def run(poses):
        return refine_offline(prior_model, poses, None, FPS, AdaptConfig(epochs=0)).poses
    _check(run, optical, prior_model)


def test_offline_with_the_floors_up_does_not_depend_on_the_frame_and_uses_it(prior_model, optical):
    """With a floor, offline refinement takes the floor's normal as the canonical frame's up, as the stream
    does (`StreamConfig.floor_up`): the up rotates with the input, and it is used, not ignored."""
    from stride_ros.core.representation import track_rotations
    up = look_at(np.zeros(3), np.array([0.0, -0.5, 3.0]))[:3, :3] @ np.array([0.0, 1.0, 0.0])  # pitched camera
    up = up / np.linalg.norm(up)
    rot = track_rotations(optical, None, FPS, up)
    np.testing.assert_allclose(rot[:, 1], np.broadcast_to(-up, rot[:, 1].shape), atol=1e-9)  # y = -up, every frame
    with_up = refine_offline(prior_model, optical, None, FPS, AdaptConfig(epochs=0), up=up).poses
    body_up = refine_offline(prior_model, optical, None, FPS, AdaptConfig(epochs=0)).poses
    assert np.linalg.norm(with_up - body_up, axis=-1).max() > 1e-3  # the floor's up changed the model's input

    def run_rotated(R):
        return refine_offline(prior_model, (optical @ R.T).astype(np.float32), None, FPS, AdaptConfig(epochs=0),
                              up=R @ up).poses @ R
    for name, R in _frames(optical).items():
        err = np.linalg.norm(run_rotated(R) - with_up, axis=-1).max() * 1000
        assert err < 5.0, f"{name}: {err:.2f} mm from the optical-frame result"
