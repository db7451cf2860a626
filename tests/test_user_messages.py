"""Messages a user trips on, each one clear line: a text file given as the model, a folder that is not a
bag, what "implausible" means in the estimator's summary, and MediaPipe's start-up chatter kept off stderr."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import run_cli

from stride_ros.vision.quiet import is_noise, native_notices_filtered


def test_text_file_as_the_model_is_one_line_exit_2(tmp_path, synthetic_clip):
    from stride_ros.data.posefile import PoseSequence, save_poses
    save_poses(tmp_path / "in.npz", PoseSequence(synthetic_clip[:40], 30.0))
    notes = tmp_path / "notes.txt"
    notes.write_text("some notes about the model\nsecond line\n")
    for mode in ("stream", "offline"):
        res = run_cli("refine", str(tmp_path / "in.npz"), "-o", str(tmp_path / "out.npz"), "--mode", mode,
                      "--model", str(notes))
        lines = res.stderr.strip().splitlines()
        assert res.returncode == 2 and len(lines) == 1, res.stderr[-2000:]
        assert f"{notes}: not a model file (a text file;" in lines[0]
    assert not (tmp_path / "out.npz").exists()


def test_replay_on_a_folder_that_is_not_a_bag(tmp_path):
    pytest.importorskip("rosbags")
    folder = tmp_path / "recordings"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a bag")
    res = run_cli("replay", str(folder), "-o", str(tmp_path / "out"))
    assert res.returncode == 2
    assert res.stderr.strip() == f"stride-ros replay: error: {folder}: is not a rosbag2 folder (no metadata.yaml)"
    res = run_cli("replay", str(folder / "notes.txt"), "-o", str(tmp_path / "out"))
    assert res.returncode == 2 and "is not a rosbag2" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_implausible_placements_are_explained_with_the_right_plural():
    from stride_ros.vision.estimator import implausible_note
    from stride_ros.vision.placement import DISTANCE_RANGE_M, HEIGHT_RANGE_M
    one, two = implausible_note(1), implausible_note(2)
    assert one.startswith("1 frame placed implausibly (") and two.startswith("2 frames placed implausibly (")
    h0, h1 = HEIGHT_RANGE_M
    d0, d1 = DISTANCE_RANGE_M
    assert f"height outside {h0:g}-{h1:g} m" in one and f"distance outside {d0:g}-{d1:g} m" in one
    assert "kept" in one and implausible_note(0) == "every placement plausible"


def test_native_notices_are_held_and_other_lines_pass(capfd):
    with native_notices_filtered():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"W0000 00:00:1796195857.856384    9699 inference_feedback_manager.cc:114] Feedback manager\n")
        os.write(2, b"E0000 00:00:1796195857.856384    9699 calculator_graph.cc:887] a real error\n")
        os.write(2, b"something else entirely\n")
        os.write(2, b"\restimating:   0%|   | 0/30 [00:00<?, ?frame/s]")  # a progress bar, then a notice on its line
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    assert capfd.readouterr().err == ("E0000 00:00:1796195857.856384    9699 calculator_graph.cc:887] a real error\n"
                                      "something else entirely\n\restimating:   0%|   | 0/30 [00:00<?, ?frame/s]")
    assert is_noise("I0000 00:00:1.0 12 gl_context.cc:357] GL version") and not is_noise("Traceback (most recent")


def test_estimate_and_video_print_no_mediapipe_notices(tmp_path):
    """The real estimator on the first frames of the Sports2D clip: stderr holds the progress bars only."""
    from test_estimator import fetch_clip, needs_mediapipe
    needs_mediapipe()
    clip = str(fetch_clip())
    for args in (["estimate", clip, "-o", str(tmp_path / "p.npz")], ["video", clip, "-o", str(tmp_path / "v.mp4")]):
        res = run_cli(*args, "--max-frames", "12")
        assert res.returncode == 0, res.stderr[-2000:]
        lines = [line for line in res.stderr.replace("\r", "\n").splitlines() if line.strip()]
        assert lines and all(line.startswith(("estimating", "drawing")) for line in lines), lines
    with np.load(tmp_path / "p.npz") as z:
        assert (~np.isnan(z["poses"]).any((1, 2))).sum() > 0  # and it still found the person
