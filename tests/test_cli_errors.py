"""Bad input on the command line: one line of reason, non-zero exit, never a traceback."""
import numpy as np
import pytest
from conftest import needs_data, run_cli


def assert_one_line_error(res, *fragments):
    assert res.returncode != 0
    err = res.stderr.strip()
    assert "Traceback" not in res.stderr, res.stderr
    assert len(err.splitlines()) == 1, err
    for f in fragments:
        assert f in err, err


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "empty.bvh").write_bytes(b"")
    (tmp_path / "notbvh.bvh").write_text("this is not motion capture\n")
    np.savez(tmp_path / "wrong_shape.npz", poses=np.zeros((10, 15, 3), np.float32), fps=30.0)
    np.savez(tmp_path / "no_fps.npz", poses=np.zeros((10, 17, 3), np.float32))
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip")
    return tmp_path


def test_convert_errors(bad_files):
    assert_one_line_error(run_cli("convert", str(bad_files / "missing.bvh"), "-o", str(bad_files / "o.npz")),
                          "no such file")
    assert_one_line_error(run_cli("convert", str(bad_files / "empty.bvh"), "-o", str(bad_files / "o.npz")),
                          "empty")
    assert_one_line_error(run_cli("convert", str(bad_files / "notbvh.bvh"), "-o", str(bad_files / "o.npz")),
                          "not a BVH")


@needs_data
def test_convert_truncated_and_ok(tmp_path, walk_bvh):
    data = walk_bvh.read_bytes()
    (tmp_path / "cut.bvh").write_bytes(data[: int(len(data) * 0.7)])
    assert_one_line_error(run_cli("convert", str(tmp_path / "cut.bvh"), "-o", str(tmp_path / "o.npz")),
                          "truncated")
    res = run_cli("convert", str(walk_bvh), "-o", str(tmp_path / "walk.npz"), "--fps", "30")
    assert res.returncode == 0, res.stderr
    z = np.load(tmp_path / "walk.npz")
    assert z["poses"].shape[1:] == (17, 3) and float(z["fps"]) == 30.0
    assert not np.isnan(z["poses"]).any()


def test_convert_refuses_to_overwrite_input(tmp_path, synthetic_clip):
    src = tmp_path / "in.bvh"
    src.write_text("HIERARCHY\n")
    assert_one_line_error(run_cli("convert", str(src), "-o", str(src)), "refusing to overwrite")
    assert src.read_text() == "HIERARCHY\n"


def test_evaluate_pose_file_errors(bad_files):
    for name, frag in (("wrong_shape.npz", "expected [T, 17, 3]"), ("no_fps.npz", "fps"),
                       ("garbage.npz", "not a readable"), ("missing.npz", "no such file")):
        res = run_cli("evaluate", str(bad_files / name), "--methods", "baselines", "--quiet")
        assert_one_line_error(res, frag)


def test_help_everywhere():
    res = run_cli("--help")
    assert res.returncode == 0 and "evaluate" in res.stdout
    for sub in ("convert", "evaluate", "tune-baselines"):
        r = run_cli(sub, "--help")
        assert r.returncode == 0 and "usage" in r.stdout, sub
