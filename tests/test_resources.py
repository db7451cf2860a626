"""What the soak and the node's adaptation rely on to keep memory flat: per-process accounting from
/proc, and glibc handing freed heap back."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from stride_ros.core.resources import process_tree, release_free_heap

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")


def test_process_tree_finds_children_and_splits_anonymous_from_file_backed():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        procs = process_tree(os.getpid())
        me = next(p for p in procs if p.pid == os.getpid())
        kid = next(p for p in procs if p.pid == child.pid)
        assert me.role == "node" and kid.ppid == os.getpid() and kid.role.startswith("python")
        for p in (me, kid):
            assert p.rss_mb > 0 and p.anon_mb > 0 and p.file_mb > 0
            assert p.anon_mb + p.file_mb == pytest.approx(p.rss_mb, abs=1.0)
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not release_free_heap(), reason="no glibc malloc_trim here")
def test_freed_small_blocks_stay_resident_until_released():
    """The pattern behind a stepping RSS: many small blocks freed below one that is still used. In a
    fresh interpreter: the test process's own heap already holds free space that new blocks reuse."""
    code = """
import json, os
import numpy as np
from stride_ros.core.resources import process_tree, release_free_heap
me = lambda: next(p for p in process_tree(os.getpid()) if p.pid == os.getpid()).anon_mb
before = me()
blocks = [np.empty(2048, np.uint8) for _ in range(50_000)]  # ~100 MB on the heap, not mmap'd
last = blocks[-1]  # pins the top of the heap: glibc cannot shrink it by itself
del blocks
held = me()
release_free_heap()
print(json.dumps([before, held, me()]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    before, held, after = json.loads(out.stdout.strip().splitlines()[-1])
    assert held - before > 60, f"the test's blocks did not stay resident ({before:.0f} -> {held:.0f} MB)"
    assert after - before < 0.3 * (held - before), f"{before:.0f} -> {held:.0f} -> {after:.0f} MB"


def test_cpu_seconds_counts_work():
    from stride_ros.core.resources import cpu_seconds
    before = cpu_seconds(os.getpid())
    x = 0
    for i in range(3_000_000):
        x += i
    after = cpu_seconds(os.getpid())
    assert after - before >= 0.05
    assert np.isnan(cpu_seconds(2**22 + 12345))


def test_soak_memory_report_splits_growth_by_process_and_kind():
    """The soak's verdict: growth after warm-up of the whole tree and of each process, anonymous
    apart from file-backed (a step in one process's heap must be attributed to it)."""
    from stride_ros.ros.soak import memory_report

    def sample(t, node_anon, child_anon):
        procs = [{"pid": 1, "ppid": 0, "role": "node", "rss_mb": node_anon + 50, "anon_mb": node_anon, "file_mb": 50},
                 {"pid": 2, "ppid": 1, "role": "adaptation", "rss_mb": child_anon + 30, "anon_mb": child_anon,
                  "file_mb": 30}]
        return {"t": t, "rss_mb": node_anon + child_anon + 80, "anon_mb": node_anon + child_anon, "file_mb": 80,
                "processes": procs}

    samples = [sample(0, 10, 10), sample(100, 300, 400), sample(300, 300, 400), sample(400, 300, 440),
               sample(500, 300, 420)]
    rep = memory_report(samples, warmup_s=300)
    tree = rep["tree"]["rss_mb"]
    assert tree["after_warmup_first"] == 780 and tree["max_after_warmup"] == 820 and tree["last"] == 800
    assert tree["growth"] == pytest.approx(40 / 780)
    assert rep["by_role"]["adaptation"]["anon_mb"]["growth_mb"] == 40
    assert rep["by_role"]["node"]["anon_mb"]["growth_mb"] == 0
    assert rep["by_role"]["node"]["file_mb"]["growth_mb"] == 0


def test_soak_envelope_tells_a_burst_from_a_leak():
    """Bursts that take memory and hand it back leave the 5-minute peaks and floors flat; a leak
    raises them."""
    from stride_ros.ros.soak import memory_report
    t = np.arange(0, 1800, 10.0)
    burst = np.where((t // 30) % 2 == 1, 200.0, 0.0)  # a burst every minute, +200 MB while it trains

    def samples(mb):
        return [{"t": float(a), "rss_mb": float(b), "anon_mb": float(b), "file_mb": 0.0,
                 "processes": [{"pid": 1, "ppid": 0, "role": "node", "rss_mb": float(b), "anon_mb": float(b),
                                "file_mb": 0.0}]} for a, b in zip(t, mb)]

    flat = memory_report(samples(800 + burst), warmup_s=300)["tree"]["rss_mb"]
    assert flat["growth"] == pytest.approx(0.25)  # the strict reading sees the burst
    assert flat["peak_growth"] == pytest.approx(0.0) and flat["floor_growth"] == pytest.approx(0.0)
    leak = memory_report(samples(800 + burst + 0.05 * t), warmup_s=300)["tree"]["rss_mb"]
    assert leak["peak_growth"] > 0.05 and leak["floor_growth"] > 0.05
