"""`stride-ros evaluate` end to end on real clips: table, JSON, PNG, every method on the same input."""
import json
import os

import pytest
from conftest import needs_data, run_cli


@needs_data
def test_evaluate_writes_table_json_and_plot(tmp_path, walk_bvh):
    other = walk_bvh.parent / "08_02.bvh"
    model = ["--model", os.environ["STRIDE_TEST_MODEL"]] if os.environ.get("STRIDE_TEST_MODEL") else []
    res = run_cli("evaluate", str(walk_bvh), str(other), "--methods", "baselines,prior,stream_lag4_prior",
                  "--lags", "4", "--json", str(tmp_path / "r.json"), "--plot", str(tmp_path / "e.png"),
                  "--plot-clip", "08_02", "--quiet", *model)
    assert res.returncode == 0, res.stderr
    for name in ("hold_last", "linear_interp", "one_euro", "savgol", "prior", "stream_lag4_prior"):
        assert name in res.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_clips"] == 2 and 0.3 < report["occluded_share"] < 0.9  # short clips: partial occlusions add up
    for m in report["methods"].values():
        assert set(m["all"]) == {"mpjpe", "pa_mpjpe", "n_mpjpe", "accel", "abs"}
        assert m["occluded"]["mpjpe"] >= 0 and set(m["per_clip"]) == {"08_01", "08_02"}
    assert (tmp_path / "e.png").stat().st_size > 10_000


def test_evaluate_is_deterministic_for_a_seed(tmp_path, synthetic_clip):
    import numpy as np
    np.savez(tmp_path / "walk.npz", poses=synthetic_clip, fps=30.0)
    outs = []
    for k in range(2):
        res = run_cli("evaluate", str(tmp_path / "walk.npz"), "--methods", "baselines", "--seed", "3",
                      "--json", str(tmp_path / f"r{k}.json"), "--quiet")
        assert res.returncode == 0, res.stderr
        outs.append(json.loads((tmp_path / f"r{k}.json").read_text())["methods"])
    for name in outs[0]:
        assert outs[0][name]["all"] == outs[1][name]["all"]


def test_unknown_method_is_an_error(tmp_path, synthetic_clip):
    import numpy as np
    np.savez(tmp_path / "walk.npz", poses=synthetic_clip, fps=30.0)
    res = run_cli("evaluate", str(tmp_path / "walk.npz"), "--methods", "magic", "--quiet")
    assert res.returncode == 2 and "unknown method 'magic'" in res.stderr


def test_forced_trunk_is_plain_configuration_and_names_bad_lags(prior_model):
    from stride_ros.core.errors import InputError
    from stride_ros.eval.methods import build_methods
    from stride_ros.stream.refiner import StreamConfig, StreamingRefiner
    if not prior_model.cfg.lookahead:
        pytest.skip("the model under test has no ahead trunk")
    c = prior_model.cfg
    head = StreamingRefiner.stream_head
    assert head(prior_model, StreamConfig(lag=c.max_lag, trunk="causal")) == (False, c.max_lag)
    assert head(prior_model, StreamConfig(lag=c.ahead_delay, trunk="ahead")) == (True, 0)
    assert head(prior_model, StreamConfig(lag=c.max_lag)) == c.stream_head(c.max_lag)  # auto: the model's choice
    assert prior_model.cfg == c  # the shared model keeps its own choice
    with pytest.raises(ValueError, match="causal trunk has heads"):
        head(prior_model, StreamConfig(lag=c.max_lag + 1, trunk="causal"))
    with pytest.raises(ValueError, match="ahead trunk streams"):
        head(prior_model, StreamConfig(lag=c.ahead_delay - 1, trunk="ahead"))
    with pytest.raises(InputError, match="causal trunk has heads"):
        build_methods(f"stream_lag{c.max_lag + 1}_causal_prior")


def test_frames_to_reveal_counts_to_the_next_fully_seen_frame():
    import numpy as np

    from stride_ros.eval.benchmark import frames_to_reveal, reveal_masks
    occ = np.array([0, 1, 1, 1, 0, 0, 1, 1], bool)
    r = frames_to_reveal(occ)
    assert r[:6].tolist() == [0, 3, 2, 1, 0, 0]
    assert (r[6:] > 10 ** 5).all()  # never seen again before the clip ends
    masks = reveal_masks(r)
    assert sum(m.astype(int) for m in masks.values()).tolist() == [1] * len(occ)  # every frame in one bin
    assert masks["seen"].tolist() == (~occ).tolist() and masks["33+"][6:].all()


def test_breakdown_by_reveal_is_in_the_report(tmp_path, synthetic_clip):
    import numpy as np
    np.savez(tmp_path / "walk.npz", poses=synthetic_clip, fps=30.0)
    res = run_cli("evaluate", str(tmp_path / "walk.npz"), "--methods", "hold_last,linear_interp",
                  "--json", str(tmp_path / "r.json"), "--quiet")
    assert res.returncode == 0, res.stderr
    assert "MPJPE by frames until the person is fully seen again" in res.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    share = report["reveal_share"]
    assert abs(sum(share.values()) - 1) < 1e-9 and abs(share["seen"] - (1 - report["occluded_share"])) < 1e-9
    for m in report["methods"].values():
        assert set(m["by_reveal"]) == set(share)
        seen = m["by_reveal"]["seen"]
        # the seen and occluded bins average back to the all-frames figure
        occ_share = report["occluded_share"]
        assert abs(seen * (1 - occ_share) + m["occluded"]["mpjpe"] * occ_share - m["all"]["mpjpe"]) < 1e-3


def test_each_ablation_row_adds_one_change_to_the_row_before():
    """The ablation reads row by row; a default changing under a row would silently add a second
    change to it (as the top-2 default once did to `tta:+gate`)."""
    from dataclasses import asdict

    from stride_ros.eval.methods import ABLATION

    added = {"tta:+vel": {"w_vel"}, "tta:+limb": {"w_limb"}, "tta:paper": {"w_nmpjp"},
             "tta:+conf": {"confidence"}, "tta:+gate": {"gate_mm"}, "tta:+overlap": {"overlap"},
             "tta:+top2": {"adapt_layers"}, "stride": {"holdout_share", "guard"}}
    rows = list(ABLATION)
    assert rows[1:] == list(added)
    for before, row in zip(rows, rows[1:]):
        a, b = asdict(ABLATION[before](30)), asdict(ABLATION[row](30))
        assert {k for k in a if a[k] != b[k]} == added[row], row
