"""Bags: the generator writes real rosbag2 files; replay round-trips them; an independent reader agrees."""
import os

import numpy as np
import pytest

pytest.importorskip("rosbags")

from conftest import run_cli  # noqa: E402


def model_args():
    return ["--model", os.environ["STRIDE_TEST_MODEL"]] if os.environ.get("STRIDE_TEST_MODEL") else []


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_generate_and_replay_round_trip(tmp_path, storage):
    bag, out = tmp_path / "in_bag", tmp_path / "out_bag"
    res = run_cli("make-bag", str(bag), "--seconds", "6", "--storage", storage, "--people", "2")
    assert res.returncode == 0, res.stderr
    res = run_cli("replay", str(bag), "-o", str(out), "--lag", "4", *model_args())
    assert res.returncode == 0, res.stderr
    assert "180 input frames -> 180 refined frames" in res.stdout
    assert "refined" in res.stdout and "one_euro" in res.stdout  # ground truth was scored
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore
    ts = get_typestore(Stores.ROS2_KILTED)
    with Reader(out) as r:
        topics = {c.topic: c for c in r.connections}
        assert {"/human_pose", "/human_pose_gt", "/human_pose_refined", "/human_pose_refined/markers"} <= set(topics)
        assert topics["/human_pose_refined"].msgcount == 180 == topics["/human_pose"].msgcount
        assert (out / f"out_bag.{'mcap' if storage == 'mcap' else 'db3'}").exists()  # same storage as the input
        from stride_ros.ros.cloud import cloud_to_persons
        for conn, _, raw in r.messages([topics["/human_pose_refined"]]):
            people = cloud_to_persons(ts.deserialize_cdr(raw, conn.msgtype))
            assert set(people) <= {0, 1}
            for poses, conf in people.values():
                assert np.isfinite(poses).all() and ((conf >= 0) & (conf <= 1)).all()


def test_refined_topic_decodes_with_an_independent_reader(tmp_path):
    pytest.importorskip("mcap_ros2")
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    bag, out = tmp_path / "in_bag", tmp_path / "out_bag"
    assert run_cli("make-bag", str(bag), "--seconds", "4").returncode == 0
    assert run_cli("replay", str(bag), "-o", str(out), *model_args()).returncode == 0
    n = 0
    with open(out / "out_bag.mcap", "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for schema, channel, message, msg in reader.iter_decoded_messages(topics=["/human_pose_refined"]):
            assert schema.name == "sensor_msgs/msg/PointCloud2"
            names = [fld.name for fld in msg.fields]
            assert names == ["x", "y", "z", "confidence", "track_id"]
            pts = np.frombuffer(bytes(msg.data), dtype=np.dtype({"names": names, "formats": ["<f4"] * 4 + ["<u4"],
                                                                 "offsets": [0, 4, 8, 12, 16], "itemsize": 20}))
            assert len(pts) == 17 and np.isfinite(pts["x"]).all()
            n += 1
    assert n == 120


def test_replay_errors(tmp_path):
    res = run_cli("replay", str(tmp_path / "missing"), "-o", str(tmp_path / "o"))
    assert res.returncode == 2 and "no such bag" in res.stderr
    bag = tmp_path / "b"
    assert run_cli("make-bag", str(bag), "--seconds", "2").returncode == 0
    res = run_cli("replay", str(bag), "-o", str(bag))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = run_cli("replay", str(bag), "-o", str(tmp_path / "o2"), "--input-topic", "/nothing")
    assert res.returncode == 2 and "no topic /nothing" in res.stderr
