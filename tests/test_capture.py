"""Frames from a file, a camera and a URL behind one reader (vision/capture.py), and the commands on them.

No camera device exists here (and v4l2loopback cannot be loaded), so `FakeCameraDevice` stands in
for one: an object with OpenCV's VideoCapture methods that plays the Sports2D clip in real time (30
frames a second, looped), put where the camera opener would return OpenCV's device. Everything
after opening (the bounded waits, newest-frame-wins, stopping, the `video --camera` run) is the
code a real camera goes through; the real camera opener is tested on an index that does not exist.
URLs are served for real by a local HTTP server on 127.0.0.1 (tests/streamserver.py): the clip as
an mp4 file, and as a live MJPEG stream, each also stopping part-way or going silent.
"""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from conftest import run_cli
from streamserver import StreamServer
from test_estimator import fetch_clip, needs_mediapipe

cv2 = pytest.importorskip("cv2", reason="pip install 'stride_ros[estimator]'")

from stride_ros.core.errors import InputError  # noqa: E402
from stride_ros.vision import capture  # noqa: E402
from stride_ros.vision.capture import Capture, Source, source_of  # noqa: E402


@pytest.fixture(scope="module")
def clip():
    return fetch_clip()


@pytest.fixture(scope="module")
def clip_frames(clip) -> list[np.ndarray]:
    """The clip's first 90 frames at 640 px wide, as a USB camera would deliver them."""
    cap = cv2.VideoCapture(str(clip))
    out = []
    while len(out) < 90:
        ok, f = cap.read()
        assert ok
        out.append(cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA))
    cap.release()
    return out


class FakeCameraDevice:
    """Stands in for OpenCV's VideoCapture on a camera device: frames at `fps` in real time, looped;
    `unplug_after` frames then read() fails (a camera pulled out); `hang_after` frames then read()
    blocks (a driver that stopped delivering); `opens=False`: the device exists but cannot be opened."""

    def __init__(self, frames, fps=30.0, unplug_after=None, hang_after=None, opens=True):
        self.frames, self.fps, self.unplug_after, self.hang_after, self.opens = (frames, fps, unplug_after,
                                                                               hang_after, opens)
        self.n = 0
        self.next_at = time.monotonic()
        self.released = threading.Event()

    def isOpened(self):  # noqa: N802 - OpenCV's names
        return self.opens

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_COUNT: -1.0}.get(prop, 0.0)

    def read(self):
        if self.unplug_after is not None and self.n >= self.unplug_after:
            return False, None
        if self.hang_after is not None and self.n >= self.hang_after:
            self.released.wait(120)  # blocks like a stuck driver (until the test ends)
            return False, None
        time.sleep(max(0.0, self.next_at - time.monotonic()))
        self.next_at = max(self.next_at + 1.0 / self.fps, time.monotonic())
        frame = self.frames[self.n % len(self.frames)].copy()
        self.n += 1
        return True, frame

    def release(self):
        self.released.set()


@pytest.fixture
def fake_camera(monkeypatch, clip_frames):
    """Install a FakeCameraDevice as what opening a camera returns; yields a setter for its options."""
    made: list[FakeCameraDevice] = []
    opts: dict = {}

    def opener(source: Source, timeout_s: float):
        made.append(FakeCameraDevice(clip_frames, **opts))
        return made[-1]
    monkeypatch.setitem(capture.OPENERS, "camera", opener)
    yield opts, made
    for d in made:
        d.released.set()


# --- naming a source ----------------------------------------------------------------------------------

def test_source_of_names_exactly_one_source(tmp_path, clip):
    assert source_of(str(clip)) == Source("file", str(clip))
    assert source_of(None, 0) == Source("camera", "0")
    assert source_of("rtsp://cam.local:554/stream").kind == "url"
    assert source_of("HTTPS://host/x.mjpg").kind == "url"
    assert Source("url", "rtsp://user:secret@cam/s").name == "rtsp://user:***@cam/s"  # no password in messages
    for video, camera, msg in ((str(clip), 0, "not both"), (None, None, "no source"),
                               ("ftp://host/a.mp4", None, "ftp:// streams are not read"),
                               (str(tmp_path / "none.mp4"), None, "no such file")):
        with pytest.raises(InputError, match=msg):
            source_of(video, camera)


# --- a file -------------------------------------------------------------------------------------------

def test_file_is_read_in_order_every_frame_stamped_index_over_fps(clip):
    with Capture(source_of(str(clip))) as cap:
        assert not cap.live and cap.frames_announced == 230 and (cap.width, cap.height) == (1768, 994)
        got = list(cap.frames())
    assert [f.index for f in got] == list(range(230))
    assert np.allclose([f.stamp for f in got], np.arange(230) / 30.0)
    assert cap.stop_reason == "" and cap.skipped == 0
    ref = cv2.VideoCapture(str(clip))
    assert all(np.array_equal(ref.read()[1], f.bgr) for f in got[:5])  # the frames OpenCV decodes
    ref.release()


# --- a camera -----------------------------------------------------------------------------------------

def test_camera_index_that_does_not_exist_is_one_clear_error():
    """The real camera opener (no fake): /dev/video97 is not there."""
    with pytest.raises(InputError, match=r"camera 97: no such device \(/dev/video97 does not exist"):
        Capture(source_of(None, 97))


def test_fake_camera_is_live_newest_frame_wins_and_skips_are_counted(fake_camera):
    with Capture(source_of(None, 0)) as cap:
        assert cap.live and cap.fps == 30.0 and (cap.width, cap.height) == (640, 360)
        got = []
        for f in cap.frames(limit=12):
            got.append(f)
            time.sleep(0.1)  # a consumer slower than the camera: it gets the newest frame, never a backlog
    assert [f.index for f in got] == list(range(12))
    stamps = np.array([f.stamp for f in got])
    assert (np.diff(stamps) > 0.05).all()  # each is a fresh frame, ~0.1 s apart, not the next queued one
    assert cap.skipped >= 12  # about two frames of three were replaced before they were taken


def test_camera_unplugged_mid_run_ends_cleanly_and_says_so(fake_camera):
    opts, _ = fake_camera
    opts["unplug_after"] = 20
    with Capture(source_of(None, 0)) as cap:
        n = sum(1 for _ in cap.frames())
    assert 1 <= n <= 20
    assert "camera 0 ended after" in cap.stop_reason and "stopped sending" in cap.stop_reason


def test_camera_that_hangs_mid_run_is_a_bounded_wait(fake_camera):
    opts, _ = fake_camera
    opts["hang_after"] = 10
    t0 = time.monotonic()
    with Capture(source_of(None, 0), frame_s=1.0) as cap:
        n = sum(1 for _ in cap.frames())
    assert n == 10 and "no frame for 1 s after frame 9" in cap.stop_reason
    assert time.monotonic() - t0 < 60  # a hang would never return (a generous bound, not a speed test)


def test_camera_that_opens_but_never_delivers_or_does_not_open(fake_camera):
    opts, _ = fake_camera
    opts["hang_after"] = 0
    with pytest.raises(InputError, match="camera 0: opened, but no frame came within 1 s"):
        Capture(source_of(None, 0), first_frame_s=1.0)
    opts.clear()
    opts["opens"] = False
    with pytest.raises(InputError, match="camera 0: could not be opened"):
        Capture(source_of(None, 0))


def test_an_opener_that_never_returns_is_a_bounded_wait(monkeypatch):
    stuck = threading.Event()
    monkeypatch.setitem(capture.OPENERS, "camera", lambda source, timeout_s: stuck.wait(120))
    try:
        with pytest.raises(InputError, match="camera 3: no answer within 1 s"):
            Capture(source_of(None, 3), open_s=1.0)
    finally:
        stuck.set()


# --- a URL --------------------------------------------------------------------------------------------

def test_mp4_over_http_reads_like_the_file(clip):
    with StreamServer(clip) as srv, Capture(source_of(srv.url("clip.mp4"))) as cap:
        assert not cap.live and cap.frames_announced == 230
        got = list(cap.frames())
    assert len(got) == 230 and cap.stop_reason == ""
    ref = cv2.VideoCapture(str(clip))
    assert all(np.array_equal(ref.read()[1], f.bgr) for f in got[:5])
    ref.release()


@pytest.mark.parametrize("stall", [False, True], ids=["server-closes", "server-goes-silent"])
def test_http_server_that_stops_mid_file_ends_the_run_cleanly(clip, stall):
    with StreamServer(clip, stop_after_bytes=1_500_000, stall=stall) as srv:
        with Capture(source_of(srv.url("clip.mp4")), frame_s=2.0) as cap:
            n = sum(1 for _ in cap.frames())
    assert 10 < n < 230
    assert cap.stop_reason.startswith(srv.url("clip.mp4")), cap.stop_reason
    assert f"ended after {n} frames of the 230 announced" in cap.stop_reason or "no frame for 2 s" in cap.stop_reason


def test_mjpeg_stream_is_live_and_its_end_is_said(clip):
    with StreamServer(clip, stop_after_frames=45) as srv, Capture(source_of(srv.url("live.mjpg"))) as cap:
        assert cap.live and (cap.width, cap.height) == (640, 360)
        n = sum(1 for _ in cap.frames())
    assert 1 <= n <= 45 and "ended after" in cap.stop_reason


def test_url_that_does_not_answer_is_one_line_before_any_work():
    with socket.socket() as s:  # a port nobody listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/clip.mp4"
        with pytest.raises(InputError, match="did not answer as a video stream"):
            Capture(source_of(url))
    with socket.socket() as s:  # a server that accepts the connection and then says nothing
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        url = f"http://127.0.0.1:{s.getsockname()[1]}/clip.mp4"
        t0 = time.monotonic()
        with pytest.raises(InputError, match="did not answer|no answer within"):
            Capture(source_of(url), open_s=2.0)
        assert time.monotonic() - t0 < 60


# --- the commands -------------------------------------------------------------------------------------

def test_commands_refuse_a_missing_camera_or_a_dead_url_in_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/x.mp4"
        for args, msg in ((["video", "--camera", "97", "-o", str(tmp_path / "v.mp4")], "camera 97: no such device"),
                          (["estimate", "--camera", "97", "-o", str(tmp_path / "p.npz")], "camera 97: no such device"),
                          (["video", dead, "-o", str(tmp_path / "v.mp4")], "did not answer"),
                          (["estimate", dead, "-o", str(tmp_path / "p.npz")], "did not answer"),
                          (["demo", "--camera", "97", "--out", str(tmp_path / "d")], "camera 97: no such device"),
                          (["video", "--camera", "0"], "nothing to do")):
            res = run_cli(*args, env={"DISPLAY": ""})
            lines = res.stderr.strip().splitlines()
            assert res.returncode == 2 and len(lines) == 1 and msg in lines[0], (args, res.stderr[-800:])
    assert not list(tmp_path.iterdir())  # refused before any work: nothing written


def test_estimate_over_http_equals_estimate_of_the_file(clip, tmp_path):
    needs_mediapipe()
    with StreamServer(clip) as srv:
        res = run_cli("estimate", srv.url("clip.mp4"), "-o", str(tmp_path / "url.npz"), "--max-frames", "20")
    assert res.returncode == 0, res.stderr[-2000:]
    res = run_cli("estimate", str(clip), "-o", str(tmp_path / "file.npz"), "--max-frames", "20")
    assert res.returncode == 0, res.stderr[-2000:]
    with np.load(tmp_path / "url.npz") as a, np.load(tmp_path / "file.npz") as b:
        assert np.array_equal(a["poses"], b["poses"], equal_nan=True) and np.array_equal(a["stamps"], b["stamps"])


def test_video_on_a_stream_that_stops_keeps_what_was_written(clip, tmp_path):
    """A live MJPEG stream that stops after 150 frames (5 s): exit 0, the run said why it ended, the overlay video
    holds the frames the report names, the pose files load; --show without a display is one line."""
    needs_mediapipe()
    out = tmp_path / "live.mp4"
    with StreamServer(clip, stop_after_frames=150) as srv:
        res = run_cli("video", srv.url("live.mjpg"), "-o", str(out), "--show", env={"DISPLAY": ""}, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "--show: no display" in res.stderr
    assert "ended after" in res.stdout and "kept what was processed" in res.stdout, res.stdout
    written = int(res.stdout.split(f"wrote {out} (")[1].split(" frames")[0])
    check = cv2.VideoCapture(str(out))
    n = 0
    while check.read()[0]:
        n += 1
    check.release()
    assert n == written > 0
    from stride_ros.data.posefile import load_poses
    raw, refined = load_poses(out.with_suffix(".raw.npz")), load_poses(out.with_suffix(".refined.npz"))
    assert len(raw) == len(refined) >= written and np.isfinite(refined.poses).all()
    assert (np.diff(raw.stamps) > 0).all()  # arrival times, increasing


def test_video_from_a_camera_records_and_stops_when_unplugged(fake_camera, tmp_path, capsys):
    """`stride-ros video --camera 0` on the stand-in device, in this process (the fake is installed here)."""
    needs_mediapipe()
    from stride_ros.cli.main import main
    opts, made = fake_camera
    opts["unplug_after"] = 150  # 5 s of frames (those that come while the estimator starts are skipped, as live)
    out = tmp_path / "cam.mp4"
    assert main(["video", "--camera", "0", "-o", str(out), "--lag", "2"]) == 0
    text = capsys.readouterr().out
    assert "camera 0: 640x360 at 30 fps, live" in text and "camera 0 ended after" in text, text
    assert made and made[-1].n == 150
    for suffix in (".mp4", ".raw.npz", ".refined.npz", ".summary.png"):
        assert out.with_suffix(suffix).is_file(), (suffix, text)
    from stride_ros.data.posefile import load_poses
    raw = load_poses(out.with_suffix(".raw.npz"))
    assert 1 <= len(raw) <= 150 and np.isfinite(load_poses(out.with_suffix(".refined.npz")).poses).all()
    assert main(["video", "--camera", "0", "-o", str(tmp_path / "cam2.mp4"), "--max-frames", "15"]) == 0
    assert len(load_poses(tmp_path / "cam2.raw.npz")) == 15  # --max-frames ends a live run too


def test_demo_on_a_stream_that_stops_reports_what_was_sent(clip, tmp_path):
    """`stride-ros demo --video URL`: the camera process reads a live MJPEG stream (vision/capture.py) and
    publishes each frame as it comes; the stream stops after 90 frames, before --seconds is up: the
    session ends early, the report covers the frames sent and says why."""
    pytest.importorskip("rclpy")
    needs_mediapipe()
    import json
    out = tmp_path / "demo"
    with StreamServer(clip, stop_after_frames=90) as srv:
        res = run_cli("demo", "--video", srv.url("live.mjpg"), "--seconds", "10", "--out", str(out), timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    rep = json.loads((out / "video_demo.json").read_text())
    assert "ended after" in rep["camera_stop_reason"] and "the session ended early" in res.stdout
    assert 0 < rep["frames_sent"] <= 90 and rep["frames_estimated"] > 0
    assert rep["frames_answered"] == rep["frames_estimated"]  # every estimated frame refined
    assert rep["image_size"] == [640, 360] and rep["camera_predecoded"] is False
