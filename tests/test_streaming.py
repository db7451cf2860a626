"""The streaming refiner: stamps, gaps, resets, expiry, lag, the cached step, adaptation handover."""
import numpy as np
import pytest
import torch

from stride_ros.core.representation import encode, encode_track
from stride_ros.data.simulator import SimulatorConfig, simulate
from stride_ros.model.backends import Backend
from stride_ros.offline.adapt import AdaptConfig
from stride_ros.stream.refiner import StreamConfig, StreamingRefiner
from stride_ros.stream.worker import InlineWorker, ProcessWorker

FPS = 30.0
CLEAN = SimulatorConfig(occlusion_s=0.0, partial_rate_per_s=0.0, swap_hazard=0.0, outlier_hazard=0.0)


@pytest.fixture(scope="module")
def stream_input(request):
    from stride_ros.data.synthetic import synthetic_walk
    gt = synthetic_walk(seconds=12.0, fps=FPS, seed=3)
    return simulate(gt, FPS, seed=11, cfg=CLEAN)


def person(sim, t):
    return {7: (sim.poses[t], sim.confidence[t])}


def test_one_output_per_input_with_its_own_stamp(prior_model, stream_input):
    r = StreamingRefiner(prior_model, StreamConfig(lag=0, adapt=False))
    outs = []
    for t in range(20):
        got = r.push(t / FPS, person(stream_input, t), meta=t).frames
        assert len(got) == 1 and got[0].meta == t and got[0].stamp == t / FPS
        outs += got
    tp = outs[-1].tracks[7]
    assert tp.poses.shape == (17, 3) and np.isfinite(tp.poses).all()
    assert tp.observed.all() and (tp.confidence > 0.3).all()


def test_lag_delays_by_n_frames_and_flush_completes(prior_model, stream_input):
    lag = 5
    r = StreamingRefiner(prior_model, StreamConfig(lag=lag, adapt=False))
    emitted = []
    for t in range(12):
        got = r.push(t / FPS, person(stream_input, t), meta=t).frames
        emitted.append([g.meta for g in got])
    assert emitted[:lag] == [[]] * lag
    assert all(e == [t - lag] for t, e in enumerate(emitted) if t >= lag)
    rest = [g.meta for g in r.flush()]
    assert rest == list(range(12 - lag, 12))


def test_stamp_gap_inserts_missing_frames(prior_model, stream_input):
    r = StreamingRefiner(prior_model, StreamConfig(lag=0, adapt=False))
    for t in range(10):
        r.push(t / FPS, person(stream_input, t))
    out = r.push(14 / FPS, person(stream_input, 14)).frames  # frames 10..13 never came
    assert r.frame == 14  # four inferred frames were stepped through
    assert len(out) == 1 and out[0].stamp == pytest.approx(14 / FPS)
    assert not r.dropped


def test_duplicate_and_out_of_order_stamps_are_dropped(prior_model, stream_input):
    r = StreamingRefiner(prior_model, StreamConfig(lag=0, adapt=False))
    for t in range(5):
        r.push(t / FPS, person(stream_input, t))
    assert r.push(4 / FPS, person(stream_input, 4)).frames == []
    assert r.push(3.5 / FPS, person(stream_input, 3)).frames == []
    assert r.dropped["duplicate_stamp"] == 1 and r.dropped["out_of_order"] == 1
    assert len(r.push(5 / FPS, person(stream_input, 5)).frames) == 1


def test_time_jumping_back_resets_tracks(prior_model, stream_input):
    r = StreamingRefiner(prior_model, StreamConfig(lag=0, adapt=False))
    for t in range(30):
        r.push(100 + t / FPS, person(stream_input, t))
    first = r.tracks[7]
    out = r.push(3.0, person(stream_input, 30)).frames  # the bag started over
    assert r.dropped["time_jumped_back"] == 1
    assert r.frame == 0 and r.tracks[7] is not first
    assert len(out) == 1


def test_track_survives_occlusion_then_expires(prior_model, stream_input):
    cfg = StreamConfig(lag=0, adapt=False, track_timeout_s=1.0)
    r = StreamingRefiner(prior_model, cfg)
    for t in range(30):
        r.push(t / FPS, person(stream_input, t))
    inferred = [r.push(t / FPS, {}).frames for t in range(30, 55)]  # nobody seen for 25 frames (< 1 s)
    assert all(7 in o[0].tracks for o in inferred)
    tp = inferred[-1][0].tracks[7]
    assert not tp.observed.any() and (tp.confidence < 0.3).all() and np.isfinite(tp.poses).all()
    assert inferred[-1][0].tracks[7].confidence.max() < inferred[0][0].tracks[7].confidence.max()
    later = r.push(62 / FPS, {}).frames
    assert later and 7 not in later[0].tracks and 7 not in r.tracks


def test_bad_persons_are_counted_not_fatal(prior_model, stream_input):
    r = StreamingRefiner(prior_model, StreamConfig(lag=0, adapt=False))
    r.push(0.0, person(stream_input, 1))  # a pelvis seen at confidence >= 0.5 starts the track's root
    nan = np.full((17, 3), np.nan, np.float32)
    out = r.push(1 / FPS, {7: (nan, None), 8: (np.zeros((15, 3)), None)}).frames
    assert r.dropped["all_nan"] == 1 and r.dropped["wrong_joint_count"] == 1
    assert set(out[0].tracks) == {7}
    assert r.push(float("nan"), person(stream_input, 2)).frames == [] and r.dropped["bad_stamp"] == 1


@pytest.mark.parametrize("lag", [0, 8, 16])  # causal heads, and the ahead trunk from its `ahead_from`
def test_stream_publishes_the_models_stream_output_flush_included(prior_model, stream_input, lag):
    """What the stream publishes at a lag is model.stream_output (the causal trunk, or the ahead
    trunk from the model's `ahead_from`) plus the root filter, frame for frame; flush() carries the
    last `lag` frames out as if nobody were seen in the frames after them."""
    r = StreamingRefiner(prior_model, StreamConfig(lag=lag, adapt=False))
    got = {}
    for t in range(1, 61):  # from frame 1: frame 0's pelvis is below the root filter's confidence
        for fr in r.push(t / FPS, person(stream_input, t), meta=t).frames:
            got[fr.meta] = fr.tracks[7].poses
    assert sorted(got) == list(range(1, 61 - lag))
    for fr in r.flush():
        got[fr.meta] = fr.tracks[7].poses
    assert sorted(got) == list(range(1, 61))
    rel_stream = np.stack([got[t] - got[t][:1] for t in range(1, 61)])
    if prior_model.cfg.canonical:  # the model answers in each frame's canonical frame
        _, _, rot = encode_track(stream_input.poses[1:61], stream_input.confidence[1:61], True)
        rel_stream = np.einsum("tij,tkj->tki", rot, rel_stream)
    x, _, _ = encode_track(stream_input.poses[1:61], stream_input.confidence[1:61], prior_model.cfg.canonical)
    x = np.concatenate([x, np.zeros((lag, 17, 4), np.float32)])  # what flush feeds
    with torch.no_grad():
        want = prior_model.stream_output(torch.from_numpy(x[None]), lag)[0].numpy()
    np.testing.assert_allclose(rel_stream, want, atol=1e-5)


def test_onnx_backend_matches_torch(prior_model, stream_input):
    from stride_ros.model.backends import Backend
    a = StreamingRefiner(prior_model, StreamConfig(lag=2, adapt=False), Backend("torch"))
    b = StreamingRefiner(prior_model, StreamConfig(lag=2, adapt=False), Backend("onnx"))
    for t in range(30):
        pa, pb = a.push(t / FPS, person(stream_input, t)).frames, b.push(t / FPS, person(stream_input, t)).frames
        for fa, fb in zip(pa, pb):
            np.testing.assert_allclose(fa.tracks[7].poses, fb.tracks[7].poses, atol=1e-4)


def _checksum(model):
    with torch.no_grad():
        return sum(float(p.double().sum()) for p in model.parameters())


@pytest.mark.parametrize("lag", [0, 16])  # the causal trunk, and the ahead trunk of the shipped prior
def test_adaptation_swaps_whole_runners_and_never_writes_weights_in_use(prior_model, stream_input, monkeypatch, lag):
    cfg = StreamConfig(lag=lag, adapt=True, adapt_params="top", adapt_interval_s=1.0, adapt_min_frames=60,
                       adapt_epochs=2)
    # the swap is under test, not whether adaptation helps: accept every burst that does not diverge
    monkeypatch.setattr(StreamConfig, "adapt_config",
                        lambda self: AdaptConfig(epochs=2, max_batch=4, holdout_share=0.0))
    worker = ProcessWorker()
    r = StreamingRefiner(prior_model, cfg, Backend("torch"), worker=worker)
    base_sum = _checksum(r.base_runner.model)
    seen_runners = {}
    import time
    for t in range(1, len(stream_input.gt)):  # frame 0's pelvis is below the root filter's confidence
        out = r.push(t / FPS, person(stream_input, t)).frames
        tr = r.tracks[7]
        seen_runners[id(tr.runner)] = (tr.runner, _checksum(tr.runner.model))
        assert len(out) == (t > lag) and all(np.isfinite(f.tracks[7].poses).all() for f in out)
        time.sleep(0.01)  # paced roughly like a camera, so the worker process can keep up
    deadline = time.time() + 60
    while worker.busy() and time.time() < deadline:
        time.sleep(0.1)
    r.push(len(stream_input.gt) / FPS, person(stream_input, 0))
    seen_runners[id(r.tracks[7].runner)] = (r.tracks[7].runner, _checksum(r.tracks[7].runner.model))
    r.close()
    assert worker.accepted >= 1, worker.describe()
    assert r.swaps >= 1, r.tracks[7].adapt_last  # accepted weights were taken over, not discarded as late
    assert len(seen_runners) >= 2  # the prior's runner, then adapted ones
    for runner, checksum in seen_runners.values():  # no runner's weights changed while it was in use
        assert _checksum(runner.model) == checksum
    assert _checksum(r.base_runner.model) == base_sum


def test_catch_up_replays_what_arrived_while_the_runner_was_built(prior_model, stream_input):
    """The handover's cache, caught up off the frame path, equals a cache that saw every frame."""
    from collections import deque

    runner = Backend("torch").runner(prior_model)
    xs = [encode(stream_input.poses[t][None], stream_input.confidence[t][None])[0][0] for t in range(1, 41)]
    w = ProcessWorker()  # not started: only its catch-up is under test
    w._catching_up[5] = deque(enumerate(xs))  # the frames the frame path forwarded for person 5
    state = runner.empty_state()
    for x in xs[:30]:  # what the child had replayed when it sent the result
        _, state = runner.step(x[None], state)
    state, upto = w._catch_up(5, runner, state, upto=29)
    assert upto == 39
    full = runner.empty_state()
    for x in xs:
        out_full, full = runner.step(x[None], full)
    out, _ = runner.step(xs[-1][None], state)
    ref, _ = runner.step(xs[-1][None], full)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_retired_runners_are_freed_between_frames():
    """Freeing an onnxruntime session holds the GIL 5-15 ms: it waits for the end of a frame."""
    import gc
    import threading
    import time
    import weakref

    class Session:  # stands in for a runner; only its lifetime matters
        pass

    w = ProcessWorker()
    w._stop = threading.Event()
    janitor = threading.Thread(target=w._free_retired, daemon=True)
    janitor.start()
    s = Session()
    alive = weakref.ref(s)
    w.retire(s)
    del s
    time.sleep(0.3)
    gc.collect()
    assert alive() is not None  # mid-frame: kept
    w.frame_done()
    deadline = time.time() + 5
    while alive() is not None and time.time() < deadline:
        time.sleep(0.01)
    assert alive() is None  # freed once a frame finished
    w._stop.set()
    janitor.join(timeout=2)


def test_poisoned_burst_is_discarded(prior_model, stream_input, monkeypatch):
    cfg = StreamConfig(lag=0, adapt=True, adapt_params="top", adapt_interval_s=1.0, adapt_min_frames=60,
                       adapt_epochs=2)
    monkeypatch.setattr(StreamConfig, "adapt_config", lambda self: AdaptConfig(epochs=2, lr=1e6, max_batch=4))
    r = StreamingRefiner(prior_model, cfg, worker=InlineWorker())
    for t in range(1, 121):
        out = r.push(t / FPS, person(stream_input, t)).frames
        assert np.isfinite(out[0].tracks[7].poses).all()
    tr = r.tracks[7]
    assert r.worker.runs >= 1 and r.worker.accepted == 0
    assert "diverged" in tr.adapt_last
    assert tr.runner is r.base_runner and tr.weights_id is None


def test_process_exits_when_closed_mid_burst(tmp_path):
    """Frames queued for a child that is busy adapting must not keep the parent alive at exit
    (multiprocessing joins a queue's feeder thread, which waits on a pipe nobody reads)."""
    import subprocess
    import sys
    script = tmp_path / "closing.py"
    script.write_text(
        "import numpy as np\n"
        "from stride_ros.stream.worker import ProcessWorker\n"
        "from stride_ros.model.checkpoint import load_model\n"
        "from stride_ros.data.simulator import simulate\n"
        "from stride_ros.stream.refiner import StreamConfig, StreamingRefiner\n"
        "from stride_ros.data.synthetic import synthetic_walk\n"
        "sim = simulate(synthetic_walk(seconds=30, fps=30.0, seed=1), 30.0, seed=2)\n"
        "cfg = StreamConfig(adapt=True, adapt_params='top', adapt_interval_s=0.0, adapt_min_frames=60,\n"
        "                   adapt_epochs=30)\n"
        "w = ProcessWorker()\n"
        "r = StreamingRefiner(load_model(), cfg, worker=w)\n"
        "for t in range(1, len(sim.poses)):\n"
        "    if not np.isnan(sim.poses[t]).all():\n"
        "        r.push(t / 30.0, {0: (sim.poses[t], sim.confidence[t])})\n"
        "assert w.busy(), 'no burst was running when closed'\n"
        "r.close()\n"
        "print('closed')\n")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "closed" in res.stdout
