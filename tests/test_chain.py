"""The camera chain on real video with absolute truth: landmarks files (their checks), placement on
the floor, `refine` on a landmarks file, and `evaluate --chain` (needs the shared real_chain cases)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from stride_ros.core.errors import InputError
from stride_ros.data.landmarkfile import LandmarkSequence, load_landmarks, save_landmarks


def chain_dir() -> Path | None:
    d = os.environ.get("STRIDE_ROS_CHAIN")
    return Path(d) if d and Path(d).is_dir() else None


needs_chain = pytest.mark.skipif(chain_dir() is None, reason="the real chain cases are not here (set "
                                 "STRIDE_ROS_CHAIN to ../shared/data/real_chain)")
CASE = "tc_S1_acting3_cam1"


@pytest.fixture(scope="module")
def short_case(tmp_path_factory) -> Path:
    """The first 240 frames of one real chain case (landmarks + truth), as a folder."""
    d = chain_dir()
    if d is None:
        pytest.skip("the real chain cases are not here")
    out = tmp_path_factory.mktemp("chain")
    with np.load(d / f"{CASE}.in.npz") as a:
        np.savez(out / f"{CASE}.in.npz", **{k: a[k][:240] if a[k].ndim and a[k].shape[0] > 240 else a[k]
                                           for k in a.files})
    with np.load(d / f"{CASE}.gt.npz") as b:
        np.savez(out / f"{CASE}.gt.npz", **{k: b[k][:240] if b[k].ndim and b[k].shape[0] > 240 else b[k]
                                           for k in b.files})
    return out


def _landmarks(T=5, several=False) -> LandmarkSequence:
    lead = (T, 2) if several else (T,)
    K = np.array([[1000.0, 0, 640], [0, 1000.0, 360], [0, 0, 1]])
    return LandmarkSequence(np.zeros((*lead, 33, 3), np.float32), np.zeros((*lead, 33, 2), np.float32),
                            np.ones((*lead, 33), np.float32), K, (1280, 720), 30.0)


def test_landmarks_files_round_trip_and_bad_ones_name_the_key(tmp_path):
    seq = _landmarks(several=True)
    seq.track_ids = np.zeros((5, 2), np.int64)
    save_landmarks(tmp_path / "ok.npz", seq)
    back = load_landmarks(tmp_path / "ok.npz")
    assert back.several and back.people() == 2 and back.track_ids.shape == (5, 2)
    good = {"world": np.zeros((5, 33, 3)), "image": np.zeros((5, 33, 2)), "visibility": np.ones((5, 33)),
            "K": seq.K, "image_size": np.array([1280, 720]), "fps": 30.0}
    for change, fragment in ((dict(image=np.zeros((5, 17, 2))), "'image'"), (dict(K=np.zeros((3, 3))), "'K'"),
                             (dict(world=np.zeros((5, 17, 3))), "'world'"),
                             (dict(floor=np.array([0, 1, 1, -2.0])), "unit"),
                             (dict(floor=np.array([0, -1, 0, 1.0])), "below its own floor"),
                             (dict(fps=0.0), "'fps'")):
        np.savez(tmp_path / "bad.npz", **{**good, **change})
        with pytest.raises(InputError, match=fragment):
            load_landmarks(tmp_path / "bad.npz")
    np.savez(tmp_path / "nokey.npz", **{k: v for k, v in good.items() if k != "visibility"})
    with pytest.raises(InputError, match="no 'visibility'"):
        load_landmarks(tmp_path / "nokey.npz")
    res = run_cli("refine", str(tmp_path / "nokey.npz"), "-o", str(tmp_path / "o.npz"))
    assert res.returncode == 2 and "visibility" in res.stderr and len(res.stderr.strip().splitlines()) == 1


@needs_chain
def test_refine_on_a_landmarks_file_places_on_the_floor_and_comes_close_to_the_truth(short_case, tmp_path):
    lm = short_case / f"{CASE}.in.npz"
    outs = {}
    for mode, extra in (("stream", []), ("stream", ["--no-floor"]), ("offline", [])):
        out = tmp_path / f"{mode}{len(extra)}.npz"
        res = run_cli("refine", str(lm), "-o", str(out), "--mode", mode, *extra)
        assert res.returncode == 0, res.stderr[-2000:]
        with np.load(out) as z:
            outs[(mode, bool(extra))] = z["poses"]
    with np.load(short_case / f"{CASE}.gt.npz") as g:
        gt, missing = g["poses"], g["missing"]
    J = [j for j in range(17) if j not in (9, 10)]
    seen = ~missing

    def abs_mm(p):
        return float(np.linalg.norm(p[seen][:, J] - gt[seen][:, J], axis=-1).mean() * 1000)
    floor_stream, plain_stream, floor_off = (abs_mm(outs[k]) for k in
                                             (("stream", False), ("stream", True), ("offline", False)))
    assert floor_stream < 0.8 * plain_stream, (floor_stream, plain_stream)  # the floor fixes the distance
    assert floor_stream < 200 and floor_off < 200, (floor_stream, floor_off)
    floor = load_landmarks(lm).floor
    ankles = outs[("stream", False)][:, [3, 6]]
    assert floor.height(ankles).min(-1).min() > 0.08 - 0.05 - 1e-3  # nobody published under the floor


@needs_chain
def test_evaluate_chain_scores_every_row_and_plots_the_distance(short_case, tmp_path):
    js, png = tmp_path / "chain.json", tmp_path / "chain.png"
    res = run_cli("evaluate", "--chain", str(short_case), "--rows", "placement,pnp,pnp_floor,placement_floor,"
                  "stream_lag0_nofloor,stream_lag0", "--json", str(js), "--plot", str(png), "--quiet", "--jobs", "1",
                  timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "pnp_floor" in res.stdout and "Abs seen" in res.stdout
    rep = json.loads(js.read_text())
    rows = {k: v["pooled"] for k, v in rep["rows"].items()}
    assert rows["pnp_floor"]["abs_seen"] < rows["pnp"]["abs_seen"]  # the floor halves the reference's error
    assert rows["stream_lag0"]["abs_seen"] < rows["stream_lag0_nofloor"]["abs_seen"]
    assert rows["stream_lag0"]["depth_pct_seen"] < rows["placement"]["depth_pct_seen"]
    assert png.stat().st_size > 10_000
    bad = run_cli("evaluate", "--chain", str(short_case), "--rows", "nonsense")
    assert bad.returncode == 2 and "unknown chain row" in bad.stderr


def test_placement_on_the_floor_corrects_an_estimator_that_misjudges_the_size():
    """BlazePose believes the person 10 % larger: placed by the image alone they stand 10 % too far;
    with the floor (the camera's mounting) the heel rests on it and the distance is right."""
    from scipy.spatial.transform import Rotation

    from stride_ros.core.floor import Floor
    from stride_ros.vision import camera
    from stride_ros.vision.blazepose import Landmarks
    from stride_ros.vision.estimator import place_landmarks
    floor = Floor.from_camera(2.0, 15.0)
    K = camera.Intrinsics(1000.0, 1000.0, 640.0, 360.0)
    rng = np.random.default_rng(4)
    body = rng.uniform([-0.2, -0.8, -0.1], [0.2, 0.8, 0.1], (33, 3))  # hip-centred, y down, metres
    body[[23, 24]] = [[0.1, 0, 0], [-0.1, 0, 0]]
    body[[27, 28]] = [[0.1, 0.85, 0], [-0.1, 0.85, 0]]
    body[[29, 30, 31, 32]] = [[0.1, 0.9, 0.05], [-0.1, 0.9, 0.05], [0.1, 0.92, -0.15], [-0.1, 0.92, -0.15]]
    R = Rotation.from_euler("x", -15.0, degrees=True).as_matrix()  # upright in the pitched camera's frame
    lowest = (body @ R.T @ floor.normal).min()
    t = np.array([0.3, 0.0, 5.0])
    t = t + floor.normal * (0.03 + floor.d - (t @ floor.normal) - lowest)  # the sole 3 cm above the floor
    truth = body @ R.T + t
    image = camera.project(truth, K.K)
    seen = Landmarks(body * 1.1, image, np.ones(33))  # the estimator's body, 10 % too large
    plain, grounded = place_landmarks(seen, K), place_landmarks(seen, K, floor)
    want = np.linalg.norm(truth[[23, 24]].mean(0))
    assert plain.distance_m == pytest.approx(want * 1.1, rel=0.03)
    assert grounded.distance_m == pytest.approx(want, rel=0.02) and grounded.ground_scale < 0.95
