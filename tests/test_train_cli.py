"""`stride-ros train` end to end on two real clips: the run writes a prior that loads, and the frame
the prior is trained in (`--canonical` / `--no-canonical`) is the one its checkpoint declares, since
the refiner feeds it in that frame."""
import csv

import pytest
from conftest import data_dir, needs_data, run_cli


@pytest.fixture(scope="module")
def two_clip_data(tmp_path_factory):
    """A mocap folder with one training and one validation clip (a walk each), linked to the real files."""
    src = data_dir()
    root = tmp_path_factory.mktemp("mocap")
    rows = list(csv.DictReader(open(src / "train" / "MANIFEST.csv")))
    keep = [max((r for r in rows if r["cmu_subject"] == s and "walk" in r["description"]),
                key=lambda r: float(r["duration_s"])) for s in ("07", "08")]
    (root / "train").mkdir()
    for r in keep:
        dest = root / "train" / r["file"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(src / "train" / r["file"])
    with open(root / "train" / "MANIFEST.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(keep)
    return root


@needs_data
@pytest.mark.parametrize("flag,canonical,lead_weight", [("--no-canonical", False, "0"), ("--canonical", True, "0.5")])
def test_train_writes_a_prior_in_the_frame_asked_for(two_clip_data, tmp_path, flag, canonical, lead_weight):
    from stride_ros.model.checkpoint import load_checkpoint
    res = run_cli("train", "-o", str(tmp_path / "run"), "--data", str(two_clip_data), "--config", "tiny",
                  "--steps", "2", "--epoch-steps", "2", "--warmup", "1", "--batch", "2", "--stream-window", "0",
                  "--threads", "1", "--quiet", flag, "--lead-weight", lead_weight,
                  env={"STRIDE_ROS_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr[-2000:]
    ckpt = load_checkpoint(tmp_path / "run" / "prior.pt")
    assert ckpt.config.canonical is canonical
    assert ckpt.meta["train_config"]["canonical"] is canonical
    assert ckpt.meta["train_config"]["lead_weight"] == float(lead_weight)
    assert [h["step"] for h in ckpt.meta["history"]] == [2]


@needs_data
def test_train_on_clips_too_short_is_one_line(two_clip_data, tmp_path):
    res = run_cli("train", "-o", str(tmp_path / "run"), "--data", str(two_clip_data), "--stream-window", "2000",
                  "--steps", "2", "--quiet", env={"STRIDE_ROS_CACHE": str(tmp_path / "cache")})
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert "long enough" in res.stderr.strip().splitlines()[-1]
