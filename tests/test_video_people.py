"""Every person seen by a person: `stride-ros video --max-people 2` on a file and on a live camera, and
`demo --video --max-people 2` over real DDS, on the Sports2D clip (the man on the box, the woman
walking past: both in view from frame 40, counted by eye in tests/test_multi_person.py).

Checked: the several-people pose files with the refiner's ids (one id per person over the span),
the overlay drawing each id in its own colour where that person is, the summary PNG, and the live
demo's report of people per frame, refined ids and the id switches it noticed. The identity checks
themselves (eval/continuity.py) and the drawing helpers are checked on made-up geometry first.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli
from test_capture import clip, clip_frames, fake_camera  # noqa: F401 - fixtures used below
from test_estimator import fetch_clip, needs_mediapipe

from stride_ros.eval.continuity import by_id, continuity, paired_quality

SPAN = 120  # the clip's first 120 frames: the man throughout, the woman from frame ~40


# --- identity checks without ground truth (no model) ----------------------------------------------------------
def _walker(T: int, x0: float, vx: float, z: float = 5.0) -> np.ndarray:
    """[T, 17, 3] a rigid skeleton whose pelvis moves along x at vx m/frame."""
    body = np.random.default_rng(0).normal(0, 0.2, (17, 3)).astype(np.float32)
    body[0] = 0
    pelvis = np.stack([x0 + vx * np.arange(T), np.zeros(T), np.full(T, z)], 1).astype(np.float32)
    return pelvis[:, None] + body[None]


def test_continuity_finds_jumps_doubles_and_who_entered():
    T = 20
    poses = np.full((T, 3, 17, 3), np.nan, np.float32)
    ids = np.full((T, 3), -1, np.int64)
    a, b = _walker(T, 0.0, 0.02), _walker(T, 3.0, -0.05)
    b[12:] += np.array([1.2, 0, 0], np.float32)  # id 7 passes to someone 1.2 m away at frame 12
    poses[:, 0], ids[:, 0] = a, 4
    poses[5:, 1], ids[5:, 1] = b[5:], 7  # enters at frame 5
    poses[9:15, 2], ids[9:15, 2] = a[9:15] + np.array([0.3, 0, 0], np.float32), 9  # a second id on id 4's body
    c = continuity(poses, ids)
    spans = {s.track_id: s for s in c.ids}
    assert set(spans) == {4, 7, 9}
    assert spans[4].jumps == [] and spans[4].max_jump_m == pytest.approx(0.02, abs=1e-5)
    assert spans[7].jumps == [12] and spans[7].max_jump_m == pytest.approx(1.2 - 0.05, abs=1e-4)
    assert (spans[7].first, spans[7].last, spans[7].frames) == (5, 19, 15)
    assert c.doubles == [(9, 9, 4)]  # born 0.3 m from id 4; id 7 was born 3 m from anyone: no double
    assert c.switches == 2 and c.jumps == 1
    assert [s.track_id for s in c.entered()] == [7, 9] and [s.track_id for s in c.left()] == [9]
    assert list(c.people[[0, 5, 9, 15]]) == [1, 2, 3, 2]
    text = c.describe_switches()
    assert text.startswith("2 id switches noticed") and "id 7 at frame 12" in text and "id 9 next to id 4" in text
    assert spans[7].first_at == pytest.approx((3.0 - 0.25, 0.0, 5.0), abs=1e-5)
    json.dumps(c.as_dict())  # the demo writes it to its JSON report
    # rows that are every other frame (an estimator that skipped frames): reported by frame number
    c2 = continuity(poses, ids, frame_numbers=2 * np.arange(T))
    assert [s.jumps for s in c2.ids] == [[], [24], []] and c2.doubles == [(18, 9, 4)]
    assert [s.first for s in c2.ids] == [0, 10, 18] and [s.track_id for s in c2.entered()] == [7, 9]


def test_paired_quality_pairs_raw_and_refined_by_id():
    T = 30
    a, b = _walker(T, 0.0, 0.02), _walker(T, 2.0, -0.02)
    noisy = a + np.random.default_rng(1).normal(0, 0.02, a.shape).astype(np.float32)
    raw = np.stack([b, noisy], 1)  # slots in another order than the refined file's
    raw_ids = np.tile([8, 3], (T, 1))
    ref = np.stack([a, b], 1)
    ref_ids = np.tile([3, 8], (T, 1))
    q, per = paired_quality(raw, raw_ids, ref, ref_ids)
    assert set(per) == {3, 8}
    assert per[8]["accel_raw"] == pytest.approx(0.0, abs=1e-3) and per[8]["accel_refined"] == pytest.approx(0, abs=1e-3)
    assert per[3]["accel_raw"] > 10 and per[3]["accel_refined"] == pytest.approx(0.0, abs=1e-3)
    assert q["accel_raw"] == pytest.approx((per[3]["accel_raw"] + per[8]["accel_raw"]) / 2)
    assert by_id(raw, raw_ids)[3].shape == (T, 17, 3)


def test_id_colours_are_stable_and_distinct_and_labels_stay_in_the_frame():
    pytest.importorskip("cv2")
    from stride_ros.vision.drawing import id_colour, put_caption, put_id_label
    colours = [id_colour(k) for k in range(8)]
    assert colours == [id_colour(k) for k in range(8)]  # the same colour for an id, every time
    assert min(np.abs(np.subtract(c1, c2)).sum() for i, c1 in enumerate(colours) for c2 in colours[i + 1:]) > 60
    img = np.zeros((200, 400, 3), np.uint8)
    bottom = put_caption(img, "frame 1", 0.5, 1)
    uv = np.full((17, 2), np.nan)
    uv[10] = (395.0, 5.0)  # a head in the top right corner, under the caption's row
    caption = img.copy()
    put_id_label(img, "id 3", uv, id_colour(3), 0.6, 2, below=bottom)
    lit = np.argwhere(np.abs(img.astype(int) - id_colour(3)).sum(-1) < 60)
    assert len(lit) > 20  # the label's text, in the id's colour
    assert lit[:, 0].min() >= bottom and lit[:, 1].max() < 400  # below the caption, inside the frame
    assert (img[:bottom] == caption[:bottom]).all()  # the caption untouched
    put_id_label(img, "id 3", np.full((17, 2), np.nan), id_colour(3), 0.5, 1)  # nobody drawn: nothing, no error


# --- stride-ros video --max-people 2 on the clip ----------------------------------------------------------------
@pytest.fixture(scope="module")
def two_people(tmp_path_factory) -> dict:
    """`stride-ros video CLIP --max-people 2 --max-frames 120`, once."""
    needs_mediapipe()
    out = tmp_path_factory.mktemp("video2") / "two.mp4"
    res = run_cli("video", str(fetch_clip()), "-o", str(out), "--max-people", "2", "--max-frames", str(SPAN))
    assert res.returncode == 0, res.stderr[-3000:]
    with np.load(out.with_suffix(".raw.npz")) as z:
        raw = {k: z[k] for k in z.files}
    with np.load(out.with_suffix(".refined.npz")) as z:
        refined = {k: z[k] for k in z.files}
    return {"out": out, "stdout": res.stdout, "raw": raw, "refined": refined}


def test_video_max_people_2_writes_both_people_under_the_refiners_ids(two_people):
    raw, ref = two_people["raw"], two_people["refined"]
    assert raw["poses"].shape[:2] == raw["track_ids"].shape and raw["poses"].shape[0] == SPAN
    assert ref["poses"].shape == (SPAN, 2, 17, 3) and ref["track_ids"].shape == (SPAN, 2)
    live = ref["track_ids"] >= 0
    assert np.isfinite(ref["poses"][live]).all() and np.isnan(ref["poses"][~live]).all()
    tracks = by_id(ref["poses"], ref["track_ids"])
    assert len(tracks) == 2  # the man and the woman, one id each for the whole span
    spans = {tid: np.flatnonzero(~np.isnan(p).any((1, 2))) for tid, p in tracks.items()}
    man, woman = sorted(spans, key=lambda t: spans[t][0])
    assert spans[man][0] == 0 and 35 <= spans[woman][0] <= 50, spans
    for tid, idx in spans.items():  # once refined, in every frame to the end of the span (no gap, no new id)
        assert idx[-1] == SPAN - 1 and len(idx) == SPAN - idx[0], tid
    both = live.sum(1) == 2
    assert both[50:].all()  # both refined from soon after she came into view
    # the woman walks right to left in the image (x falls), the man stays on the box: never swapped
    x = {tid: p[:, 0, 0] for tid, p in tracks.items()}
    assert x[woman][spans[woman][0]] - x[woman][-1] > 1.0 and np.nanmax(np.abs(np.diff(x[man]))) < 0.3
    assert np.nanmin(x[woman]) > np.nanmax(x[man])  # she stays to his right over these frames
    # the ids are the refiner's, and here they are the estimator's (it trusts them unless one jumps)
    assert set(np.unique(raw["track_ids"][raw["track_ids"] >= 0])) == set(tracks)
    text = two_people["stdout"]
    assert "2 refined ids" in text and "id switches noticed" in text and "raw vs refined per person" in text, text


def test_video_max_people_2_draws_each_id_in_its_colour_where_that_person_is(two_people):
    cv2 = pytest.importorskip("cv2")
    from stride_ros.vision.camera import project
    from stride_ros.vision.drawing import id_colour
    out, ref = two_people["out"], two_people["refined"]
    cap = cv2.VideoCapture(str(out))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
    ok, img = cap.read()
    cap.release()
    assert ok and n == SPAN and img.shape == (994, 1768, 3)
    fx, fy, cx, cy = two_people["raw"]["intrinsics"]  # what the overlay was drawn with
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    for k in range(2):
        tid = int(ref["track_ids"][100, k])
        uv = project(ref["poses"][100, k].astype(np.float64), K)
        # the refined spine (pelvis -> thorax) is drawn thick in the id's colour: sample along it
        pts = [np.round(uv[0] + s * (uv[8] - uv[0])).astype(int) for s in np.linspace(0.2, 0.8, 7)]
        near = [np.abs(img[y, x].astype(int) - id_colour(tid)).sum() < 120 for x, y in pts]
        assert sum(near) >= 5, (tid, [img[y, x] for x, y in pts])
    png = out.with_suffix(".summary.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and cv2.imread(str(png)).shape[0] > 800  # the extra panels


# --- live: the camera with two people ---------------------------------------------------------------------------
def test_live_camera_with_max_people_2(fake_camera, tmp_path, capsys):  # noqa: F811 - the imported fixture
    """`stride-ros video --camera 0 --max-people 2` on the stand-in device (the clip's first 90 frames at
    640x360, looped, in real time): the several-people files, both people in some frames, the PNG."""
    needs_mediapipe()
    from stride_ros.cli.main import main
    from stride_ros.data.posefile import load_poses
    opts, made = fake_camera
    opts["unplug_after"] = 150
    out = tmp_path / "cam.mp4"
    assert main(["video", "--camera", "0", "-o", str(out), "--max-people", "2", "--lag", "2"]) == 0
    text = capsys.readouterr().out
    assert "up to 2 people" in text and "camera 0 ended after" in text and "id switches noticed" in text, text
    raw, ref = load_poses(out.with_suffix(".raw.npz")), load_poses(out.with_suffix(".refined.npz"))
    assert raw.several and ref.several and raw.track_ids is not None and ref.track_ids is not None
    assert len(raw) == len(ref) and (raw.track_ids >= 0).sum(1).max() == 2  # both people in some frames
    assert (ref.track_ids >= 0).sum(1).max() == 2
    live = ref.track_ids >= 0
    assert np.isfinite(ref.poses[live]).all()
    assert out.with_suffix(".summary.png").is_file()
    written = int(text.split(f"wrote {out} (")[1].split(" frames")[0])
    assert 0 < written <= len(raw)


# --- demo --video --max-people 2 over DDS -----------------------------------------------------------------------
def test_demo_video_max_people_2_reports_people_ids_and_switches(tmp_path):
    pytest.importorskip("rclpy")
    needs_mediapipe()
    out = tmp_path / "demo"
    res = run_cli("demo", "--video", str(fetch_clip()), "--seconds", "4", "--max-people", "2", "--out", str(out),
                  timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rep = json.loads((out / "video_demo.json").read_text())
    assert rep["frames_sent"] == SPAN and rep["frames_answered"] == rep["frames_estimated"] > 0
    assert rep["max_people"] == 2 and rep["people_per_frame_max"] == 2 and rep["frames_with_two_or_more"] > 0
    assert 0 < rep["people_per_frame_mean"] <= 2
    assert len(rep["refined_ids"]) >= 2 and set(rep["identity"]["ids"]) == {str(k) for k in rep["refined_ids"]}
    ident = rep["identity"]
    assert rep["id_switches_noticed"] == ident["jumps"] + len(ident["doubles"])
    for key in ("people found per estimated frame (up to 2)", "refined ids seen: id ", "id switches noticed",
                "jitter (same frames, per person, pooled)"):
        assert key in res.stdout, res.stdout
    assert "Traceback" not in (out / "estimator.log").read_text() + (out / "refiner.log").read_text()
    from stride_ros.data.posefile import load_poses
    got = load_poses(out / "human_pose_refined.npz")  # what the listener received, on the camera's frames
    assert got.several and len(got) == SPAN and set(np.unique(got.track_ids[got.track_ids >= 0])) == set(
        rep["refined_ids"])
    assert 0 < (got.track_ids >= 0).any(1).sum() <= rep["frames_answered"]


def test_demo_max_people_without_a_video_is_one_line(tmp_path):
    res = run_cli("demo", "--max-people", "2", "--out", str(tmp_path / "d"))
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0 and "--max-people" in res.stderr, res.stderr
