"""lib/core/optim.py: the LR schedules' edges (warm-up, the first iteration of a decay epoch, the cosine's end), the
optimizers' weight decay, and the shared optimizer step."""
import math

import pytest
import torch

from lib.config import load_cfg
from lib.core.optim import WarmupCosine, WarmupMultiStep, build_optimizer, build_scheduler, optimizer_step

QUICKSTART = "experiments/synthetic/omnipose_quickstart.yaml"


def lrs_seen(cfg, iters_per_epoch, total):
    """The LR each of `total` iterations runs with, stepping the scheduler after every one (as the trainer does)."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer(cfg, [param])
    scheduler = build_scheduler(cfg, optimizer, iters_per_epoch)
    seen = []
    for _ in range(total):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return seen, optimizer.param_groups[0]["lr"]


def test_step_decay_starts_at_the_first_iteration_of_each_milestone_epoch():
    cfg = load_cfg(QUICKSTART, ["TRAIN.LR_SCHEDULE", "step", "TRAIN.LR", "0.01", "TRAIN.LR_STEP", "[2, 4]",
                                "TRAIN.LR_FACTOR", "0.1", "TRAIN.WARMUP_ITERS", "0", "TRAIN.END_EPOCH", "5"])
    seen, _ = lrs_seen(cfg, iters_per_epoch=3, total=15)
    assert seen[:6] == [pytest.approx(0.01)] * 6  # epochs 0 and 1
    assert seen[5] == pytest.approx(0.01) and seen[6] == pytest.approx(0.001)  # last of epoch 1, first of epoch 2
    assert seen[11] == pytest.approx(0.001) and seen[12] == pytest.approx(0.0001)  # epoch 4 starts decayed twice


def test_warm_up_rises_linearly_from_the_warm_up_factor_then_holds():
    rule = WarmupMultiStep(iters_per_epoch=100, milestones=[50], factor=0.1, warmup_iters=10, warmup_factor=0.001)
    assert rule(0) == pytest.approx(0.001)
    assert rule(5) == pytest.approx(0.001 * 0.5 + 0.5)
    assert rule(9) == pytest.approx(0.001 * 0.1 + 0.9)
    assert rule(10) == rule(99) == 1.0


def test_cosine_ends_at_the_lr_factor_after_the_last_iteration():
    """The factor falls from 1 after the warm-up to exactly LR_FACTOR once the last iteration of END_EPOCH has
    stepped; the last iteration itself runs just above it."""
    cfg = load_cfg(QUICKSTART, ["TRAIN.LR_SCHEDULE", "cosine", "TRAIN.LR", "0.01", "TRAIN.LR_FACTOR", "0.05",
                                "TRAIN.WARMUP_ITERS", "4", "TRAIN.WARMUP_FACTOR", "0.1", "TRAIN.END_EPOCH", "3"])
    seen, after = lrs_seen(cfg, iters_per_epoch=10, total=30)
    assert seen[0] == pytest.approx(0.001) and seen[4] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(seen[4:], seen[5:])), "the cosine only falls after the warm-up"
    assert after == pytest.approx(0.0005, rel=1e-12)
    assert seen[-1] > after
    rule = WarmupCosine(total_iters=30, final_factor=0.05, warmup_iters=4, warmup_factor=0.1)
    assert rule(17) == pytest.approx(0.05 + 0.95 * 0.5)  # half-way between the warm-up's end and the last step
    assert rule(1000) == pytest.approx(0.05)


def test_the_schedule_resumes_from_its_state_dict():
    cfg = load_cfg(QUICKSTART, ["TRAIN.LR_STEP", "[1]", "TRAIN.WARMUP_ITERS", "3"])
    param = torch.nn.Parameter(torch.zeros(1))
    first = build_optimizer(cfg, [param])
    scheduler = build_scheduler(cfg, first, 4)
    for _ in range(6):
        first.step()
        scheduler.step()
    again = build_optimizer(cfg, [param])
    resumed = build_scheduler(cfg, again, 4)
    resumed.load_state_dict(scheduler.state_dict())
    again.load_state_dict(first.state_dict())
    assert again.param_groups[0]["lr"] == first.param_groups[0]["lr"]
    assert resumed.last_epoch == 6


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_weight_decay_is_applied_and_frozen_parameters_stay_out(name):
    cfg = load_cfg(QUICKSTART, ["TRAIN.OPTIMIZER", name, "TRAIN.WD", "0.01"])
    frozen = torch.nn.Parameter(torch.ones(1), requires_grad=False)
    optimizer = build_optimizer(cfg, [torch.nn.Parameter(torch.ones(1)), frozen])
    assert len(optimizer.param_groups[0]["params"]) == 1 and optimizer.param_groups[0]["weight_decay"] == 0.01


def test_a_bad_optimizer_or_schedule_names_the_key():
    with pytest.raises(ValueError, match="TRAIN.OPTIMIZER"):
        build_optimizer(load_cfg(QUICKSTART), [torch.nn.Parameter(torch.ones(1))], name="lamb")
    cfg = load_cfg(QUICKSTART)
    cfg.defrost()
    cfg.TRAIN.LR_SCHEDULE = "poly"
    with pytest.raises(ValueError, match="TRAIN.LR_SCHEDULE"):
        build_scheduler(cfg, torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1), 10)


def test_optimizer_step_clips_the_gradient_norm():
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([param], lr=1.0)
    loss = (param * torch.tensor([30.0, 40.0, 0.0])).sum()  # gradient norm 50
    optimizer_step(loss, optimizer, [param], max_norm=5.0)
    assert math.isclose(float(param.detach().norm()), 5.0, rel_tol=1e-6)
