"""The camera's viewing rays (vision/placement.py `on_rays`, stream/rays.py): the geometry, the
smoothing and its bounds, the placement that lands on BlazePose's 2D joints, and on real video that
the stream kept on its rays is closer to the truth than the same stream without them; without a floor,
the body kept at the placement's distance (DistanceKeeper) by a scale that moves no joint's image."""
from __future__ import annotations

import numpy as np
from conftest import run_cli
from test_blend import _case
from test_chain import CASE, needs_chain, short_case  # noqa: F401 - short_case is a fixture

from stride_ros.core.skeleton import BODY_JOINTS, NUM_JOINTS
from stride_ros.stream.rays import DistanceKeeper, RayParams, RaySnap, keep_distance_sequence, snap_sequence
from stride_ros.vision.camera import ray_moves


def _body(rng, depth=3.0) -> np.ndarray:
    return np.array([0.0, 0.0, depth]) + rng.normal(scale=0.3, size=(NUM_JOINTS, 3))


def test_a_joint_moves_to_the_nearest_point_of_its_ray_and_only_sideways():
    rng = np.random.default_rng(0)
    pose, seen_at = _body(rng), _body(rng)
    moves, ok = ray_moves(pose, seen_at, np.ones(NUM_JOINTS, bool))
    assert ok.all()
    moved = pose + moves
    unit = seen_at / np.linalg.norm(seen_at, axis=-1, keepdims=True)
    # on the line through the camera centre and the observation
    np.testing.assert_allclose(np.cross(moved, unit), 0.0, atol=1e-9)
    # the move is perpendicular to the ray: the distance along the ray is the pose's own
    np.testing.assert_allclose((moves * unit).sum(-1), 0.0, atol=1e-9)
    # not seen, not finite, or behind the camera relative to the observation: no move
    seen = np.ones(NUM_JOINTS, bool)
    seen[1] = False
    seen_at[2] = np.nan
    seen_at[3] = -pose[3]
    moves, ok = ray_moves(pose, seen_at, seen)
    assert not ok[[1, 2, 3]].any() and ok[[0, 4, 5]].all()
    assert np.array_equal(moves[[1, 2, 3]], np.zeros((3, 3)))


def test_the_snap_is_smoothed_bounded_and_decays_while_a_joint_is_unseen():
    rng = np.random.default_rng(1)
    pose, seen_at = _body(rng), _body(rng)
    exact = pose + ray_moves(pose, seen_at, np.ones(NUM_JOINTS, bool))[0]
    # no smoothing and no bound: exactly onto the rays, a joint at confidence 0 left where it is
    s = RaySnap(30.0, RayParams(tau_s=0.0, max_m=10.0))
    conf = np.ones(NUM_JOINTS)
    conf[7] = 0.0
    out = s.apply(pose, seen_at, conf)
    keep = np.arange(NUM_JOINTS) != 7
    np.testing.assert_allclose(out[keep], exact[keep], atol=1e-6)
    np.testing.assert_allclose(out[7], pose[7], atol=1e-6)
    # smoothed: the first frame moves 1 - exp(-1 / (fps tau)) of the way, then converges
    s = RaySnap(30.0, RayParams(tau_s=0.1, max_m=10.0))
    first = s.apply(pose, seen_at, None)
    share = np.linalg.norm(first - pose, axis=-1) / np.linalg.norm(exact - pose, axis=-1)
    np.testing.assert_allclose(share, 1 - np.exp(-1 / 3), rtol=1e-4)
    for _ in range(40):
        s.apply(pose, seen_at, None)
    np.testing.assert_allclose(s.apply(pose, seen_at, None), exact, atol=1e-4)
    for _ in range(40):  # nobody seen: the move fades back to the prior's pose
        gone = s.apply(pose, None, None)
    np.testing.assert_allclose(gone, pose, atol=1e-4)
    # a wild landmark cannot drag a joint further than max_m
    far = seen_at.copy()
    far[4] = pose[4] + np.array([5.0, 0.0, 0.0])
    b = RaySnap(30.0, RayParams(tau_s=0.0, max_m=0.3))
    assert np.linalg.norm(b.apply(pose, far, None)[4] - pose[4]) <= 0.3 + 1e-6


def test_snap_sequence_is_the_stream_s_snap_frame_by_frame():
    rng = np.random.default_rng(2)
    T = 12
    poses = np.stack([_body(rng) for _ in range(T)]).astype(np.float32)
    seen = np.stack([_body(rng) for _ in range(T)])
    seen[4] = np.nan  # nobody in frame 4
    out = snap_sequence(poses, seen, None, 30.0)
    s = RaySnap(30.0)
    for t in range(T):
        np.testing.assert_allclose(out[t], s.apply(poses[t], None if t == 4 else seen[t], None), atol=1e-6)


def test_the_distance_keeper_scales_about_the_camera_to_the_placement_s_distance():
    rng = np.random.default_rng(3)
    pose = _body(rng, depth=3.0)
    placed = 0.9 * pose + rng.normal(scale=0.01, size=pose.shape)  # the placement sees the body nearer
    keep = DistanceKeeper(fps=30.0, tau_s=0.0)  # each frame's own scale
    out = keep.apply(pose, placed)
    # every joint stays on its line through the camera centre: the image does not move
    unit = pose / np.linalg.norm(pose, axis=-1, keepdims=True)
    np.testing.assert_allclose(np.cross(out, unit), 0.0, atol=1e-9)
    # the scale is the least-squares one onto the placement's body joints: no other scale is closer
    b = BODY_JOINTS
    best = float((pose[b] * placed[b]).sum() / (pose[b] * pose[b]).sum())
    np.testing.assert_allclose(out, best * pose, rtol=1e-9)
    for c in (0.98 * best, 1.02 * best):
        assert ((out[b] - placed[b]) ** 2).sum() < ((c * pose[b] - placed[b]) ** 2).sum()
    # the placement's nose and head (face landmarks, not the prior's joints) do not move the body
    face = placed.copy()
    face[[9, 10]] += np.array([0.0, 0.0, -0.3])  # 30 cm toward the camera
    np.testing.assert_allclose(DistanceKeeper(30.0, 0.0).apply(pose, face), out, rtol=1e-9)
    # too few placed joints: nothing to measure, nothing changes
    sparse = np.full_like(placed, np.nan)
    sparse[:2] = placed[:2]
    assert np.array_equal(DistanceKeeper(30.0, 0.0).apply(pose, sparse), pose)


def test_the_distance_keeper_is_smoothed_and_fades_while_nobody_is_seen():
    rng = np.random.default_rng(4)
    pose = _body(rng, depth=4.0)
    fps, tau = 30.0, 1.0
    keep = DistanceKeeper(fps, tau)
    k = 1.0 - np.exp(-1.0 / (fps * tau))
    keep.apply(pose, 1.1 * pose)  # the first measurement is taken whole
    np.testing.assert_allclose(keep.log_ratio, np.log(1.1), atol=1e-12)
    for _ in range(30):  # then the scale moves toward a new one at 1 - exp(-1 / (fps tau)) per frame
        keep.apply(pose, 0.9 * pose)
    want = np.log(0.9) + (np.log(1.1) - np.log(0.9)) * (1 - k) ** 30
    np.testing.assert_allclose(keep.log_ratio, want, atol=1e-12)
    before = keep.log_ratio
    out = keep.apply(pose, None)  # nobody seen: the scale fades toward none, and still applies
    np.testing.assert_allclose(keep.log_ratio, before * (1 - k), atol=1e-12)
    np.testing.assert_allclose(out, pose * np.exp(keep.log_ratio), rtol=1e-6)
    # the sequence form is the stream's keeper frame by frame; a frame without a placement is unseen
    poses = np.stack([pose] * 5)
    placed = np.stack([1.05 * pose] * 5)
    placed[2] = np.nan
    # (offline: the smoothed scale alone, no frame follows its own)
    seq = keep_distance_sequence(poses, placed, fps, RayParams(keep_distance_tau_s=tau))
    one = DistanceKeeper(fps, tau)
    for t in range(5):
        np.testing.assert_allclose(seq[t], one.apply(poses[t], None if t == 2 else placed[t]), rtol=1e-6)
    off = keep_distance_sequence(poses, placed, fps, RayParams(keep_distance_tau_s=-1.0))
    assert np.array_equal(off, poses)


def test_a_seen_frame_follows_its_own_scale_within_the_cut():
    rng = np.random.default_rng(5)
    pose = _body(rng, depth=3.5)
    fps, tau, follow = 30.0, 1.0, 0.03
    k = 1.0 - np.exp(-1.0 / (fps * tau))
    keep = DistanceKeeper(fps, tau, follow)
    keep.apply(pose, pose)  # the smoothed scale starts at 1
    # a frame whose placement is 2 % farther: the frame is placed there, the smoothed scale moves by k of it
    out = keep.apply(pose, 1.02 * pose)
    np.testing.assert_allclose(keep.log_ratio, k * np.log(1.02), atol=1e-12)
    np.testing.assert_allclose(out, 1.02 * pose, rtol=1e-6)
    # a jump of 20 %: the smoothed scale takes its share, the frame departs from it by no more than the cut
    before = keep.log_ratio
    out = keep.apply(pose, 1.2 * pose)
    smoothed = before + k * (np.log(1.2) - before)
    np.testing.assert_allclose(keep.log_ratio, smoothed, atol=1e-12)
    np.testing.assert_allclose(out, pose * np.exp(smoothed + follow), rtol=1e-6)
    np.testing.assert_allclose(keep.scale(pose), out, rtol=1e-6)  # a forecast sits where this frame does
    # nobody seen: no departure, the smoothed scale fades
    out = keep.apply(pose, None)
    np.testing.assert_allclose(out, pose * np.exp(smoothed * (1 - k)), rtol=1e-6)
    # the image does not move: every joint stays on its line through the camera centre
    unit = pose / np.linalg.norm(pose, axis=-1, keepdims=True)
    np.testing.assert_allclose(np.cross(out, unit), 0.0, atol=1e-9)
    # without a cut the frame takes only the smoothed scale (the keeper before the cut was added)
    plain = DistanceKeeper(fps, tau)
    plain.apply(pose, pose)
    np.testing.assert_allclose(plain.apply(pose, 1.02 * pose), pose * np.exp(k * np.log(1.02)), rtol=1e-6)


@needs_chain
def test_the_placement_lands_on_blazepose_s_2d_joints():
    from stride_ros.vision.camera import project
    from stride_ros.vision.chain import place_sequence
    case = _case(120)
    p = place_sequence(case.landmarks, case.landmarks.floor)
    found = ~np.isnan(p.poses).any((1, 2))
    assert found.sum() > 60
    px = project(p.poses[found].astype(np.float64), case.landmarks.K)
    assert np.nanmax(np.abs(px - p.keypoints_px[found])) < 1e-2


@needs_chain
def test_on_real_video_the_stream_on_its_rays_is_closer_to_the_truth():
    from stride_ros.eval.chain import Inputs, case_errors, stream_row
    from stride_ros.model.checkpoint import load_model
    model = load_model(None)
    case = _case(900)
    inputs = Inputs(case)
    on, off = stream_row(model, inputs, 0, True), stream_row(model, inputs, 0, True, rays=False)
    seen = ~case.missing[case.first:]
    e_on, e_off = case_errors(on, case), case_errors(off, case)
    mpjpe = [float(np.nanmean(e["mpjpe"][seen])) for e in (e_off, e_on)]
    absolute = [float(np.nanmean(e["abs"][seen])) for e in (e_off, e_on)]
    assert mpjpe[1] < 0.95 * mpjpe[0], mpjpe
    assert absolute[1] < 0.98 * absolute[0], absolute
    # the pelvis depth is the prior's and the floor's, not the rays'
    depth = [float(np.nanmean(e["depth_pct"][seen])) for e in (e_off, e_on)]
    assert abs(depth[1] - depth[0]) < 0.2, depth


@needs_chain
def test_without_a_floor_the_stream_at_the_placement_s_distance_is_closer_to_the_truth():
    """A real view: the keeper (on by default with the rays, no floor) brings the published joints
    closer than the same stream without it, moves no joint's image, and is not used with a floor."""
    from stride_ros.eval.chain import Inputs, case_errors, stream_row
    from stride_ros.model.checkpoint import load_model
    model = load_model(None)
    case = _case(600)
    inputs = Inputs(case)
    nokeep = RayParams(keep_distance_tau_s=-1.0)
    on, off = stream_row(model, inputs, 0, False), stream_row(model, inputs, 0, False, ray=nokeep)
    seen = ~case.missing[case.first:]
    e_on, e_off = case_errors(on, case), case_errors(off, case)
    absolute = [float(np.nanmean(e["abs"][seen])) for e in (e_off, e_on)]
    mpjpe = [float(np.nanmean(e["mpjpe"][seen])) for e in (e_off, e_on)]
    assert absolute[1] < 0.99 * absolute[0], absolute
    assert mpjpe[1] < 1.01 * mpjpe[0], mpjpe  # a scale about the camera: the pose barely changes
    both = ~np.isnan(on).any((1, 2)) & ~np.isnan(off).any((1, 2))
    u = off[both] / np.linalg.norm(off[both], axis=-1, keepdims=True)
    assert float(np.abs(np.cross(on[both], u)).max()) < 1e-4  # the same rays, only further or nearer
    assert not np.array_equal(on[both], off[both])
    floor_on, floor_off = stream_row(model, inputs, 0, True), stream_row(model, inputs, 0, True, ray=nokeep)
    np.testing.assert_array_equal(floor_on, floor_off)  # with a floor the contacts measure the distance


@needs_chain
def test_refine_keeps_a_landmarks_file_on_its_rays_unless_told_not_to(short_case, tmp_path):  # noqa: F811
    lm = short_case / f"{CASE}.in.npz"
    outs = {}
    for name, extra in (("on", []), ("off", ["--no-rays"])):
        out = tmp_path / f"{name}.npz"
        res = run_cli("refine", str(lm), "-o", str(out), "--mode", "stream", *extra)
        assert res.returncode == 0, res.stderr[-2000:]
        with np.load(out) as z:
            outs[name] = z["poses"]
    assert outs["on"].shape == outs["off"].shape and not np.isnan(outs["on"]).any()
    moved = np.linalg.norm(outs["on"] - outs["off"], axis=-1)
    assert 0.005 < float(moved.mean()) < 0.1, moved.mean()  # centimetres sideways, not a different body


@needs_chain
def test_refine_knows_estimate_s_pose_files_lie_on_their_rays(short_case, tmp_path):  # noqa: F811
    """A pose file with the intrinsics and 2D joints beside the poses (what `stride-ros estimate` writes)
    is refined on its rays by default; a plain pose file is not."""
    from stride_ros.data.landmarkfile import load_landmarks
    from stride_ros.data.posefile import PoseSequence, save_poses
    from stride_ros.vision.chain import place_sequence
    lm = load_landmarks(short_case / f"{CASE}.in.npz")
    p = place_sequence(lm, lm.floor)
    seq = PoseSequence(p.poses, lm.fps, p.confidence)
    K = lm.K
    save_poses(tmp_path / "est.npz", seq, intrinsics=np.array([K[0, 0], K[1, 1], K[0, 2], K[1, 2]]),
               keypoints_px=p.keypoints_px)
    save_poses(tmp_path / "plain.npz", seq)
    outs = {}
    for name, extra in (("est", []), ("est", ["--no-rays"]), ("plain", []), ("plain", ["--rays"])):
        out = tmp_path / f"{name}{len(extra)}-{'-'.join(extra)}.npz"
        res = run_cli("refine", str(tmp_path / f"{name}.npz"), "-o", str(out), "--mode", "stream", *extra)
        assert res.returncode == 0, res.stderr[-2000:]
        with np.load(out) as z:
            outs[(name, tuple(extra))] = z["poses"]
    assert not np.allclose(outs[("est", ())], outs[("est", ("--no-rays",))], atol=1e-4)
    np.testing.assert_allclose(outs[("est", ())], outs[("plain", ("--rays",))], atol=1e-6)
    assert not np.allclose(outs[("plain", ())], outs[("plain", ("--rays",))], atol=1e-4)
