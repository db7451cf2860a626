"""Crowds: the simulator's occlusion and deliveries, the baseline trackers, the identity metrics on
hand-made cases with known answers, and `stride-ros evaluate --crowd` end to end."""
import json

import numpy as np
import pytest
from conftest import needs_data, run_cli

from stride_ros.data.crowd import CrowdConfig, coverage, deliver, make_crowd, project, save_delivery, save_truth
from stride_ros.data.simulator import look_at
from stride_ros.data.synthetic import synthetic_walk
from stride_ros.eval.trackers import BoxTracker, NearestTracker, track
from stride_ros.eval.tracking import score_tracking

FPS = 30.0


def _standing(world_xz: list[tuple[float, float]], height_m: float = 1.2) -> np.ndarray:
    """[N, 17, 3] one walking pose per person, in the optical frame of a camera `height_m` above the
    floor at the world's origin looking along +z, each person's pelvis over the given floor point."""
    pose = synthetic_walk(seconds=1.0, fps=FPS, seed=0)[0].astype(np.float64)
    pose = pose - pose[0] * np.array([1.0, 0.0, 1.0])
    M = look_at(np.array([0.0, height_m, 0.0]), np.array([0.0, height_m, 1.0]))
    people = [pose + np.array([x, 0.0, z]) for x, z in world_xz]
    return np.stack([p @ M[:3, :3].T + M[:3, 3] for p in people])


@pytest.fixture(scope="module")
def clips():
    from stride_ros.data.crowd import crowd_clips
    return crowd_clips()


# --- occlusion -----------------------------------------------------------------------------------

def test_a_person_behind_another_is_covered_and_the_one_in_front_is_not():
    K = CrowdConfig().K
    cam = _standing([(0.0, 3.0), (0.05, 5.0)])[None]  # [1, 2, 17, 3]: B two metres behind A
    cov = coverage(cam, K, margin=0.1)[0]
    assert cov[1].mean() >= 0.6  # most of B hidden (a high head may show)
    assert not cov[0].any()  # nothing of A: B is behind
    swapped = coverage(cam[:, ::-1].copy(), K, margin=0.1)[0]
    np.testing.assert_array_equal(swapped, cov[::-1])  # the slot order does not matter


def test_people_side_by_side_do_not_cover_each_other():
    cam = _standing([(-1.0, 4.0), (1.0, 4.5)])[None]
    assert not coverage(cam, CrowdConfig().K, margin=0.1).any()


def test_projection_is_the_pinhole():
    K = CrowdConfig().K
    px = project(K, np.array([[0.0, 0.0, 2.0], [1.0, -0.5, 4.0], [0.0, 0.0, -1.0]]))
    np.testing.assert_allclose(px[:2], [[640, 360], [640 + 200, 360 - 100]])
    assert np.isnan(px[2]).all()  # behind the camera: nowhere in the image


@needs_data
def test_same_seed_same_crowd_and_only_validation_subjects(clips):
    from stride_ros.data.mocap import VALIDATION_SUBJECTS
    a, b = make_crowd(clips, 3, 4.0, seed=5), make_crowd(clips, 3, 4.0, seed=5)
    np.testing.assert_array_equal(a.poses, b.poses)
    np.testing.assert_array_equal(a.gt, b.gt)
    assert a.clips == b.clips and len(set(a.clips)) == 3
    assert all(c.split("_")[0] in VALIDATION_SUBJECTS for c in a.clips)
    assert not np.array_equal(make_crowd(clips, 3, 4.0, seed=6).gt, a.gt)


@needs_data
def test_crowd_occlusion_and_reporting_rules(clips):
    cfg = CrowdConfig()
    missing = garbage = 0
    for seed in range(6):
        c = make_crowd(clips, 3, 6.0, seed=seed, cfg=cfg)
        inside = np.isfinite(project(c.K, c.gt.astype(np.float64))).all(-1)
        w, h = c.image_size
        px = project(c.K, c.gt.astype(np.float64))
        inside &= (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h) & (c.gt[..., 2] > 0.1)
        hidden = (c.covered | ~inside).mean(-1)
        assert (hidden[c.reported] < cfg.hidden_share).all()  # a reported person is mostly visible
        assert not (c.in_view & ~c.reported & (hidden < cfg.hidden_share)).any()  # the rest is reported
        assert np.isnan(c.poses[~c.reported]).all() and (c.confidence[~c.reported] == 0).all()
        cov = c.covered & c.reported[..., None]
        nan = np.isnan(c.poses).any(-1)
        missing += int((cov & nan).sum())
        junk = cov & ~nan
        garbage += int(junk.sum())
        assert (c.confidence[junk] <= cfg.garbage_conf[1]).all()  # garbage comes at low confidence
        assert (c.confidence[cov & nan] == 0).all()
        assert np.isnan(c.keypoints_px[cov]).all()  # the image landmark of a covered joint is not given
        # the floor: the ankles of people in view stand on it (joint centres a few cm up)
        n, d = c.floor[:3], c.floor[3]
        ankles = c.gt[:, :, [3, 6]][c.in_view] @ n - d
        assert -0.05 < float(np.median(ankles)) < 0.2
    assert missing > 0 and garbage > 0  # both kinds of covered joint occur


@needs_data
def test_crowds_hold_crossings_and_long_mutual_occlusions(clips):
    from stride_ros.eval.crowd import occlusion_summary
    crowds = [make_crowd(clips, n, 10.0, seed=1000 + 100 * n + k) for n in (2, 3) for k in range(4)]
    s = occlusion_summary(crowds)
    assert s["crossings"] >= len(crowds)  # paths cross in the image
    assert s["occlusion_s"]["over_0.5"] >= 2 and s["occlusion_s"]["max"] >= 1.0


# --- deliveries and files ----------------------------------------------------------------------------

@needs_data
def test_deliveries_true_ids_and_shuffled_without_ids(clips, tmp_path):
    c = make_crowd(clips, 3, 4.0, seed=2)
    true = deliver(c, "true_ids")
    np.testing.assert_array_equal(true.track_ids, np.where(c.reported, np.arange(3)[None], -1))
    shuffled = deliver(c, "no_ids", seed=1)
    assert (shuffled.track_ids == -1).all()
    moved, several = 0, 0
    for t in range(len(c)):
        for s, g in enumerate(shuffled.person[t]):
            if g >= 0:
                np.testing.assert_array_equal(shuffled.poses[t, s], c.poses[t, g])  # same people, other places
            else:
                assert np.isnan(shuffled.poses[t, s]).all()
        moved += int((shuffled.person[t][shuffled.person[t] >= 0] != np.flatnonzero(c.reported[t])).any())
        several += int(c.reported[t].sum() >= 2)
    assert several > 10 and moved > several // 3  # the order of the people changes from frame to frame
    save_delivery(tmp_path / "d.npz", c, shuffled)
    save_truth(tmp_path / "gt.npz", c)
    with np.load(tmp_path / "d.npz") as z, np.load(tmp_path / "gt.npz") as g:
        assert z["poses"].shape == (len(c), 3, 17, 3) and z["track_ids"].shape == (len(c), 3)
        assert z["confidence"].shape == (len(c), 3, 17) and float(z["fps"]) == c.fps
        np.testing.assert_array_equal(g["track_ids"][0], [0, 1, 2])
        assert not np.isnan(g["poses"]).any()


# --- baseline trackers -------------------------------------------------------------------------------

def _crossing(T: int = 12, hidden=(3, 4, 5, 6)):
    """Two people crossing: A (near, z 3 m) walks right, B (far, z 5 m) walks left; their image boxes
    meet between frames 5 and 6, B hidden behind A from frame 3 to 6. Returns truth [T, 2, 17, 3]
    and boxes [T, 2, 4]."""
    base = synthetic_walk(seconds=1.0, fps=FPS, seed=0)[0]
    base = base - base[0]
    gt = np.zeros((T, 2, 17, 3))
    boxes = np.full((T, 2, 4), np.nan)
    for t in range(T):
        xa, xb = 10.0 * t, 105.0 - 10.0 * t  # box left edges (px): equal at t = 5.25
        gt[t, 0] = base + np.array([-1.0 + 0.2 * t, 0.0, 3.0])
        gt[t, 1] = base + np.array([1.0 - 0.2 * t, 0.0, 5.0])
        boxes[t, 0] = [xa, 0, xa + 60, 150]
        if t not in hidden:
            boxes[t, 1] = [xb, 0, xb + 60, 150]
    return gt, boxes


def test_box_tracker_without_motion_swaps_ids_at_a_crossing():
    gt, boxes = _crossing()
    tr = BoxTracker(iou_min=0.3, max_age=30, motion="none")
    ids = np.stack([tr.step(b) for b in boxes])
    assert ids[0, 0] != ids[0, 1] and (ids[:7, 0] == ids[0, 0]).all()
    assert ids[7, 0] == ids[0, 1] and ids[7, 1] == ids[0, 0]  # after the crossing: swapped
    pred = np.where(np.isfinite(boxes).all(-1)[..., None, None], gt, np.nan)
    s = score_tracking(gt, pred, ids, FPS)
    # by hand: A (12 frames) id0 for 7 then id1 for 5; B seen 8 of 12 frames, id1 for 3 then id0 for 5;
    # the best one-to-one mapping keeps 7 + 3 (or 5 + 5) frames: IDTP 10 of 24 true, 20 published
    assert s.switches == 2 and s.misses == 4 and s.matched == 20
    assert s.idtp == 10 and s.idfn == 24 - 10 and s.idfp == 20 - 10
    assert s.idf1 == pytest.approx(20 / 44)


def test_box_tracker_with_velocity_holds_ids_through_that_crossing():
    gt, boxes = _crossing()
    tr = BoxTracker(iou_min=0.3, max_age=30, motion="velocity")
    ids = np.stack([tr.step(b) for b in boxes])
    pred = np.where(np.isfinite(boxes).all(-1)[..., None, None], gt, np.nan)
    s = score_tracking(gt, pred, ids, FPS)
    assert s.switches == 0 and s.idf1 == pytest.approx(2 * 20 / (2 * 20 + 0 + 4))


def test_box_tracker_gives_a_new_id_after_a_long_absence():
    tr = BoxTracker(max_age=2)
    box = np.array([[0.0, 0.0, 50.0, 100.0]])
    first = tr.step(box)[0]
    for _ in range(3):
        tr.step(np.full((1, 4), np.nan))
    assert tr.step(box)[0] != first


def test_nearest_tracker_follows_the_nearest_last_pelvis():
    gt, _ = _crossing(hidden=())
    shuffled = gt.copy()
    shuffled[1::2] = gt[1::2, ::-1]  # the list order flips every other frame
    ids = track(NearestTracker(gate_m=1.0), shuffled)
    s = score_tracking(gt, shuffled, ids, FPS)
    assert s.switches == 0 and s.idf1 == 1.0


# --- metrics on hand-made cases --------------------------------------------------------------------

def _two_people(T: int = 10) -> np.ndarray:
    base = synthetic_walk(seconds=1.0, fps=FPS, seed=1)[0]
    base = base - base[0]
    gt = np.zeros((T, 2, 17, 3))
    for t in range(T):
        gt[t, 0] = base + [0.1 * t, 0.0, 3.0]
        gt[t, 1] = base + [-0.1 * t, 0.0, 5.0]
    return gt


def test_a_perfect_tracker_scores_idf1_one_and_no_switches():
    gt = _two_people()
    pred = gt[:, ::-1] + np.array([0.1, 0.0, 0.0])  # other slots, 10 cm off, rigidly
    pred[:, :, 13] += np.array([0.0, 0.17, 0.0])  # one joint of 17 off by 17 cm more
    ids = np.tile([7, 3], (len(gt), 1))  # slot 0 (person 1) is id 7, slot 1 (person 0) id 3
    s = score_tracking(gt, pred, ids, FPS)
    assert s.switches == 0 and s.idf1 == 1.0 and s.coverage == 1.0 and s.false_positives == 0
    assert s.mpjpe == pytest.approx(10.0)  # 170 mm / 17 joints
    assert s.abs == pytest.approx(np.mean([100.0] * 16 + [np.hypot(100, 170)]))


def test_one_swap_counts_both_people_and_idf1_by_hand():
    gt = _two_people()
    pred = gt.copy()
    ids = np.tile([0, 1], (10, 1))
    ids[6:] = [1, 0]  # the tracker swaps the two at frame 6
    s = score_tracking(gt, pred, ids, FPS)
    assert s.switches == 2
    assert s.switches_per_person_minute == pytest.approx(2 / (20 / FPS / 60))
    # the best one-to-one mapping keeps 6 of 10 frames for each person: IDTP 12 of 20
    assert (s.idtp, s.idfp, s.idfn) == (12, 8, 8) and s.idf1 == pytest.approx(0.6)


def test_a_switch_is_counted_when_a_person_returns_with_another_id():
    gt = _two_people()
    pred = gt[:, :1].copy()
    ids = np.zeros((10, 1), np.int64)
    pred[3:6] = np.nan  # person 0 not published for three frames, then with id 5
    ids[3:6] = -1
    ids[6:] = 5
    s = score_tracking(gt[:, :1], pred, ids, FPS)
    assert s.switches == 1 and s.misses == 3 and s.idtp == 4 and s.idf1 == pytest.approx(8 / 17)


def test_dont_care_truth_and_unseen_predictions_are_neither_hits_nor_false_positives():
    gt = _two_people()
    care = np.ones((10, 2), bool)
    care[:, 1] = False  # person 1 out of view throughout
    pred = np.concatenate([gt, gt[:, :1] + np.array([0.0, 0.0, 4.0])], 1)  # a third, matching nobody
    ids = np.tile([0, 1, 2], (10, 1))
    s = score_tracking(gt, pred, ids, FPS, care=care)
    assert s.person_frames == 10 and s.false_positives == 10 and s.idfp == 10 and s.idtp == 10
    pred_care = np.tile([True, True, False], (10, 1))  # the third lies where the camera cannot check
    s = score_tracking(gt, pred, ids, FPS, care=care, pred_care=pred_care)
    assert s.false_positives == 0 and s.idf1 == 1.0


def test_scores_pool_over_sequences():
    gt = _two_people()
    ids = np.tile([0, 1], (10, 1))
    ids[6:] = [1, 0]
    a = score_tracking(gt, gt, ids, FPS)
    b = score_tracking(gt, gt, np.tile([0, 1], (10, 1)), FPS)
    ab = a.merge(b, prefix="b/")
    assert ab.switches == 2 and ab.idtp == 32 and ab.idf1 == pytest.approx(64 / 80)
    assert set(ab.people) == {"0", "1", "b/0", "b/1"}


@needs_data
def test_with_the_scenes_floor_no_published_person_stands_under_it(clips, prior_model):
    """`--crowd-floor` gives the refiner each scene's floor: its feet never go under it, where the same
    crowd without the floor has them sink (the estimator's depth error along the viewing ray)."""
    from stride_ros.cli.common import make_backend
    from stride_ros.core.floor import Floor
    from stride_ros.eval.crowd import CrowdBenchConfig, evaluate_crowd

    crowd = make_crowd(clips, 2, 4.0, seed=5)
    floor = Floor.from_values(crowd.floor, origin_is_camera=True)
    lowest = {}
    for given in (False, True):
        cfg = CrowdBenchConfig(people=(2,), crowds=1, seconds=4.0, floor=given)
        out = evaluate_crowd(crowd, prior_model, make_backend("auto", "cpu"), cfg, keep=True)["outputs"]
        pred, ids = out[("no_ids", "ours")]
        assert (ids >= 0).any(axis=0).sum() >= 2  # both people published
        h = floor.height(pred[..., [3, 6], :].astype(np.float64)).min(-1)
        lowest[given] = float(np.nanmin(h))
    assert lowest[False] < -0.03  # without it, feet sink
    assert lowest[True] >= -1e-3  # with it, never under the floor


# --- the command line ----------------------------------------------------------------------------------

@needs_data
def test_evaluate_crowd_prints_the_table_and_writes_json(tmp_path):
    res = run_cli("evaluate", "--crowd", "--people", "2", "--crowds", "1", "--seconds", "3",
                  "--json", str(tmp_path / "c.json"), "--plot", str(tmp_path / "c.png"),
                  "--crowd-files", str(tmp_path / "files"), "--quiet")
    assert res.returncode == 0, res.stderr
    for title in ("true ids", "no ids, a random order every frame", "ids from a 2D box tracker", "ids as given",
                  "nearest pelvis tracker", "ours (refiner associates)", "one at a time, true ids", "IDF1"):
        assert title in res.stdout
    r = json.loads((tmp_path / "c.json").read_text())
    assert set(r["results"]) == {"true_ids", "no_ids", "box_ids", "alone"}
    assert set(r["results"]["box_ids"]) == {"input", "ids_as_given", "nearest", "ours"}
    ref = r["results"]["alone"]["alone"]
    assert ref["switches"] == 0 and ref["mpjpe_mm"] > 0 and ref["person_minutes"] > 0
    assert r["results"]["true_ids"]["input"]["switches"] == 0  # true ids never switch
    assert (tmp_path / "c.png").stat().st_size > 10_000
    assert len(list((tmp_path / "files").glob("*.npz"))) == 4  # three deliveries and the truth


@pytest.mark.parametrize("args, says", [
    (["--people", "9"], "--people"),
    (["--people", "two"], "--people"),
    (["--methods", "prior"], "--methods does not apply"),
    (["--family", "blazepose"], "--family does not apply"),
    (["--seconds", "0"], "--seconds"),
])
def test_evaluate_crowd_bad_input_is_one_line_and_status_2(args, says):
    res = run_cli("evaluate", "--crowd", *args)
    assert res.returncode == 2 and says in res.stderr and len(res.stderr.strip().splitlines()) == 1
