"""Heatmap losses: MSE and positive-weighted BCE against hand-written formulas, target weights, the BCE prior bias."""
import math

import numpy as np
import pytest
import torch

from lib.codec import HeatmapCodec
from lib.config import load_cfg
from lib.core.function import build_train_generator
from lib.core.loss import JointsMSELoss, JointsWeightedBCELoss, bce_prior_logit, build_loss, output_to_heatmap
from lib.models import build_generator
from tests.helpers import narrow_model_opts

QUICKSTART = "experiments/synthetic/omnipose_quickstart.yaml"


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    output = torch.randn(2, 3, 4, 5, generator=g)
    target = torch.rand(2, 3, 4, 5, generator=g)
    weight = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    return output, target, weight


def test_mse_matches_the_formula_and_ignores_weight_zero_joints():
    output, target, weight = _batch()
    expected = 0.0
    for b in range(2):
        for k in range(3):
            expected += 0.5 * float(((output[b, k] - target[b, k]) * weight[b, k]).pow(2).sum())
    expected /= output.numel()
    loss = JointsMSELoss()(output, target, weight[..., None])
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    changed = output.clone()
    changed[0, 1] += 5.0  # a weight-0 joint
    assert JointsMSELoss()(changed, target, weight).item() == pytest.approx(loss.item(), rel=1e-6)
    assert JointsMSELoss(use_target_weight=False)(changed, target, weight).item() > loss.item()


def test_bce_matches_the_formula_with_positives_up_weighted():
    output, target, weight = _batch(1)
    pos_weight = 10.0
    p = torch.sigmoid(output.double())
    t = target.double()
    per_pixel = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)) * (1 + (pos_weight - 1) * t)
    expected = (per_pixel * weight.double()[..., None, None]).mean()
    loss = JointsWeightedBCELoss(pos_weight=pos_weight)(output, target, weight)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # a missed peak costs pos_weight times more than the same error on background
    logits = torch.zeros(1, 1, 1, 2)
    one_pixel = JointsWeightedBCELoss(pos_weight=pos_weight, use_target_weight=False)
    miss = one_pixel(logits, torch.tensor([[[[1.0, 0.0]]]]), None)
    assert miss.item() == pytest.approx((pos_weight + 1) * math.log(2) / 2, rel=1e-6)


def test_build_loss_and_output_to_heatmap():
    assert isinstance(build_loss(load_cfg(None, ["LOSS.TYPE", "mse"])), JointsMSELoss)
    assert isinstance(build_loss(load_cfg(None, ["LOSS.TYPE", "bce"])), JointsWeightedBCELoss)
    x = torch.tensor([0.0, 2.0])
    assert torch.equal(output_to_heatmap(x, "mse"), x)
    assert torch.allclose(output_to_heatmap(x, "bce"), torch.sigmoid(x))


def test_bce_prior_logit_is_the_best_constant_for_a_real_target():
    """On a target made by the codec (24x32 heatmap, sigma 2, one joint), the prior beats nearby constants."""
    codec = HeatmapCodec(input_size=(96, 128), heatmap_size=(24, 32), sigma=2.0)
    target, weight = codec.encode(np.array([[47.0, 61.0]]), np.array([2.0]))
    target = torch.from_numpy(target)[None]
    weight = torch.from_numpy(weight)[None]
    criterion = JointsWeightedBCELoss(pos_weight=10.0)
    prior = bce_prior_logit((24, 32), 2.0, 10.0)

    def loss_at(c):
        return criterion(torch.full_like(target, c), target, weight).item()

    assert loss_at(prior) < loss_at(prior - 0.1) and loss_at(prior) < loss_at(prior + 0.1)
    assert loss_at(prior) < loss_at(0.0)


@pytest.mark.parametrize("loss_type", ["bce", "mse"])
def test_trainers_start_the_output_bias_at_the_prior_only_for_bce(loss_type):
    cfg = load_cfg(QUICKSTART, ["LOSS.TYPE", loss_type] + narrow_model_opts())
    model = build_train_generator(cfg)
    bias = model.get_submodule(model.output_layer).bias
    prior = bce_prior_logit(cfg.MODEL.HEATMAP_SIZE, cfg.MODEL.SIGMA, cfg.LOSS.BCE_POS_WEIGHT)
    if loss_type == "bce":
        assert torch.allclose(bias, torch.full_like(bias, prior))
    else:
        assert not torch.allclose(bias, torch.full_like(bias, prior))


def test_the_model_builder_does_not_know_the_loss():
    """build_generator alone keeps the init's bias whatever LOSS.TYPE says; only the trainers' set-up sets the prior."""
    cfg = load_cfg(QUICKSTART, ["LOSS.TYPE", "bce"] + narrow_model_opts())
    model = build_generator(cfg)
    bias = model.get_submodule(model.output_layer).bias
    prior = bce_prior_logit(cfg.MODEL.HEATMAP_SIZE, cfg.MODEL.SIGMA, cfg.LOSS.BCE_POS_WEIGHT)
    assert not torch.allclose(bias, torch.full_like(bias, prior))
