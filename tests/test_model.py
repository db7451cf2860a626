"""The DSTformer: cached one-frame steps equal the causal forward; modes differ; configurations."""
import numpy as np
import pytest
import torch

from stride_ros.model import CONFIGS, DSTformer, ModelConfig


@pytest.fixture(scope="module")
def small_random():
    torch.manual_seed(0)
    m = DSTformer(ModelConfig(dim=32, depth=2, heads=2, window=9, max_lag=3)).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.1)
    return m


def test_step_equals_causal_forward_beyond_the_window(small_random):
    x = torch.randn(2, 40, 17, 4)
    with torch.no_grad():
        st = small_random.empty_state(2)
        steps = torch.stack([small_random.step(x[:, t], st) for t in range(40)], 1)
        full = small_random(x, causal=True)
    # the window is 9 frames: 40 steps wrap the ring four times and still match exactly
    assert (steps - full).abs().max() < 1e-5


def test_causal_mode_ignores_the_future_full_mode_does_not(small_random):
    x = torch.randn(1, 12, 17, 4)
    y = x.clone()
    y[:, 8:] += 1.0
    with torch.no_grad():
        c1, c2 = small_random(x, causal=True), small_random(y, causal=True)
        f1, f2 = small_random(x), small_random(y)
    assert torch.allclose(c1[:, :8], c2[:, :8], atol=1e-6)
    assert not torch.allclose(f1[:, :8], f2[:, :8], atol=1e-3)


def test_window_limits_attention(small_random):
    x = torch.randn(1, 30, 17, 4)
    y = x.clone()
    y[:, 0] += 5.0  # frame 0 is more than depth * window frames before the last one
    with torch.no_grad():
        a, b = small_random(x, causal=True), small_random(y, causal=True)
    assert torch.allclose(a[:, -1], b[:, -1], atol=1e-6)


@pytest.mark.parametrize("dynamic", [True, False])
def test_onnx_step_graph_matches_torch_step(small_random, dynamic):
    ort = pytest.importorskip("onnxruntime")
    from stride_ros.export import export_step
    from stride_ros.model import ring_inputs
    sess = ort.InferenceSession(export_step(small_random, dynamic=dynamic), providers=["CPUExecutionProvider"])
    st_t = small_random.empty_state(1)
    st_o = small_random.empty_state(1).numpy()
    xs = np.random.default_rng(0).normal(0, 0.3, (25, 1, 17, 4)).astype(np.float32)
    for x in xs:
        with torch.no_grad():
            want = small_random.step(torch.from_numpy(x), st_t).numpy()
        offsets, mask = ring_inputs(st_o.filled, st_o.slot, 9)
        res = sess.run(None, {"x": x, "offsets": offsets.astype(np.int64), "ring_mask": mask,
                              **{f"ring_{i}": r for i, r in enumerate(st_o.rings)}})
        st_o.push(res[1:])
        assert np.abs(res[0] - want).max() < 1e-5


def test_step_graph_initializers_are_the_torch_weights(small_random):
    """Adapted weights and TensorRT refits find the weights by torch name: every one must be there."""
    onnx = pytest.importorskip("onnx")
    from stride_ros.export import WEIGHT_PREFIX, export_step, with_initializers
    proto = onnx.load_from_string(export_step(small_random, dynamic=False))
    names = {i.name for i in proto.graph.initializer}
    assert {WEIGHT_PREFIX + k for k in small_random.state_dict()} <= names
    with pytest.raises(ValueError, match="no initializer"):
        with_initializers(proto, {**small_random.state_dict(), "extra.weight": torch.zeros(2)})


def test_configs():
    assert set(CONFIGS) >= {"paper", "small", "tiny"}
    p = CONFIGS["paper"]
    assert (p.dim, p.depth, p.heads, p.mlp_ratio, p.window) == (512, 5, 8, 2.0, 243)
    assert 41e6 < DSTformer(p).num_params() < 43e6
