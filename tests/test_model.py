"""The DSTformer: cached one-frame steps equal the causal and ahead forwards; modes differ; configurations."""
import numpy as np
import pytest
import torch

from stride_ros.model.dstformer import CONFIGS, DSTformer, ModelConfig


def random_model(**kw) -> DSTformer:
    torch.manual_seed(0)
    m = DSTformer(ModelConfig(dim=32, heads=2, window=9, max_lag=3, **kw)).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.1)
    return m


@pytest.fixture(scope="module")
def small_random():
    return random_model(depth=2, lookahead=2)


@pytest.mark.parametrize("lookahead", [1, 3])
def test_ahead_step_equals_ahead_forward_from_the_first_frame(lookahead):
    """Each layer answers `lookahead` frames late: the step at frame t gives the forward's frame
    t - depth x lookahead, exactly, from the track's first frames and across ring wrap-arounds."""
    m = random_model(depth=3, lookahead=lookahead)
    D = m.cfg.ahead_delay
    x = torch.randn(2, 50, 17, 4)
    with torch.no_grad():
        st = m.empty_state(2, ahead=True)
        steps = torch.stack([m.step(x[:, t], st) for t in range(50)], 1)
        full = m(x, ahead=True)
    assert (steps[:, D:] - full[:, : 50 - D]).abs().max() < 1e-5


def test_ahead_mode_sees_exactly_its_lookahead(small_random):
    D = small_random.cfg.ahead_delay  # 2 layers x 2 frames
    x = torch.randn(1, 20, 17, 4)
    y = x.clone()
    y[:, 10] += 1.0
    with torch.no_grad():
        a, b = small_random(x, ahead=True), small_random(y, ahead=True)
    changed = (a - b).abs().amax(dim=(0, 2, 3, 4)) > 1e-6
    assert not changed[: 10 - D].any() and changed[10 - D:].all()


def test_stream_heads():
    cfg = ModelConfig(depth=4, lookahead=2, max_lag=16)
    assert cfg.stream_head(0) == (False, 0) and cfg.stream_head(7) == (False, 7)
    assert cfg.stream_head(8) == (True, 0) and cfg.stream_head(24) == (True, 16)
    assert cfg.max_stream_lag == 24
    assert ModelConfig(lookahead=0).stream_head(8) == (False, 8)
    late = ModelConfig(depth=4, lookahead=2, max_lag=16, ahead_from=12)
    assert late.stream_head(11) == (False, 11) and late.stream_head(12) == (True, 4)
    assert late.max_stream_lag == 24
    with pytest.raises(ValueError, match="no ahead mode"):
        random_model(depth=1)(torch.zeros(1, 3, 17, 4), ahead=True)


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


@pytest.mark.parametrize("ahead", [False, True])
@pytest.mark.parametrize("dynamic", [True, False])
def test_onnx_step_graph_matches_torch_step(small_random, dynamic, ahead):
    ort = pytest.importorskip("onnxruntime")
    from stride_ros.model.export import export_step, step_io_names
    sess = ort.InferenceSession(export_step(small_random, dynamic=dynamic, ahead=ahead),
                                providers=["CPUExecutionProvider"])
    ins, _ = step_io_names(small_random, ahead)
    st_t = small_random.empty_state(1, ahead=ahead)
    st_o = small_random.empty_state(1, ahead=ahead).numpy()
    xs = np.random.default_rng(0).normal(0, 0.3, (25, 1, 17, 4)).astype(np.float32)
    for x in xs:
        with torch.no_grad():
            want = small_random.step(torch.from_numpy(x), st_t).numpy()
        offsets, mask, delayed = st_o.inputs(9, small_random.cfg.depth)
        res = sess.run(None, dict(zip(ins, [x, offsets, mask, *st_o.rings, *delayed])))
        n = len(st_o.rings)
        st_o.push(res[1:1 + n], res[1 + n:])
        assert np.abs(res[0] - want).max() < 1e-5


def test_step_graph_initializers_are_the_torch_weights(small_random):
    """Adapted weights and TensorRT refits find the weights by torch name: every one must be there."""
    onnx = pytest.importorskip("onnx")
    from stride_ros.model.export import WEIGHT_PREFIX, export_step, with_initializers
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


@pytest.mark.parametrize("lead_weight", [0.0, 0.5])
def test_forecast_loss_reaches_the_shared_causal_trunk_only_when_weighted(lead_weight):
    """`train --lead-weight 0` trains the causal trunk for the lag heads alone (the forecast heads are
    fitted afterwards by least squares): no forecast head then sends the trunk any gradient."""
    from stride_ros.model.train import mode_loss
    m = random_model(depth=2, lookahead=2, max_lead=3).train()
    x, target, lead = torch.randn(2, 9, 17, 4), torch.randn(2, 9, 17, 3), torch.randn(2, 9, 3, 17, 3)

    def grads(loss):
        m.zero_grad()
        loss.backward()
        return m.head.weight.grad.clone(), m.embed.weight.grad.clone()

    head_lag, trunk_lag = grads(mode_loss(m, x, target, "causal", 20.0, None, 0.0))
    head, trunk = grads(mode_loss(m, x, target, "causal", 20.0, lead, lead_weight))
    forecast_rows = slice(3 * (m.cfg.max_lag + 1), None)  # 3 outputs per head; lag heads first
    if lead_weight == 0:
        assert torch.equal(trunk, trunk_lag) and torch.equal(head, head_lag)
        assert not head[forecast_rows].any()
    else:
        assert head[forecast_rows].abs().sum() > 0
        assert not torch.allclose(trunk, trunk_lag)
