"""The demo's PNG: its legend leaves the "... peaks at" notes readable, and when the node's absolute error
peaks above the raw estimator's, the PNG says why, with this run's numbers.

The demo's input is rebuilt here exactly as `stride-ros demo` builds it (the built-in walk through the
simulator, seed 0) and refined by the streaming refiner the node runs (`stream_sequence`: the same
pushes, in-process instead of over DDS).
"""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def demo_run(prior_model):
    from stride_ros.data.posefile import PoseSequence
    from stride_ros.data.simulator import SimulatorConfig, simulate
    from stride_ros.data.synthetic import synthetic_walk
    from stride_ros.eval.baselines import one_euro, raw_held
    from stride_ros.eval.benchmark import EVAL_FPS
    from stride_ros.model.backends import Backend
    from stride_ros.stream.refiner import StreamConfig
    from stride_ros.stream.sequence import stream_sequence
    sim = simulate(synthetic_walk(seconds=20.0, fps=EVAL_FPS, seed=0), EVAL_FPS, seed=7,
                   cfg=SimulatorConfig(distance_m=(3.5, 3.5)))  # ros/demo.py's input
    node, _, _ = stream_sequence(prior_model, PoseSequence(sim.poses, EVAL_FPS, sim.confidence),
                                 StreamConfig(lag=0, fps=EVAL_FPS), Backend("torch", "cpu"))
    rows = {"raw (estimator, held)": raw_held(sim.poses, sim.confidence, EVAL_FPS),
            "one_euro": one_euro(sim.poses, sim.confidence, EVAL_FPS), "stride_ros (node)": node}
    return sim, rows, EVAL_FPS


def test_abs_peak_above_the_raw_is_explained_with_this_runs_numbers(demo_run):
    from stride_ros.eval import metrics
    from stride_ros.ros.demo import abs_peak_note
    sim, rows, fps = demo_run
    raw, node = rows["raw (estimator, held)"], rows["stride_ros (node)"]
    e_node, e_raw = metrics.abs_error_per_frame(node, sim.gt), metrics.abs_error_per_frame(raw, sim.gt)
    k = int(np.argmax(e_node))
    assert e_node[k] > e_raw[k]  # the case the note is for: the node's worst frame is worse than the raw there
    note = abs_peak_note(sim, raw, node, fps)
    assert note and f"({e_node[k]:.0f} vs {e_raw[k]:.0f} mm at {k / fps:.1f} s)" in note
    assert sim.occluded[k].any() and "while the person is hidden" in note
    lower = note.split("mean ")[1].rstrip(".").split(" vs ")
    assert float(lower[0]) < float(lower[1].split()[0]), note  # over the hidden span the node is the better one
    assert abs_peak_note(sim, raw, sim.gt, fps) is None  # nothing to explain when the node is never worse


def test_legend_does_not_cover_the_peak_notes(demo_run, tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stride_ros.eval.benchmark import plot_clip
    sim, rows, _ = demo_run
    kept = []
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    plot_clip({"sim": sim, "outputs": rows}, tmp_path / "demo.png", title="demo", explain="why the peak")
    fig = kept[-1]
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    notes = [t for a in fig.axes for t in a.texts if "peaks at" in t.get_text()]
    assert notes, "no peak was cut off in this run: nothing to check"
    for t in notes:
        assert not legend.overlaps(t.get_window_extent(renderer)), t.get_text()
    assert legend.y0 >= ax.get_window_extent(renderer).y1 - 1  # above the plot, over no curve
    assert any("why the peak" in t.get_text() for t in fig.texts)
    assert (tmp_path / "demo.png").stat().st_size > 10_000
