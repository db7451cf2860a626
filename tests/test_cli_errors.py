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


@pytest.fixture
def pose_file(tmp_path, synthetic_clip):
    """A valid pose file (the generated walk, metres) and variants a user gets wrong."""
    np.savez(tmp_path / "ok.npz", poses=synthetic_clip, fps=30.0)
    np.savez(tmp_path / "mm.npz", poses=synthetic_clip * 1000.0, fps=30.0)
    arms = np.full_like(synthetic_clip, np.nan)
    arms[:, 11:17] = synthetic_clip[:, 11:17]
    np.savez(tmp_path / "arms.npz", poses=arms, fps=30.0)
    (tmp_path / "text.npz").write_text("poses,fps\n1,2\n")
    np.savez(tmp_path / "model.npz", weights=np.zeros(3))
    return tmp_path


CASES = [  # (arguments, fragments of the one line), every item of the trust-at-first-contact issue
    (["refine", "{d}/ok.npz", "-o", "{d}/o.npz", "--model", "{d}/model.npz"], ["model.npz", "not a"]),
    (["refine", "{d}/ok.npz", "-o", "/proc/nope/out.npz"], ["/proc/nope/out.npz"]),
    (["refine", "{d}/ok.npz", "-o", "{d}/out.txt"], ["must end in .npz"]),
    (["refine", "{d}/ok.npz", "-o", "{d}/o.npz", "--tta-steps", "-3"], ["--tta-steps", ">= 0"]),
    (["refine", "{d}/ok.npz", "-o", "{d}/o.npz", "--mode", "offline", "--lag", "8"],
     ["--lag applies to --mode stream"]),
    (["refine", "{d}/ok.npz", "-o", "{d}/o.npz", "--mode", "stream", "--lag", "99"], ["--lag 99"]),
    (["refine", "{d}/ok.npz", "-o", "{d}/o.npz", "--adapt"], ["--adapt applies to --mode stream"]),
    (["refine", "{d}/ok.npz", "-o", "{d}/o.npz", "--mode", "stream", "--adapt", "--tta-steps", "2"],
     ["--adapt", "--tta-steps", "choose one"]),
    (["refine", "{d}/mm.npz", "-o", "{d}/o.npz"], ["millimetres"]),
    (["refine", "{d}/text.npz", "-o", "{d}/o.npz"], ["not an .npz pose file"]),
    (["refine", "{d}/arms.npz", "-o", "{d}/o.npz", "--mode", "stream"], ["no frame can be refined"]),
    (["convert", "{d}/x.bvh", "-o", "{d}/o.npz", "--fps", "-30"], ["--fps", "> 0"]),
    (["convert", "{d}/x.bvh", "-o", "{d}/o.npz", "--fps", "0"], ["--fps", "> 0"]),
    (["make-bag", "{d}/b", "--people", "0"], ["--people"]),
    (["make-bag", "{d}/b", "--seconds", "-5"], ["--seconds"]),
    (["demo", "--seconds", "-1"], ["--seconds"]),
    (["demo", "--lag", "99"], ["--lag 99"]),
    (["bench", "--people", "0"], ["--people", ">= 1"]),
    (["bench", "--lag", "99"], ["--lag 99"]),
    (["train", "-o", "{d}/run", "--steps", "0"], ["--steps"]),
    (["train", "-o", "{d}/run", "--data", "{d}"], ["--data", "no motion capture there"]),
    (["evaluate", "{d}/ok.npz", "--methods", "baselines", "--plot", "{d}/x.txt"], ["must end in .png"]),
]


@pytest.mark.parametrize("args,fragments", CASES, ids=[" ".join(c[0][:3]) + " " + c[1][0] for c in CASES])
def test_every_bad_argument_is_one_line_and_exit_2(pose_file, args, fragments):
    res = run_cli(*[a.format(d=pose_file) for a in args])
    assert res.returncode == 2, (res.returncode, res.stderr[-1500:])
    assert_one_line_error(res, *[f.format(d=pose_file) for f in fragments])


@needs_data
def test_replay_gt_topic_must_exist(tmp_path):
    res = run_cli("make-bag", str(tmp_path / "b"), "--seconds", "2")
    assert res.returncode == 0, res.stderr
    assert_one_line_error(run_cli("replay", str(tmp_path / "b"), "-o", str(tmp_path / "r"), "--gt-topic", "/nope"),
                          "--gt-topic /nope")
    assert_one_line_error(run_cli("replay", str(tmp_path / "b"), "-o", str(tmp_path / "r"), "--lag", "99"),
                          "--lag 99")
