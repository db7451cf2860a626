"""The streaming refiner's guards, without ROS: bounded input, bounded work under overload, stamps
that resync, tracks that expire between messages, status() safe from another thread, the lead."""
import threading

import numpy as np
import pytest

from stride_ros.data.simulator import SimulatorConfig, simulate
from stride_ros.data.synthetic import synthetic_walk
from stride_ros.model.backends import Backend
from stride_ros.stream.refiner import StreamConfig, StreamingRefiner

FPS = 30.0
CLEAN = SimulatorConfig(occlusion_s=0.0, partial_rate_per_s=0.0, swap_hazard=0.0, outlier_hazard=0.0)


@pytest.fixture(scope="module")
def walk():
    return simulate(synthetic_walk(seconds=6.0, fps=FPS, seed=1), FPS, seed=2, cfg=CLEAN)


def person(sim, t, tid=0, shift=0.0):
    return {tid: (sim.poses[t] + np.float32(shift), sim.confidence[t])}


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_absurd_joints_never_reach_the_output(prior_model, walk, backend):
    r = StreamingRefiner(prior_model, StreamConfig(), Backend(backend))
    for t in range(20):
        bad = walk.poses[t].copy()
        if t % 3 == 0:
            bad[5] = 1e30
        if t % 5 == 0:
            bad[:] = -1e30
        res = r.push(t / FPS, {0: (bad, walk.confidence[t]), 1: (walk.poses[t] + 1.0, walk.confidence[t])})
        for fr in res.frames:
            for tp in fr.tracks.values():
                assert np.isfinite(tp.poses).all() and (np.abs(tp.poses) < 100).all()
    assert r.dropped["implausible_joint"] >= 1 and r.dropped["all_nan"] >= 1


def test_a_collapsed_body_is_not_a_person(prior_model, walk):
    r = StreamingRefiner(prior_model, StreamConfig())
    tiny = walk.poses[0] * 1e-3
    res = r.push(0.0, {0: (tiny, walk.confidence[0])})
    assert res.dropped["implausible_pose"] == 1 and not r.tracks


def test_gap_work_is_bounded_under_overload(prior_model, walk):
    """Dropping messages must save work: a 2 s gap with 8 people steps at most the budget."""
    cfg = StreamConfig(max_gap_fill_steps=32)
    r = StreamingRefiner(prior_model, cfg)
    for t in range(3):
        r.push(t / FPS, {k: (walk.poses[t] + np.float32(k), walk.confidence[t]) for k in range(8)})
    steps = []
    for t in r.tracks.values():
        orig = t.runner.step

        def counting(x, state, orig=orig):
            steps.append(1)
            return orig(x, state)
        t.runner = type("R", (), {"step": staticmethod(counting)})()
    res = r.push(62 / FPS, {k: (walk.poses[3] + np.float32(k), walk.confidence[3]) for k in range(8)})
    assert len(steps) <= 32 + 8  # the budget for inferred frames, plus the real frame
    assert res.dropped["gap_frames_skipped"] == 59 - 32 // 8
    assert len(res.frames) == 1


def test_one_stamp_from_the_future_costs_two_frames_not_eleven(prior_model, walk):
    r = StreamingRefiner(prior_model, StreamConfig())
    for t in range(10):
        r.push(t / FPS, person(walk, t))
    r.push(10 / FPS + 0.4, person(walk, 10))  # an outlier 0.4 s ahead
    answered = [len(r.push(t / FPS, person(walk, t)).frames) for t in range(11, 25)]
    assert sum(answered) >= len(answered) - 2, answered
    assert r.dropped["stamps_resynced"] == 1 and r.dropped["out_of_order"] == 2


def test_tracks_expire_between_messages(prior_model, walk):
    r = StreamingRefiner(prior_model, StreamConfig(track_timeout_s=1.0))
    for t in range(10):
        r.push(t / FPS, person(walk, t))
    assert r.expire_idle(9 / FPS + 0.5) == []
    assert r.expire_idle(9 / FPS + 1.5) == [0] and not r.tracks and r.status()["tracks"] == {}


def test_status_is_safe_while_tracks_come_and_go(prior_model, walk):
    """status() (the diagnostics timer's thread) while the frame thread adds and drops tracks."""
    r = StreamingRefiner(prior_model, StreamConfig(track_timeout_s=0.1, max_tracks=8))
    errors, stop = [], threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                r.status()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
                return

    th = threading.Thread(target=hammer)
    th.start()
    try:
        for t in range(60):
            ids = range(t % 7, t % 7 + 3)
            r.push(t / FPS, {k: (walk.poses[t] + np.float32(k), walk.confidence[t]) for k in ids})
    finally:
        stop.set()
        th.join()
    assert not errors, errors


def test_lead_needs_forecast_heads_and_the_causal_trunk(prior_model):
    c = prior_model.cfg
    if not c.max_lead:
        with pytest.raises(ValueError, match="no forecast heads"):
            StreamingRefiner(prior_model, StreamConfig(lead_s=0.2))
        return
    if c.lookahead:
        with pytest.raises(ValueError, match="causal trunk"):
            StreamingRefiner(prior_model, StreamConfig(lag=c.max_stream_lag, lead_s=0.2))


def test_lead_publishes_the_forecast_stamped_with_its_time(prior_model, walk):
    if not prior_model.cfg.max_lead:
        pytest.skip("the model under test has no forecast heads")
    import torch

    from stride_ros.core.representation import encode_track
    lead = 0.2
    r = StreamingRefiner(prior_model, StreamConfig(lead_s=lead))
    led = {}
    for t in range(40):
        res = r.push(t / FPS, person(walk, t), meta=t)
        assert len(res.led) == 1 and res.led[0].stamp == pytest.approx(t / FPS + lead)
        led[t] = res.led[0].tracks[0]
    h = round(lead * FPS)
    x, _, rot = encode_track(walk.poses[:40], walk.confidence[:40], prior_model.cfg.canonical)
    with torch.no_grad():
        want = prior_model.lead_output(torch.from_numpy(x[None]), h)[0].numpy()
    got = np.stack([led[t].poses - led[t].poses[:1] for t in range(40)])
    if rot is not None:
        got = np.einsum("tij,tkj->tki", rot, got)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert (led[39].confidence < walk.confidence[39] + 1e-6).all()  # falls with the horizon
