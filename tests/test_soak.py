"""`stride-ros soak`, short: the node with adaptation on answers every frame of every person, and
the report says how much memory each of its processes holds (anonymous apart from file-backed)."""
from __future__ import annotations

import json

import pytest
from conftest import run_cli

pytest.importorskip("rclpy")


def test_short_soak_answers_everything_and_accounts_memory_per_process(tmp_path):
    out = tmp_path / "soak"
    res = run_cli("soak", "--minutes", "0.4", "--people", "2", "--sample-s", "2", "--out", str(out), timeout=240)
    assert res.returncode == 0, res.stderr[-2000:] + (out / "node.log").read_text()[-2000:]
    rep = json.loads((out / "soak.json").read_text())
    assert rep["frames_sent"] == 0.4 * 60 * 30
    assert rep["frames_answered"] == rep["frames_sent"] == rep["frames_with_every_person"]
    assert rep["frames_nonfinite"] == 0
    assert len(rep["samples"]) >= 8
    roles = set(rep["memory"]["by_role"])
    assert {"node", "adaptation"} <= roles, roles  # the burst process is counted with the node
    for s in rep["samples"]:
        assert s["rss_mb"] == pytest.approx(sum(p["rss_mb"] for p in s["processes"]), rel=1e-3)
    last = rep["samples"][-1]
    assert last["anon_mb"] + last["file_mb"] == pytest.approx(last["rss_mb"], abs=5.0)
    assert (out / "soak_memory.png").stat().st_size > 10_000
    assert "by process: " in res.stdout and "adaptation" in res.stdout
