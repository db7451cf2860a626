"""Model files fail loudly and precisely; the ONNX export matches torch."""
import os

import numpy as np
import pytest
import torch
from conftest import run_cli

from stride_ros.core.errors import CheckpointError
from stride_ros.model.checkpoint import load_checkpoint, load_model, save_checkpoint
from stride_ros.model.dstformer import CONFIGS, DSTformer, ModelConfig


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, DSTformer(CONFIGS["tiny"]), meta={"note": "test"})
    return path


def test_round_trip(tiny_file):
    m = load_model(tiny_file)
    assert m.cfg == CONFIGS["tiny"] and m.meta == {"note": "test"}


def test_missing_empty_truncated_corrupt(tmp_path, tiny_file):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nope.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_model(tmp_path / "empty.pt")
    data = tiny_file.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut.pt: not a readable model file, truncated or corrupt"):
        load_model(tmp_path / "cut.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 1000)
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_model(tmp_path / "junk.pt")


def test_mismatched_configuration_names_what_differs(tiny_file, tmp_path):
    with pytest.raises(CheckpointError, match="dim is 32, expected 64"):
        load_checkpoint(tiny_file, expect=CONFIGS["small"])
    blob = torch.load(tiny_file, weights_only=True)
    blob["config"]["dim"] = 48  # weights no longer fit the configuration
    torch.save(blob, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match=r"tensor .* has shape"):
        load_model(tmp_path / "mismatch.pt")
    blob = torch.load(tiny_file, weights_only=True)
    blob["format"] = "something.else"
    torch.save(blob, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a stride_ros prior"):
        load_model(tmp_path / "other.pt")
    blob = torch.load(tiny_file, weights_only=True)
    next(iter(blob["state_dict"].values())).fill_(float("nan"))
    torch.save(blob, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match="NaN"):
        load_model(tmp_path / "nan.pt")


def test_cli_names_the_bad_model_file(tmp_path, synthetic_clip):
    from stride_ros.data.posefile import PoseSequence, save_poses
    save_poses(tmp_path / "in.npz", PoseSequence(synthetic_clip[:40], 30.0))
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    res = run_cli("refine", str(tmp_path / "in.npz"), "-o", str(tmp_path / "out.npz"),
                  "--model", str(tmp_path / "bad.pt"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert str(tmp_path / "bad.pt") in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_shipped_model_onnx_parity(prior_model, tmp_path):
    pytest.importorskip("onnxruntime")
    from stride_ros.model.export import export_full, parity
    onnx_bytes = export_full(prior_model, tmp_path / "m.onnx")
    x = np.random.default_rng(0).normal(0, 0.25, (2, prior_model.cfg.window, 17, 4)).astype(np.float32)
    x[..., 3] = np.random.default_rng(1).uniform(0, 1, x.shape[:-1])
    assert parity(prior_model, onnx_bytes, x) < 1e-4  # metres: under 0.1 mm
    assert parity(prior_model, onnx_bytes, x[:, :37]) < 1e-4  # any window length


def test_export_cli(tmp_path):
    model = ["--model", os.environ["STRIDE_TEST_MODEL"]] if os.environ.get("STRIDE_TEST_MODEL") else []
    res = run_cli("export", "--format", "onnx", "-o", str(tmp_path / "prior.onnx"), *model)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "prior.onnx").exists() and (tmp_path / "prior_step.onnx").exists()
    from stride_ros.model.checkpoint import load_model
    if load_model(os.environ.get("STRIDE_TEST_MODEL")).cfg.lookahead:
        assert (tmp_path / "prior_step_ahead.onnx").exists()
    diff_mm = float(res.stdout.split("max |diff|")[1].split()[0])
    assert diff_mm < 0.1


def test_model_configs_have_the_documented_sizes():
    assert 41e6 < DSTformer(CONFIGS["paper"]).num_params() < 43e6
    assert ModelConfig().window == CONFIGS["small"].window


def test_onnx_runner_runs_the_weights_it_is_given(prior_model):
    """A runner for adapted weights must run them (and match torch with the same weights), not the
    weights the step graph was first exported with."""
    pytest.importorskip("onnxruntime")
    from stride_ros.model.backends import OrtRunner, TorchRunner
    base = OrtRunner(prior_model)
    other = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
             for k, v in prior_model.state_dict().items()}
    x = np.random.default_rng(0).random((1, 17, 4), dtype=np.float32)
    outs = {}
    for name, runner in (("base", base), ("onnx", base.with_weights(other)),
                         ("torch", TorchRunner(prior_model).with_weights(other))):
        state = runner.empty_state()
        for _ in range(5):
            y, state = runner.step(x, state)
        outs[name] = np.asarray(y)
    assert np.abs(outs["onnx"] - outs["base"]).max() > 1e-3
    assert np.abs(outs["onnx"] - outs["torch"]).max() < 1e-4
