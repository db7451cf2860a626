"""BVH loading on the real CMU files: bone lengths constant, a plausible human, the fixed split."""
import numpy as np
import pytest
from conftest import needs_data

from stride_ros.core.errors import InputError
from stride_ros.core.skeleton import BONES, bone_lengths
from stride_ros.data.bvh import load_bvh, load_h36m, resample


@needs_data
def test_bone_lengths_constant_and_as_documented(walk_clip):
    bl = bone_lengths(walk_clip)
    # 13 bones span no bending joint: constant to float precision (data README)
    rigid = [i for i, (p, c) in enumerate(BONES) if (p, c) not in ((0, 7), (7, 8), (8, 9))]
    assert bl[:, rigid].std(0).max() < 1e-4
    np.testing.assert_allclose(bl[0, [1, 2, 11, 12]], [0.368, 0.454, 0.282, 0.237], atol=2e-3)


@needs_data
def test_height_and_floor_plausible(walk_clip):
    ankles = walk_clip[:, [3, 6], 1]
    head = walk_clip[:, 10, 1]
    assert 0.03 < np.median(ankles.min(1)) < 0.12  # ankle joints 6-8 cm above the floor
    assert 1.5 < np.median(head) < 1.75  # a ~1.6 m person, Y up, metres


@needs_data
def test_t_pose_frame_and_blend_frames_dropped(walk_bvh):
    raw = load_bvh(walk_bvh)
    poses, fps = load_h36m(walk_bvh)
    assert fps == pytest.approx(120.0, rel=1e-4)
    assert poses.shape[0] == raw.frames.shape[0] - 10


@needs_data
def test_resample_to_30fps_keeps_duration(walk_bvh):
    p120, _ = load_h36m(walk_bvh)
    p30, fps = load_h36m(walk_bvh, fps_out=30.0)
    assert fps == 30.0
    assert abs(len(p30) - (len(p120) - 1) / 4 - 1) <= 1
    np.testing.assert_allclose(p30[5], p120[20], atol=1e-5)


def test_resample_linear():
    x = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 17, 3), np.float32)
    y = resample(x, 10.0, 20.0)
    assert len(y) == 19
    np.testing.assert_allclose(y[:, 0, 0], np.arange(19) / 2, atol=1e-6)


@needs_data
def test_split_is_by_subject_and_disjoint():
    from stride_ros.data.mocap import VALIDATION_SUBJECTS, list_clips
    train, val = list_clips(split="train"), list_clips(split="val")
    assert {c.subject for c in val} == set(VALIDATION_SUBJECTS)
    assert not {c.subject for c in train} & {c.subject for c in val}
    assert len(train) + len(val) == 139
    salsa = [c for c in train if "salsa" in c.name]
    assert salsa and all(c.fps == 60.0 for c in salsa)


def test_glitch_free_segments_cut_at_flips():
    from stride_ros.data.mocap import glitch_free_segments
    p = np.zeros((400, 17, 3), np.float32)
    p[200:203, 3, 0] = 1.0  # a 1 m jump in one frame at 60 fps = 60 m/s
    segs = glitch_free_segments(p, 60.0, min_frames=50)
    assert len(segs) == 2
    assert sum(len(s) for s in segs) < 400


def test_malformed_files(tmp_path):
    cases = {
        "empty.bvh": b"",
        "text.bvh": b"hello world\n",
        "binary.bvh": bytes(range(256)),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InputError):
            load_bvh(tmp_path / name)
    with pytest.raises(InputError, match="no such file"):
        load_bvh(tmp_path / "missing.bvh")


@needs_data
def test_truncated_file(tmp_path, walk_bvh):
    data = walk_bvh.read_bytes()
    (tmp_path / "cut.bvh").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated"):
        load_bvh(tmp_path / "cut.bvh")
    (tmp_path / "header_only.bvh").write_bytes(data[: data.index(b"MOTION")])
    with pytest.raises(InputError, match="truncated"):
        load_bvh(tmp_path / "header_only.bvh")
