"""Who is who: the association's identities through shuffles, crossings, occlusions, swapped and
jumping ids, and bad input; the refiner publishes its own ids and never blends two people."""
import numpy as np
import pytest

from stride_ros.stream.association import AssociationParams, Associator, Person, image_box, iou

FPS = 30.0


def body(pelvis, scale=1.0, seed=0):
    """A standing person [17, 3] in a camera optical frame (y down), pelvis at `pelvis`."""
    rng = np.random.default_rng(seed)
    rel = np.array([[0, 0, 0], [-.1, 0, 0], [-.1, .42, 0], [-.1, .84, 0], [.1, 0, 0], [.1, .42, 0], [.1, .84, 0],
                    [0, -.24, 0], [0, -.5, 0], [0, -.62, 0], [0, -.72, 0], [.17, -.5, 0], [.2, -.22, 0],
                    [.22, .03, 0], [-.17, -.5, 0], [-.2, -.22, 0], [-.22, .03, 0]], np.float32)
    return (rel * scale + np.asarray(pelvis, np.float32) + rng.normal(0, 0.005, rel.shape)).astype(np.float32)


def walk(start, velocity, T, scale=1.0):
    return [body(np.asarray(start) + np.asarray(velocity) * t / FPS, scale, seed=t) for t in range(T)]


def project(pose):
    K = np.array([[600, 0, 320], [0, 600, 240], [0, 0, 1.0]])
    uvw = pose @ K.T
    return (uvw[:, :2] / uvw[:, 2:]).astype(np.float32)


def test_shuffled_people_without_ids_keep_one_identity_each():
    a = walk([-1.0, 0.0, 4.0], [0.5, 0, 0], 90)
    b = walk([1.0, 0.0, 5.0], [-0.3, 0, 0.2], 90, scale=1.12)
    rng = np.random.default_rng(1)
    assoc = Associator(fps=FPS)
    seen = {0: set(), 1: set()}
    for t in range(90):
        people = [(0, Person(a[t])), (1, Person(b[t]))]
        rng.shuffle(people)
        keys = assoc.step(t / FPS, [p for _, p in people])
        for (who, _), key in zip(people, keys):
            seen[who].add(key)
    assert all(len(v) == 1 for v in seen.values()) and seen[0] != seen[1]
    assert not assoc.events.get("identity_jump")


def test_a_person_hidden_behind_another_is_taken_back_after_the_crossing():
    """Two people cross; the one behind is not reported for 1.2 s and comes back on the far side."""
    T = 120
    front = walk([-1.5, 0.0, 3.0], [1.0, 0, 0], T)  # walks right, near the camera
    back = walk([1.5, 0.0, 5.0], [-1.0, 0, 0], T, scale=1.1)  # walks left, further away
    assoc = Associator(fps=FPS)
    ids_back, ids_front = [], []
    for t in range(T):
        hidden = 42 <= t < 78  # behind the one in front
        people = [Person(front[t], keypoints_px=project(front[t]))]
        if not hidden:
            people.append(Person(back[t], keypoints_px=project(back[t])))
        keys = assoc.step(t / FPS, people)
        ids_front.append(keys[0])
        if not hidden:
            ids_back.append(keys[1])
    assert len(set(ids_front)) == 1 and len(set(ids_back)) == 1 and ids_front[0] != ids_back[0]
    assert assoc.events["reidentified"] == 1


def test_trusted_ids_that_swap_where_no_body_can_go_do_not_swap_the_people():
    """An upstream tracker swaps two far-apart people's ids: identities stay with the bodies."""
    a = walk([-1.5, 0.0, 4.0], [0.2, 0, 0], 60)
    b = walk([1.5, 0.0, 4.0], [-0.2, 0, 0], 60)
    assoc = Associator(fps=FPS)
    who_a, who_b = set(), set()
    for t in range(60):
        ida, idb = (7, 9) if t < 30 else (9, 7)
        ka, kb = assoc.step(t / FPS, [Person(a[t], track_id=ida), Person(b[t], track_id=idb)], trust_ids=True)
        who_a.add(ka)
        who_b.add(kb)
    assert who_a == {7} and who_b == {9}  # the first ids as given, kept by the bodies
    assert assoc.events["identity_jump"] >= 2


def test_a_teleport_with_one_id_starts_a_new_track_and_the_old_one_coasts():
    """The single-person path: the estimator jumps from one person to another 3 m away."""
    a = walk([-1.0, 0.0, 4.0], [0.3, 0, 0], 40)
    b = walk([2.0, 0.0, 6.0], [0.0, 0, 0], 40)
    assoc = Associator(fps=FPS)
    keys = [assoc.step(t / FPS, [Person(a[t] if t < 20 else b[t])])[0] for t in range(40)]
    assert len(set(keys[:20])) == 1 and len(set(keys[20:])) == 1 and keys[0] != keys[25]
    old = assoc.tracks[keys[0]]
    assert old.lost and old.misses >= 19  # coasting until it expires
    assoc.step(40 / FPS + AssociationParams().track_timeout_s, [])
    assert keys[0] not in assoc.tracks


def test_an_id_jump_needs_a_few_frames_before_it_is_a_new_person():
    """One outlier frame with a trusted id far away is no new person."""
    a = walk([0.0, 0.0, 4.0], [0.3, 0, 0], 30)
    assoc = Associator(fps=FPS)
    for t in range(30):
        pose = a[t] + (np.array([3.0, 0, 0], np.float32) if t == 15 else 0)
        assoc.step(t / FPS, [Person(pose, np.ones(17, np.float32), track_id=4)], trust_ids=True)
    assert list(assoc.tracks) == [4] and assoc.tracks[4].confirmed


def test_a_wrong_answer_without_ids_for_a_frame_or_two_is_no_new_person():
    """The estimator answers far away at full confidence for one frame, later for two (a wrong detection,
    another body), while the person is not reported: no new person is confirmed, the person keeps their
    identity; an answer that stays there is a new person after `jump_confirm_frames` frames."""
    a = walk([0.0, 0.0, 4.0], [0.3, 0, 0], 60)
    wrong = {15: [2.5, 0, 1.0], 30: [-2.0, 0, 2.0], 31: [1.5, 0, -1.0]}  # each elsewhere
    assoc = Associator(fps=FPS)
    keys, confirmed = [], []
    for t in range(45):
        pose = body(a[t][0] + np.array(wrong[t], np.float32), seed=t) if t in wrong else a[t]
        k = assoc.step(t / FPS, [Person(pose, np.ones(17, np.float32))])[0]
        keys.append(k)
        confirmed.append(assoc.confirmed(k))
    person = keys[0]
    assert all(keys[t] == person for t in range(45) if t not in wrong)
    assert not any(confirmed[t] for t in wrong) and all(keys[t] != person for t in wrong)
    assert [k for k, t in assoc.tracks.items() if t.confirmed] == [person]
    # a teleport that holds: the estimator stays with a body 3 m away
    far = walk([3.0, 0.0, 6.0], [0.0, 0, 0], 15)
    need = AssociationParams().jump_confirm_frames
    got, when = [], []
    for t in range(15):
        got.append(assoc.step((45 + t) / FPS, [Person(far[t], np.ones(17, np.float32))])[0])
        when.append(assoc.confirmed(got[-1]))
    assert len(set(got)) == 1 and got[0] != person
    assert when == [False] * (need - 1) + [True] * (15 - need + 1)
    # one new person appearing while everyone tracked is seen is a person at once
    other = Associator(fps=FPS)
    other.step(0.0, [Person(a[0])])
    k = other.step(1 / FPS, [Person(a[1]), Person(body([-2.0, 0.0, 5.0]))])
    assert other.confirmed(k[1])



def test_wrong_answers_as_long_as_the_confirmation_do_not_take_the_person():
    """The estimator answers elsewhere at full confidence for exactly `jump_confirm_frames` frames (the
    newcomer is confirmed on its last), then finds the person again: the person keeps their identity, the
    newcomer does not take them for having been seen last, and it is gone at once (no second person
    coasting where nobody is)."""
    need = AssociationParams().jump_confirm_frames
    a = walk([0.0, 0.0, 4.0], [0.3, 0, 0], 40)
    wrong = range(15, 15 + need)
    assoc = Associator(fps=FPS)
    keys = []
    for t in range(40):
        pose = body(a[t][0] + np.float32([2.5, 0, 1.5]), seed=1) if t in wrong else a[t]
        keys.append(assoc.step(t / FPS, [Person(pose, np.ones(17, np.float32))])[0])
    person, newcomer = keys[0], keys[wrong[-1]]
    assert newcomer != person and all(keys[t] == person for t in range(40) if t not in wrong)
    assert list(assoc.tracks) == [person] and assoc.events["jumped_answer"] == 1


def test_a_person_followed_twice_after_a_jump_is_one_track_with_the_older_identity():
    """The answers jump 2 m (unreachable in a frame) and stay, so a new track takes them; then they walk back
    to where the person was last seen, whose track still coasts there: one person is followed by two tracks
    related by the jump. The younger goes, and the person is the older identity again."""
    assoc = Associator(fps=FPS)
    here = walk([0.0, 0.0, 4.0], [0.0, 0, 0], 20)
    keys = [assoc.step(t / FPS, [Person(here[t])])[0] for t in range(20)]
    back = walk([2.0, 0.0, 4.0], [-1.2, 0, 0], 60)  # from 2 m away, walking back at 1.2 m/s
    for t in range(60):
        keys.append(assoc.step((20 + t) / FPS, [Person(back[t])])[0])
    person, jumped = keys[0], keys[20]
    assert jumped != person and keys[25] == jumped  # the jump is followed as someone new ...
    assert keys[-1] == person and list(assoc.tracks) == [person]  # ... until it stands where the person was
    assert assoc.events["duplicate_track"] == 1


def test_every_identity_given_is_a_live_track_under_jumps_drops_and_merges():
    """Four walkers close together whose answers jump (0.8 m per axis), vanish and come back at random,
    without ids: every identity the association hands out in a frame is a track it still holds (a merged-away
    or removed track must never be handed an answer, or the refiner would keep a person the association no
    longer knows), and both rules of a jumped answer are exercised."""
    rng = np.random.default_rng(1)
    events = {"jumped_answer": 0, "duplicate_track": 0}
    for _ in range(12):
        assoc = Associator(fps=FPS)
        starts = rng.uniform([-0.6, 0, 3], [0.6, 0, 4], (4, 3))
        paths = [walk(s, rng.uniform(-0.6, 0.6, 3) * [1, 0, 1], 200) for s in starts]
        for t in range(200):
            people = []
            for path in paths:
                r = rng.random()
                if r < 0.1:
                    continue  # not reported
                pose = path[t] + (np.float32(rng.normal(0, 0.8, 3) * [1, 0, 1]) if r < 0.3 else 0)
                people.append(Person(pose.astype(np.float32), np.ones(17, np.float32)))
            rng.shuffle(people)
            for k in assoc.step(t / FPS, people):
                assert k is None or k in assoc.tracks
        for e in events:
            events[e] += assoc.events[e]
    assert events["jumped_answer"] > 0 and events["duplicate_track"] > 0

def test_too_many_people_keep_the_most_confident_and_duplicates_are_one_person():
    assoc = Associator(AssociationParams(max_tracks=2), fps=FPS)
    people = [Person(body([x, 0, 5.0]), np.full(17, c, np.float32)) for x, c in ((-2, 0.9), (0, 0.3), (2, 0.8))]
    keys = assoc.step(0.0, people)
    assert keys[1] is None and keys[0] is not None and keys[2] is not None
    assert assoc.events["too_many_tracks"] == 1
    p = body([0, 0, 5.0])
    assoc2 = Associator(fps=FPS)
    keys = assoc2.step(0.0, [Person(p, keypoints_px=project(p)), Person(p + 0.01, keypoints_px=project(p + 0.01))])
    assert keys[1] is None and assoc2.events["duplicate_detection"] == 1


def test_image_boxes_and_overlap():
    a = image_box(np.array([[0, 0], [10, 0], [10, 20], [0, 20]], np.float32))
    assert a is not None and iou(a, a) == pytest.approx(1.0)
    assert image_box(np.full((17, 2), np.nan)) is None
    b = a + np.array([100, 0, 100, 0])
    assert iou(a, b) == 0.0


# --- the refiner ----------------------------------------------------------------------------------------
def test_refiner_publishes_its_own_ids_and_never_blends_two_people(prior_model):
    from stride_ros.stream.refiner import StreamConfig, StreamingRefiner
    a = walk([-1.0, 0.0, 4.0], [0.4, 0, 0], 60)
    b = walk([1.0, 0.0, 4.5], [-0.4, 0, 0], 60, scale=1.1)
    r = StreamingRefiner(prior_model, StreamConfig(lag=0, trust_ids=False))
    rng = np.random.default_rng(0)
    tracks: dict[int, list[np.ndarray]] = {}
    for t in range(60):
        people = [Person(a[t]), Person(b[t])]
        rng.shuffle(people)
        for fr in r.push(t / FPS, people).frames:
            for tid, tp in fr.tracks.items():
                tracks.setdefault(tid, []).append(tp.poses[0])
    assert len(tracks) == 2
    for path in tracks.values():  # each id follows one body: no frame-to-frame jump a body cannot make
        steps = np.linalg.norm(np.diff(np.array(path), axis=0), axis=-1)
        assert steps.max() < 0.2, steps.max()


def test_refiner_publishes_no_phantom_for_a_wrong_answer_and_takes_a_teleport_from_its_first_frame(prior_model):
    """A wrong answer far away for one frame is never published as a second person; an answer that jumps
    and stays is published from its third frame, posed as if it had been published from its first."""
    from stride_ros.stream.refiner import StreamConfig, StreamingRefiner
    a = walk([0.0, 0.0, 4.0], [0.3, 0, 0], 40)
    far = walk([2.5, 0.0, 6.0], [0.0, 0, 0], 40)

    def run(jump_at: int, back_at: int | None, confirm: int | None = None):
        cfg = StreamConfig(lag=0, trust_ids=False)
        if confirm is not None:
            from dataclasses import replace
            cfg = replace(cfg, association=replace(cfg.association, jump_confirm_frames=confirm))
        r = StreamingRefiner(prior_model, cfg)
        out: dict[int, dict] = {}
        for t in range(40):
            wrong = jump_at <= t and (back_at is None or t < back_at)
            for fr in r.push(t / FPS, [Person(far[t] if wrong else a[t], np.ones(17, np.float32))]).frames:
                out[t] = {tid: tp.poses.copy() for tid, tp in fr.tracks.items()}
        r.close()
        return out

    once = run(20, 21)
    assert all(len(v) == 1 for v in once.values()) and len({k for v in once.values() for k in v}) == 1
    stays, at_once = run(20, None), run(20, None, confirm=1)
    new = [k for k in stays[39] if k not in stays[19]]
    assert len(new) == 1 and new[0] not in stays[21] and new[0] in stays[22]
    # from its third frame on, the new person's published pose is the one it would have had without the wait
    for t in range(22, 40):
        np.testing.assert_allclose(stays[t][new[0]], at_once[t][new[0]], atol=1e-5)


def test_refiner_counts_duplicate_ids_and_wrong_slots(prior_model):
    from stride_ros.stream.refiner import StreamConfig, StreamingRefiner
    r = StreamingRefiner(prior_model, StreamConfig(lag=0))
    a, b = body([-1, 0, 4.0]), body([1, 0, 4.0])
    res = r.push(0.0, [Person(a, track_id=3), Person(b, track_id=3), Person(np.zeros((5, 3)), track_id=4)])
    assert res.dropped["duplicate_track_id"] == 2 and res.dropped["wrong_joint_count"] == 1
    assert len(res.frames[0].tracks) == 2


def test_a_new_tracks_published_pelvis_never_jumps_when_the_estimate_does(prior_model):
    """The estimator changes its mind about the distance by 1 m in a track's first half second (the
    Sports2D clip's man, frame 24): the published pelvis gets there at `max_output_speed_mps`, from
    the track's first frame on; without the limit the same input teleports."""
    from stride_ros.data.synthetic import synthetic_walk
    from stride_ros.stream.refiner import StreamConfig, StreamingRefiner

    poses = synthetic_walk(seconds=2.0, fps=FPS, seed=1).astype(np.float32) + np.float32([0, 0, 4.0])
    ray = poses[:, :1] / np.linalg.norm(poses[:, :1], axis=-1, keepdims=True)
    poses[8:] += 1.0 * ray[8:]  # from frame 8 on the whole person is estimated 1 m further along the ray

    def largest_move(speed: float) -> tuple[float, int]:
        r = StreamingRefiner(prior_model, StreamConfig(fps=FPS, max_output_speed_mps=speed))
        out = np.full(poses.shape, np.nan, np.float32)
        ids = set()
        try:
            for t in range(len(poses)):
                for fr in r.push(t / FPS, [Person(poses[t])], meta=t).frames:
                    for k, tp in fr.tracks.items():
                        out[fr.meta] = tp.poses
                        ids.add(k)
            limited = r.status()["identities"].get("speed_limited", 0)
        finally:
            r.close()
        assert len(ids) == 1 and np.isfinite(out[:, 0]).all()  # one track, published every frame
        return float(np.linalg.norm(np.diff(out[:, 0], axis=0), axis=-1).max()), limited

    move, limited = largest_move(1e9)
    assert move > 0.9 and limited == 0  # the input's jump reaches the output unlimited
    move, limited = largest_move(12.0)
    # 0.4 m per frame at most (the root; the anchor's smoothed shift adds millimetres), also in the first second
    assert move <= 12.0 / FPS + 0.01 and limited >= 2
