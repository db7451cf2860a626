"""ROS4HRI body geometry (ros/hri.py) without ROS: the body frame's origin and axes, joint offsets,
quaternions, the Skeleton2D projection and keypoint order, body ids; and the interface packages'
type hashes against an independent implementation (rosbags) of the published definitions."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from scipy.spatial.transform import Rotation

from stride_ros.core.skeleton import JOINT_NAMES
from stride_ros.data.synthetic import synthetic_walk
from stride_ros.ros.hri import (
    SKELETON2D_JOINTS,
    UpAverage,
    body_id,
    body_rotation,
    hip_midpoint,
    joint_offsets,
    quaternion_xyzw,
    skeleton2d_points,
    trunk_up,
)

FPS = 30.0
# Y up (synthetic_walk) -> a camera's optical frame (y down, z ahead): 180 degrees about x, 5 m ahead, 1.2 m up
TO_CAMERA = np.diag([1.0, -1.0, -1.0])
K = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
W, H = 640, 480


def walk_in_camera(seed: int = 5, seconds: float = 3.0) -> np.ndarray:
    g = synthetic_walk(seconds=seconds, fps=FPS, seed=seed).astype(np.float64)
    return g @ TO_CAMERA.T + np.array([0.0, 1.2, 5.0])


def walking_direction(poses: np.ndarray) -> np.ndarray:
    """[T, 3]: the unit velocity of the hip midpoint (central differences)."""
    mid = (poses[:, 1] + poses[:, 4]) / 2
    v = np.gradient(mid, axis=0)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_body_frame_faces_the_walking_direction_with_z_up_and_is_right_handed():
    poses = walk_in_camera()
    up_world = np.array([0.0, -1.0, 0.0])  # the camera's "up": -y in the optical frame
    fwd = walking_direction(poses)
    for t in range(len(poses)):
        R = body_rotation(poses[t], up_world)
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-9) and np.linalg.det(R) == pytest.approx(1.0)
        assert np.allclose(R[:, 2], up_world)  # z = the up it was given, exactly
        assert R[:, 0] @ fwd[t] > 0.95, t  # x = the way the walker faces (and goes)
        left = poses[t, 4] - poses[t, 1]  # right hip -> left hip
        assert R[:, 1] @ left > 0  # y = the body's left (REP-103: x forward, y left, z up)


def test_body_frame_follows_any_rotation_of_the_input_frame():
    poses = walk_in_camera()[10]
    up = trunk_up(poses)
    R0 = body_rotation(poses, up)
    for seed in range(5):
        Q = Rotation.random(random_state=seed).as_matrix()
        moved = poses @ Q.T + np.array([1.0, -2.0, 3.0])
        assert np.allclose(body_rotation(moved, trunk_up(moved)), Q @ R0, atol=1e-9)
        assert np.allclose(hip_midpoint(moved), Q @ hip_midpoint(poses) + [1.0, -2.0, 3.0])


def test_joint_frames_put_every_joint_back_where_it_was():
    poses = walk_in_camera()[20]
    origin = hip_midpoint(poses)
    R = body_rotation(poses, trunk_up(poses))
    off = joint_offsets(poses, origin, R)
    assert off.shape == (len(JOINT_NAMES), 3)
    assert np.allclose(origin + off @ R.T, poses, atol=1e-12)
    assert np.allclose(off[1], -off[4])  # the hips sit symmetrically about the origin
    assert off[8, 2] > 0.3 and off[3, 2] < -0.6  # thorax above, ankles below (z up in the body frame)


def test_quaternion_matches_scipy_for_any_rotation_including_half_turns():
    rots = [Rotation.random(random_state=s).as_matrix() for s in range(200)]
    rots += [Rotation.from_rotvec(np.pi * np.array(a) / np.linalg.norm(a)).as_matrix()
             for a in ([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -1, 1e-9])]
    for R in rots:
        q = quaternion_xyzw(R)
        assert np.linalg.norm(q) == pytest.approx(1.0) and q[3] >= 0
        assert np.allclose(Rotation.from_quat(q).as_matrix(), R, atol=1e-9)


def test_own_up_averaged_over_frames_wobbles_less_than_one_frame():
    rng = np.random.default_rng(3)
    poses = walk_in_camera(seconds=4.0)
    noisy = poses + rng.normal(0, 0.03, poses.shape)  # 3 cm of noise on every joint
    avg = UpAverage()
    true_up = np.array([trunk_up(p) for p in poses])
    single = np.array([trunk_up(p) for p in noisy])
    averaged = np.array([avg.update(p) for p in noisy])
    err = lambda a: np.degrees(np.arccos(np.clip((a * true_up).sum(1), -1, 1)))[10:]  # noqa: E731
    assert err(averaged).mean() < 0.6 * err(single).mean(), (err(averaged).mean(), err(single).mean())


def test_degenerate_bodies_give_no_frame():
    poses = walk_in_camera()[0]
    flat = poses.copy()
    flat[[1, 4, 11, 14]] = poses[0]  # hips and shoulders on one point: no left/right
    assert body_rotation(flat, np.array([0.0, -1.0, 0.0])) is None
    assert body_rotation(poses, np.zeros(3)) is None
    unit = lambda v: v / np.linalg.norm(v)  # noqa: E731
    left = unit(poses[4] - poses[1]) + unit(poses[11] - poses[14])
    assert body_rotation(poses, left) is None  # up along the body's left: no horizontal left


def test_skeleton2d_projects_the_joints_in_openpose_order():
    poses = walk_in_camera()[0]
    conf = np.linspace(0.2, 1.0, 17)
    pts = skeleton2d_points(poses, conf, K, W, H)
    assert pts.shape == (18, 3)
    uv = (poses @ K.T)[:, :2] / poses[:, 2:3]
    for k, j in enumerate(SKELETON2D_JOINTS):
        if j is None:
            assert pts[k, 2] == 0.0  # eyes and ears: we have none
        else:
            assert np.allclose(pts[k, :2], uv[j] / [W, H], atol=1e-9) and pts[k, 2] == pytest.approx(conf[j])
    # the order by meaning (OpenPose COCO): neck = between the shoulders, right and left as named
    names = ("NOSE NECK RIGHT_SHOULDER RIGHT_ELBOW RIGHT_WRIST LEFT_SHOULDER LEFT_ELBOW LEFT_WRIST RIGHT_HIP "
             "RIGHT_KNEE RIGHT_ANKLE LEFT_HIP LEFT_KNEE LEFT_ANKLE").split()
    ours = {"NOSE": "neck", "NECK": "thorax"}
    for k, name in enumerate(names):
        want = ours.get(name) or name.lower().replace("right_", "r_").replace("left_", "l_")
        assert JOINT_NAMES[SKELETON2D_JOINTS[k]] == want, name
    assert np.allclose(pts[1, :2], (pts[2, :2] + pts[5, :2]) / 2, atol=0.02)


def test_skeleton2d_behind_the_camera_or_outside_the_image_has_no_confidence():
    poses = walk_in_camera()[0]
    conf = np.ones(17)
    behind = poses.copy()
    behind[:, 2] = -behind[:, 2]
    assert (skeleton2d_points(behind, conf, K, W, H)[:, 2] == 0).all()
    aside = poses + [20.0, 0.0, 0.0]  # far to the right: projects beyond the image
    pts = skeleton2d_points(aside, conf, K, W, H)
    assert (pts[:, 2] == 0).all() and (pts[:, :2] >= 0).all() and (pts[:, :2] <= 1).all()


def test_body_ids_are_topic_tokens_and_never_name_two_bodies():
    token = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # a ROS name token must not start with a digit
    ids = [body_id(t, life) for t in (0, 7, 4294967295) for life in range(3)]
    assert all(token.match(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert body_id(7) == "b7"


# --- the interface packages -------------------------------------------------------------------------
# The published definitions (hri_msgs 2.x on docs.ros.org, Humble to Rolling; tf2_msgs as in rosbags'
# Kilted store): fields and constants only, the comments do not enter a type hash.
SKELETON_KEYS = ("NOSE NECK RIGHT_SHOULDER RIGHT_ELBOW RIGHT_WRIST LEFT_SHOULDER LEFT_ELBOW LEFT_WRIST RIGHT_HIP "
                 "RIGHT_KNEE RIGHT_ANKLE LEFT_HIP LEFT_KNEE LEFT_ANKLE LEFT_EYE RIGHT_EYE LEFT_EAR RIGHT_EAR").split()
PUBLISHED = {
    "hri_msgs/msg/NormalizedPointOfInterest2D": "float32 x\nfloat32 y\nfloat32 c\n",
    "hri_msgs/msg/IdsList": "std_msgs/Header header\nstring[] ids\n",
    "hri_msgs/msg/Skeleton2D": "std_msgs/Header header\n" + "".join(
        f"uint8 {n} = {i}\n" for i, n in enumerate(SKELETON_KEYS)) + "NormalizedPointOfInterest2D[18] skeleton\n",
}


def published_hashes() -> dict[str, str]:
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    store = get_typestore(Stores.ROS2_KILTED)
    for name, text in PUBLISHED.items():
        store.register(get_types_from_msg(text, name))
    return {name: store.hash_rihs01(name) for name in [*PUBLISHED, "tf2_msgs/msg/TFMessage"]}


def test_msg_files_define_the_published_fields():
    """The .msg files, parsed by rosbags, give the same types as the published definitions."""
    from rosbags.typesys import get_types_from_msg
    for name, text in PUBLISHED.items():
        pkg, _, msg = name.split("/")
        ours = get_types_from_msg((REPO / "interfaces" / pkg / "msg" / f"{msg}.msg").read_text(), name)
        assert ours == get_types_from_msg(text, name), name


def built_hash(name: str) -> str:
    """The hash the installed package was generated with (its type description, share/<pkg>/msg/<Msg>.json)."""
    pkg, _, msg = name.split("/")
    spec = importlib.util.find_spec(pkg)
    share = Path(sys.prefix) / "share" / pkg / "msg" / f"{msg}.json"
    if spec is None or not share.is_file():
        pytest.skip(f"{pkg} not built here (`stride-ros build-interfaces` builds it; CI does)")
    d = json.loads(share.read_text())
    return next(h["hash_string"] for h in d["type_hashes"] if h["type_name"] == name)


@pytest.mark.parametrize("name", [*PUBLISHED, "tf2_msgs/msg/TFMessage"])
def test_built_type_hashes_equal_the_published_packages(name):
    assert built_hash(name) == published_hashes()[name]


def test_build_interfaces_leaves_importable_packages_alone_and_fails_in_one_line_without_cmake(tmp_path):
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}  # no cmake, no compiler on this PATH
    r = subprocess.run([sys.executable, "-m", "stride_ros.cli", "build-interfaces", "--force"],
                       capture_output=True, text=True, env=env, cwd=REPO)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "cmake not found" in r.stderr, r.stderr
    if importlib.util.find_spec("hri_msgs") and importlib.util.find_spec("tf2_msgs"):
        r = subprocess.run([sys.executable, "-m", "stride_ros.cli", "build-interfaces"],
                           capture_output=True, text=True, env=env, cwd=REPO)
        assert r.returncode == 0 and r.stdout.count("already importable") == 2, r.stdout + r.stderr
