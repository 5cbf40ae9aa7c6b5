"""Losses on a stacked generator's list of outputs (intermediate supervision), and the positive/negative-balanced BCE
against a hand-written formula and its prior bias."""
import math

import numpy as np
import pytest
import torch

from lib.codec import HeatmapCodec
from lib.config import load_cfg
from lib.core.loss import (
    BALANCED_POSITIVE_LEVEL,
    JointsMSELoss,
    JointsWeightedBCELoss,
    bce_prior_logit,
    build_loss,
    final_output,
)


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    output = torch.randn(2, 3, 6, 5, generator=g)
    target = torch.rand(2, 3, 6, 5, generator=g) ** 12  # mostly small values, a third above the positive level
    weight = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    return output, target, weight


@pytest.mark.parametrize("criterion", [JointsMSELoss(), JointsWeightedBCELoss(), JointsWeightedBCELoss(
    weighting="balanced")])
def test_a_list_of_stack_outputs_gets_the_sum_of_the_per_stack_losses(criterion):
    output, target, weight = _batch()
    stacks = [output.clone().requires_grad_(True), (output * 0.5).requires_grad_(True)]
    total = criterion(stacks, target, weight)
    assert total.item() == pytest.approx(criterion(stacks[0], target, weight).item()
                                         + criterion(stacks[1], target, weight).item(), rel=1e-6)
    total.backward()
    assert all(s.grad is not None and s.grad.abs().sum() > 0 for s in stacks)  # every stack is supervised
    assert final_output(stacks) is stacks[-1] and final_output(output) is output
    with pytest.raises(ValueError, match="empty list"):
        criterion([], target, weight)


def test_balanced_bce_matches_the_formula():
    output, target, weight = _batch(1)
    p = torch.sigmoid(output.double())
    t = target.double()
    labelled = (weight > 0)[..., None, None].expand_as(t)
    positive = (t >= BALANCED_POSITIVE_LEVEL) & labelled
    ratio = (labelled.sum() - positive.sum()).double() / positive.sum().double()
    pixel_weight = torch.where(positive, ratio, torch.ones_like(t))
    per_pixel = -(t * torch.log(p) + (1 - t) * torch.log(1 - p)) * pixel_weight
    expected = (per_pixel * weight.double()[..., None, None]).mean()
    loss = JointsWeightedBCELoss(weighting="balanced")(output, target, weight)
    assert 1 < ratio < 20 and loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # positives and negatives of the labelled maps carry the same total weight
    assert (pixel_weight * positive).sum().item() == pytest.approx(((~positive) & labelled).sum().item())
    cfg = load_cfg(None, ["LOSS.TYPE", "bce", "LOSS.BCE_WEIGHTING", "balanced"])
    assert build_loss(cfg).weighting == "balanced"
    with pytest.raises(ValueError, match="LOSS.BCE_WEIGHTING"):
        JointsWeightedBCELoss(weighting="skewed")


def test_balanced_prior_logit_is_the_best_constant_for_a_real_target():
    codec = HeatmapCodec(input_size=(96, 128), heatmap_size=(24, 32), sigma=2.0)
    target, weight = codec.encode(np.array([[47.0, 61.0]]), np.array([2.0]))
    target, weight = torch.from_numpy(target)[None], torch.from_numpy(weight)[None]
    criterion = JointsWeightedBCELoss(weighting="balanced")
    prior = bce_prior_logit((24, 32), 2.0, 10.0, weighting="balanced")

    def loss_at(c):
        return criterion(torch.full_like(target, c), target, weight).item()

    assert loss_at(prior) < loss_at(prior - 0.1) and loss_at(prior) < loss_at(prior + 0.1)
    assert prior != pytest.approx(bce_prior_logit((24, 32), 2.0, 10.0))
    assert math.isfinite(prior)


def test_trainers_start_every_hourglass_head_at_the_balanced_prior():
    from lib.core.function import build_train_generator

    cfg = load_cfg("experiments/synthetic/hourglass_quickstart.yaml",
                   ["LOSS.BCE_WEIGHTING", "balanced", "MODEL.EXTRA.NUM_FEATURES", "8"])
    model = build_train_generator(cfg)
    prior = bce_prior_logit(cfg.MODEL.HEATMAP_SIZE, cfg.MODEL.SIGMA, cfg.LOSS.BCE_POS_WEIGHT, "balanced")
    for name in model.output_layers:
        bias = model.get_submodule(name).bias
        assert torch.allclose(bias, torch.full_like(bias, prior))
