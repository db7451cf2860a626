"""Several people from the camera-fed estimator, without ROS: the model bundle built from the installed
mediapipe wheel, MediaPipe's duplicates removed, `stride-ros estimate --max-people 2` on the Sports2D
clip (both people, one id each, the multi-person pose file form), `--landmarks` files that load back
and replay to the same poses, and bad input.

Both people on the clip, counted by eye once (every 5th frame extracted to PNG and looked at): of the
46 frames 0, 5, ..., 225, both are in view in the 32 frames 40, 45, ..., 195. Before 40 only the man
(at 35 the woman is an arm behind the tree trunk); from 200 on she has left by the left edge (half
her body at 200). The man stays in view throughout, upside down in the sun's flare mid-flip
(170-180), crouching on the grass (195-205), then running off behind the trunk.
"""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
from conftest import run_cli
from test_estimator import CLIP_FRAMES, fetch_clip

BOTH_VISIBLE = list(range(40, 200, 5))  # the by-eye count above
assert len(BOTH_VISIBLE) == 32


def needs_mediapipe():
    pytest.importorskip("mediapipe", reason="pip install 'stride_ros[estimator]'")


@pytest.fixture(scope="module")
def clip_rgb() -> list[np.ndarray]:
    needs_mediapipe()
    import cv2
    cap = cv2.VideoCapture(str(fetch_clip()))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(frames) == CLIP_FRAMES
    return frames


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> dict:
    """`stride-ros estimate --max-people 2 --landmarks` over the whole clip, once."""
    needs_mediapipe()
    d = tmp_path_factory.mktemp("two")
    res = run_cli("estimate", str(fetch_clip()), "-o", str(d / "two.npz"), "--max-people", "2",
                  "--landmarks", str(d / "two.landmarks.npz"))
    assert res.returncode == 0, res.stderr[-3000:]
    with np.load(d / "two.npz") as z:
        data = {k: z[k] for k in z.files}
    return {"dir": d, "stdout": res.stdout, **data}


# --- the bundle and the duplicates (no clip) -----------------------------------------------------------------
def test_bundle_is_built_once_from_the_wheel_into_the_cache(tmp_path):
    needs_mediapipe()
    from stride_ros.vision import bundle
    path = bundle.pose_bundle(tmp_path / "cache")
    assert path.parent == tmp_path / "cache" and path.suffix == ".task"
    import json

    from mediapipe.tasks.python.metadata import metadata
    with zipfile.ZipFile(path) as z:
        assert set(z.namelist()) == {"pose_detector.tflite", "pose_landmarks_detector.tflite"}
        for m in bundle.MEMBERS:  # each model carries the input normalisation the Tasks API asks for
            md = json.loads(metadata.MetadataDisplayer.with_model_buffer(z.read(m.name)).get_metadata_json())
            unit = md["subgraph_metadata"][0]["input_tensor_metadata"][0]["process_units"][0]
            assert unit["options_type"] == "NormalizationOptions"
            assert unit["options"] == {"mean": [m.mean], "std": [m.std]}
    stamp = path.stat().st_mtime_ns
    assert bundle.pose_bundle(tmp_path / "cache") == path and path.stat().st_mtime_ns == stamp  # kept, not rebuilt
    path.write_bytes(b"half a file")  # a damaged bundle is built again
    assert bundle.pose_bundle(tmp_path / "cache") == path and bundle.is_bundle(path)
    assert not list((tmp_path / "cache").glob("*.part"))


def test_a_cache_that_cannot_be_written_is_one_clear_error(tmp_path):
    needs_mediapipe()
    from stride_ros.core.errors import InputError
    from stride_ros.vision import bundle
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match="STRIDE_ROS_CACHE"):
        bundle.pose_bundle(tmp_path / "a_file" / "cache")


def _lm(x0: float, x1: float, vis: float):
    """Landmarks whose image box spans x0..x1 (and y 0..100), all with visibility `vis`."""
    from stride_ros.vision.blazepose import Landmarks
    img = np.stack([np.linspace(x0, x1, 33), np.linspace(0, 100, 33)], 1)
    return Landmarks(np.zeros((33, 3)), img, np.full(33, vis))


def test_distinct_people_drops_doubles_and_skeletons_across_two_people():
    from stride_ros.vision.multipose import distinct_people
    a, b = _lm(0, 40, 0.9), _lm(100, 140, 0.8)
    kept, dropped = distinct_people([a, b], keep=4)
    assert kept == [a, b] and dropped == 0  # two people side by side
    twin = _lm(2, 41, 0.7)  # the same person reported twice: the less visible goes
    kept, dropped = distinct_people([twin, a, b], keep=4)
    assert kept == [a, b] and dropped == 1
    across = _lm(10, 130, 0.95)  # one skeleton drawn across both (most visible, yet it goes)
    kept, dropped = distinct_people([across, a, b], keep=4)
    assert kept == [a, b] and dropped == 1
    kept, dropped = distinct_people([b, a], keep=1)  # more than asked for: the most visible
    assert kept == [a] and dropped == 0


def test_tiles_cover_a_wide_frame_with_square_tiles():
    from stride_ros.vision.multipose import tile_spans
    assert tile_spans(1280, 720) == [(0, 720), (560, 1280)]
    assert tile_spans(1768, 994) == [(0, 994), (774, 1768)]
    assert tile_spans(640, 480) == [(0, 640)] and tile_spans(1088, 1920) == [(0, 1088)]
    spans = tile_spans(3000, 720)  # very wide: more tiles, evenly overlapping, the frame covered
    assert spans[0][0] == 0 and spans[-1][1] == 3000 and all(b - a == 720 for a, b in spans)


# --- the clip -------------------------------------------------------------------------------------------------
def test_tasks_landmarker_finds_two_where_the_legacy_api_finds_one(clip_rgb):
    """One still frame, each model on its own (no tracking): the legacy single-person graph gives one
    person, the Tasks landmarker from the bundle gives both, and its landmarks for the person they
    share are the legacy ones."""
    from stride_ros.vision.blazepose import BlazePose
    from stride_ros.vision.multipose import MultiPose
    legacy = BlazePose(video=False)
    multi = MultiPose(2, video=False, tiles=True)
    try:
        for i in (60, 100):
            one, both = legacy(clip_rgb[i]), multi(clip_rgb[i])
            assert one is not None and len(both) == 2, (i, len(both))
            hips = [lm.image[[23, 24]].mean(0) for lm in both]
            assert np.linalg.norm(hips[0] - hips[1]) > 200  # two people, not one twice
            same = min(both, key=lambda lm: np.linalg.norm(lm.image[[23, 24]].mean(0) - one.image[[23, 24]].mean(0)))
            assert np.median(np.linalg.norm(same.image - one.image, axis=1)) < 15.0  # px, on a 1768 px frame
    finally:
        legacy.close()
        multi.close()


def test_estimate_max_people_2_finds_both_with_one_id_each(two):
    poses, conf, ids = two["poses"], two["confidence"], two["track_ids"]
    T, N = ids.shape
    assert T == CLIP_FRAMES and N == 2 and poses.shape == (T, N, 17, 3) and conf.shape == (T, N, 17)
    assert ids.dtype.kind == "i" and set(np.unique(ids)) <= {-1, 0, 1, 2, 3}
    placed = ~np.isnan(poses).any((-1, -2))
    assert ((ids >= 0) == placed).all()  # an id for every person, -1 exactly in the empty slots
    assert np.isnan(poses[~placed]).all() and (conf[~placed] == 0).all()
    both = placed.sum(1) >= 2
    found = int(both[BOTH_VISIBLE].sum())
    assert found >= 0.8 * len(BOTH_VISIBLE), f"both found in {found} of {len(BOTH_VISIBLE)} frames"
    assert len(set(ids[ids >= 0].tolist())) == 2, np.unique(ids)  # one id per person, for the whole clip
    kp = two["keypoints_px"]
    for k in np.unique(ids[ids >= 0]):  # an id never jumps to the other person (they are >= 250 px apart)
        t, n = np.nonzero(ids == k)
        pelvis = kp[t, n, 0]
        step = np.linalg.norm(np.diff(pelvis, axis=0), axis=-1)[np.diff(t) == 1]
        assert step.max() < 120.0, (k, step.max())
    assert "two or more people in" in two["stdout"] and "2 track ids" in two["stdout"]


def test_landmarks_file_loads_back_and_replays_to_the_same_poses(two):
    from stride_ros.data.landmarkfile import load_landmarks
    from stride_ros.vision.chain import place_frame
    seq = load_landmarks(two["dir"] / "two.landmarks.npz")
    ids = two["track_ids"]
    assert seq.several and seq.world.shape == (CLIP_FRAMES, 2, 33, 3) and seq.fps == 30.0
    assert seq.image_size == (1768, 994) and np.array_equal(seq.track_ids, ids)
    fx, fy, cx, cy = two["intrinsics"]
    np.testing.assert_allclose(seq.K, [[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    empty = ~np.isfinite(seq.world).all((-1, -2))
    assert (ids[empty] == -1).all() and (seq.visibility[empty] == 0).all()
    for t, n in zip(*np.nonzero(ids >= 0)):  # the recorded landmarks, placed again: the published joints
        joints = place_frame(seq.world[t, n], seq.image[t, n], seq.visibility[t, n], seq.K, None)[0]
        np.testing.assert_allclose(joints, two["poses"][t, n], atol=1e-4)


def test_landmarks_file_for_one_person(tmp_path):
    needs_mediapipe()
    from stride_ros.data.landmarkfile import load_landmarks
    res = run_cli("estimate", str(fetch_clip()), "-o", str(tmp_path / "one.npz"), "--landmarks",
                  str(tmp_path / "one_lm.npz"), "--max-frames", "20")
    assert res.returncode == 0, res.stderr[-2000:]
    seq = load_landmarks(tmp_path / "one_lm.npz")
    with np.load(tmp_path / "one.npz") as z:
        poses = z["poses"]
        assert "track_ids" not in z.files and poses.shape == (20, 17, 3)  # the single-person form
    assert not seq.several and seq.world.shape == (20, 33, 3) and seq.track_ids is None
    found = ~np.isnan(poses).any((1, 2))
    assert found.sum() >= 15 and np.isfinite(seq.world[found]).all()


def test_estimator_bench_reports_speed_by_people_found(tmp_path):
    """`stride-ros bench --estimator`: rows by people found per frame, the doubled layout finding more."""
    needs_mediapipe()
    import json
    res = run_cli("bench", "--estimator", str(fetch_clip()), "--frames", "25", "--quiet", "--json",
                  str(tmp_path / "est.json"))
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads((tmp_path / "est.json").read_text())["rows"]
    assert {(r["layout"], r["config"].startswith("max_people 1")) for r in rows} >= {
        ("plain", True), ("plain", False), ("doubled", False)}
    assert sum(r["frames"] for r in rows if r["config"].startswith("max_people 1")) == 15  # 25 less the warm-up
    assert all(0 < r["p50_ms"] <= r["p99_ms"] and r["cpu_ms"] > 0 for r in rows)
    most = {lay: max(r["people"] for r in rows if r["layout"] == lay and "tiles" in r["config"])
            for lay in ("plain", "doubled")}
    assert most["doubled"] > most["plain"] >= 1, most
    assert "fps p50" in res.stdout and "cpu ms" in res.stdout


# --- bad input ------------------------------------------------------------------------------------------------------
def _one_line(res, *fragments):
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for f in fragments:
        assert f in err, err


def test_bad_max_people_cache_and_landmarks_paths_are_one_line(tmp_path):
    needs_mediapipe()
    clip = str(fetch_clip())
    out = tmp_path / "o.npz"
    _one_line(run_cli("estimate", clip, "-o", str(out), "--max-people", "0"), "--max-people")
    _one_line(run_cli("estimate", clip, "-o", str(out), "--max-people", "99"), "--max-people")
    (tmp_path / "a_file").write_text("x")
    _one_line(run_cli("estimate", clip, "-o", str(out), "--max-people", "2",
                      env={"STRIDE_ROS_CACHE": str(tmp_path / "a_file" / "cache")}), "pose bundle", "STRIDE_ROS_CACHE")
    _one_line(run_cli("estimate", clip, "-o", str(out), "--landmarks", str(out)), "--landmarks")
    _one_line(run_cli("estimate", clip, "-o", str(out), "--landmarks", clip), "refusing to overwrite")
    _one_line(run_cli("bench", "--estimator", str(tmp_path / "none.mp4")), "no such file")
    assert not out.exists() and not list(tmp_path.glob("*.npz"))
