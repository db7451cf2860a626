"""STRIDE's test-time adaptation: losses by hand, the procedure lowers its loss, the guard works."""
import logging
import re

import numpy as np
import pytest
import torch

from stride_ros.data.simulator import simulate
from stride_ros.offline.adapt import (
    AdaptConfig,
    adapt_model,
    loss_limb,
    loss_mpjp,
    loss_nmpjp,
    loss_velocity,
    pseudo_labels,
    refine_offline,
    stride_loss,
)


def test_mpjp_by_hand():
    P = torch.zeros(1, 2, 17, 3)
    Q = torch.zeros(1, 2, 17, 3)
    Q[0, 0, 1] = torch.tensor([3.0, 4.0, 0.0])
    w = torch.ones(1, 2, 17)
    assert float(loss_mpjp(P, Q, w)) == pytest.approx(5 / 34)
    w[0, 0, 1] = 0  # a zero-weight target does not count
    assert float(loss_mpjp(P, Q, w)) == pytest.approx(0.0)


def test_velocity_by_hand():
    P = torch.zeros(1, 2, 17, 3)
    Q = torch.zeros(1, 2, 17, 3)
    Q[0, 1, 2] = torch.tensor([0.0, 0.0, 2.0])
    assert float(loss_velocity(P, Q, torch.ones(1, 2, 17))) == pytest.approx(2 / 17)


def test_limb_by_hand():
    P = torch.zeros(1, 2, 17, 3)
    P[..., :, 1] = torch.arange(17, dtype=torch.float32)  # every joint on a line: constant bones
    assert float(loss_limb(P)) == pytest.approx(0.0, abs=1e-10)
    P2 = P.clone()
    P2[0, 0, 10, 1] = P2[0, 0, 9, 1] + 1.0  # bone 9-10 (index 9) lengths 1 and 3 over time
    P2[0, 1, 10, 1] = P2[0, 1, 9, 1] + 3.0
    # normalised lengths 0.5 and 1.5 -> variance 0.25, averaged over 16 bones
    assert float(loss_limb(P2)) == pytest.approx(0.25 / 16)


def test_nmpjp_is_scale_invariant_by_hand():
    Q = torch.randn(1, 3, 17, 3)
    w = torch.ones(1, 3, 17)
    assert float(loss_nmpjp(2.0 * Q, Q, w)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss_mpjp(2.0 * Q, Q, w)) > 0.1


def test_total_weights_are_the_papers():
    P, Q, w = torch.zeros(1, 2, 17, 3), torch.zeros(1, 2, 17, 3), torch.ones(1, 2, 17)
    Q[0, 1, 2] = torch.tensor([0.0, 0.0, 2.0])
    cfg = AdaptConfig()
    expected = (1 * loss_mpjp(P, Q, w) + 20 * loss_velocity(P, Q, w) + 200 * loss_limb(P)
                + 0.5 * loss_nmpjp(P, Q, w))
    assert float(stride_loss(P, Q, w, cfg)) == pytest.approx(float(expected))
    assert (cfg.w_mpjp, cfg.w_vel, cfg.w_limb, cfg.w_nmpjp) == (1.0, 20.0, 200.0, 0.5)
    assert (cfg.epochs, cfg.lr, cfg.weight_decay, cfg.lr_decay) == (30, 2e-4, 0.01, 0.99)


def test_pseudo_labels_interpolate_and_weight():
    x = np.zeros((5, 17, 4), np.float32)
    x[:, :, 3] = 0.9
    x[0, :, 0], x[4, :, 0] = 0.0, 0.4
    x[1:4, :, 3] = 0.0  # three frames with no detection
    Q, w = pseudo_labels(x, None, AdaptConfig.paper())
    np.testing.assert_allclose(Q[:, 5, 0], [0.0, 0.1, 0.2, 0.3, 0.4], atol=1e-6)
    assert (w == 1).all()  # the paper: every frame a full-weight target
    Q, w = pseudo_labels(x, None, AdaptConfig())
    np.testing.assert_allclose(w[:, 5], [0.9, 0.2, 0.2, 0.2, 0.9], atol=1e-6)
    prior = Q.copy()
    prior[0, 3] += 0.5  # 500 mm from the target: gated out
    _, w = pseudo_labels(x, prior, AdaptConfig(gate_mm=150))
    assert w[0, 3] == 0 and w[0, 4] > 0


def test_adaptation_lowers_loss_on_a_real_clip(prior_model, walk_clip):
    from stride_ros.offline.windows import prepare
    sim = simulate(walk_clip[:160], 30.0, seed=3)
    x, _, _ = prepare(sim.poses, sim.confidence, 30.0, prior_model.cfg.canonical)
    m, reason, losses = adapt_model(prior_model, x, AdaptConfig(epochs=8, holdout_share=0.0))
    assert m is not None, reason
    assert losses[-1] < losses[0]


def test_only_the_top_layers_adapt(prior_model, walk_clip):
    """The shipped configuration adapts the top two layers and the head; the frozen bottom must come
    back bit-identical (and the paper's configuration still adapts every weight)."""
    from stride_ros.offline.windows import prepare
    sim = simulate(walk_clip[:100], 30.0, seed=3)
    x, _, _ = prepare(sim.poses, sim.confidence, 30.0, prior_model.cfg.canonical)
    base = prior_model.state_dict()
    top = ("layers.2.", "layers.3.", "ln.", "head.")
    for cfg in (AdaptConfig(epochs=2, holdout_share=0.0), AdaptConfig.paper(epochs=2)):
        m, reason, _ = adapt_model(prior_model, x, cfg)
        assert m is not None, reason
        for k, v in m.state_dict().items():
            trained = cfg.adapt_layers is None or k.startswith(top)
            assert torch.equal(v, base[k]) != trained, k  # AdamW moves every trained tensor
    with pytest.raises(ValueError, match="layers"):
        adapt_model(prior_model, x, AdaptConfig(epochs=1, adapt_layers=9))


def test_holdout_hides_spans_from_the_fit_and_rejects_copying_the_estimator(prior_model, walk_clip):
    """The adaptation lowers its training loss, yet predicts frames it never saw worse than the
    prior: the held-out check must see that (as it does on the validation subjects) and say so."""
    from stride_ros.offline.adapt import holdout_frames
    from stride_ros.offline.windows import prepare
    sim = simulate(walk_clip[:160], 30.0, seed=3)
    x, _, _ = prepare(sim.poses, sim.confidence, 30.0, prior_model.cfg.canonical)
    cfg = AdaptConfig(epochs=8)
    held = holdout_frames(x, cfg)
    assert 0.1 < held.mean() < 0.2 and (held == holdout_frames(x, cfg)).all()
    assert ((x[held, :, 3] >= 0.5).sum(1) >= 12).any()  # spans start on well-observed frames
    m, reason, losses = adapt_model(prior_model, x, cfg)
    assert losses[-1] < losses[0]
    assert m is None and reason.startswith("adaptation did not predict held-out frames better"), reason
    after, before = (float(v) for v in re.findall(r"([\d.]+) mm", reason))
    assert after >= before * (1 - cfg.holdout_margin)


def test_holdout_accepts_adaptation_that_helps(prior_model, walk_clip):
    """A prior that is wrong for this person (every output 25 % too big) fitted to clean labels:
    adaptation fixes what the prior got wrong, held-out frames included, and the check keeps it."""
    import copy

    from stride_ros.offline.windows import prepare
    wrong = copy.deepcopy(prior_model)
    with torch.no_grad():
        wrong.head.weight.mul_(1.25)
        wrong.head.bias.mul_(1.25)
    gt = simulate(walk_clip[:160], 30.0, seed=3).gt  # the truth, in the camera frame the prior knows
    x, _, _ = prepare(gt, np.ones(gt.shape[:2], np.float32), 30.0, prior_model.cfg.canonical)
    m, reason, _ = adapt_model(wrong, x, AdaptConfig(epochs=10, gate_mm=None))
    assert m is not None and "held-out" in reason, reason
    before, after = (float(v) for v in re.findall(r"([\d.]+) -> ([\d.]+) mm", reason)[0])
    assert after < 0.98 * before


def test_guard_discards_a_poisoned_adaptation(prior_model, synthetic_clip, caplog):
    sim = simulate(synthetic_clip[:120], 30.0, seed=5)
    prior_only = refine_offline(prior_model, sim.poses, sim.confidence, 30.0, AdaptConfig(epochs=0))
    poisoned = AdaptConfig(epochs=3, lr=1e6)  # one step at this rate wrecks the weights
    with caplog.at_level(logging.WARNING, logger="stride_ros.offline.adapt"):
        res = refine_offline(prior_model, sim.poses, sim.confidence, 30.0, poisoned)
    assert not res.adapted
    assert "diverged" in res.reason
    assert "falling back to the prior" in caplog.text
    np.testing.assert_allclose(res.poses, prior_only.poses, atol=1e-6)


def test_offline_output_complete_same_length_same_frame(prior_model, synthetic_clip):
    sim = simulate(synthetic_clip[:200], 30.0, seed=6)
    res = refine_offline(prior_model, sim.poses, sim.confidence, 30.0, AdaptConfig(epochs=2))
    assert res.poses.shape == sim.poses.shape and not np.isnan(res.poses).any()
    # same frame: absolute positions stay where the person is (within 0.3 m on average)
    assert np.linalg.norm(res.poses - sim.gt, axis=-1).mean() < 0.3
