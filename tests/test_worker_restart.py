"""Killing the adaptation child and restarting it does not grow the node: the restart's own cost is paid
once (new queues, a feeder thread, the prior's weights for the new child) and then stays flat.

In a fresh interpreter (the test process's heap holds free space that would hide or fake a step),
a `ProcessWorker` on the shipped prior; its child is killed five times; the parent's anonymous memory
(/proc) is read after each restart. No burst runs in between, so only the restart is measured (an
accepted burst builds an adapted runner, about 10 MB, with or without restarts: stream/worker.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc (Linux)")

CODE = r"""
import json, os, signal, time
import torch
from stride_ros.core.resources import process_tree
from stride_ros.model.backends import Backend
from stride_ros.model.checkpoint import load_model
from stride_ros.stream.worker import ProcessWorker


def anon():
    return next(p for p in process_tree(os.getpid()) if p.pid == os.getpid()).anon_mb


def up(w, old, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        if w.proc is not None and w.proc.pid != old and w.proc.is_alive():
            return True
        time.sleep(0.05)
    return False


if __name__ == "__main__":
    torch.set_num_threads(1)
    model = load_model()
    w = ProcessWorker(max_restarts=10)
    w.start(model, Backend("torch").runner(model))
    after = []
    for _ in range(5):
        old = w.proc.pid
        os.kill(old, signal.SIGKILL)
        assert up(w, old), "no restart"
        time.sleep(1.0)  # the receiver thread settles (the child itself may still be importing)
        after.append(anon())
    restarts = w.restarts
    w.close()
    print(json.dumps({"after": after, "restarts": restarts}))
"""


def test_restarts_of_the_adaptation_child_do_not_grow_the_node(tmp_path):
    script = tmp_path / "restarts.py"
    script.write_text(CODE)
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    after = out["after"]
    assert out["restarts"] == 5
    # from the first restart to the fifth: flat (26 MB held per restart would show here as about 100 MB)
    assert after[-1] - after[0] < 2.0, after
