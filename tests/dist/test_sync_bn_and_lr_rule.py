"""MODEL.SYNC_BN and the batch/LR rule (TRAIN.AUTO_SCALE_LR), in this process.

torch 2.13's SyncBatchNorm refuses CPU tensors in a training forward once a process group is up ('SyncBatchNorm
expected input tensor to be on GPU'), so its synchronisation cannot run on gloo here. What can be tested on a CPU:
that SYNC_BN reaches both trainers' DDP wrapping, that a CPU run is refused before any step with a message naming the
key, and that the conversion keeps the parameters and the checkpoint layout. A one-process gloo group stands in for
torchrun where a group must exist.
"""
import logging

import pytest
import torch
import torch.distributed

from lib.config import load_cfg
from lib.core import optim
from lib.core.function import build_pure_step, build_train_generator
from lib.core.function_AN import build_adversarial_models, build_adversarial_step
from lib.utils import dist
from lib.utils.errors import UserError
from tests.helpers import narrow_model_opts

QUICKSTART = "experiments/synthetic/omnipose_quickstart.yaml"
CPU = torch.device("cpu")


def tiny_cfg(*opts):
    return load_cfg(QUICKSTART, narrow_model_opts() + [
        "MODEL.IMAGE_SIZE", "[48,64]", "MODEL.HEATMAP_SIZE", "[12,16]", "AMP", "False", "CHANNELS_LAST", "False",
        "GAN.POSE_WIDTHS", "[8,16,16,16,16]", "GAN.POSE_DEC_WIDTHS", "[16,16,8]",
        "GAN.CONF_WIDTHS", "[8,8,8,8,8]", "GAN.CONF_DEC_WIDTHS", "[8,8,8]"] + list(opts))


@pytest.fixture
def process_group():
    """A gloo group of one process (what torchrun would have set up), torn down after the test."""
    torch.distributed.init_process_group("gloo", store=torch.distributed.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        torch.distributed.destroy_process_group()


def test_torch_sync_batchnorm_refuses_cpu_in_training(process_group):
    """The fact the CPU refusal rests on: if a torch update lifts it, this fails and SYNC_BN can be tested on gloo."""
    layer = torch.nn.SyncBatchNorm(4)
    with pytest.raises(ValueError, match="expected input tensor to be on GPU"):
        layer(torch.randn(2, 4, 3, 3))


@pytest.mark.parametrize("trainer", ["pure", "adversarial"])
def test_sync_bn_on_cpu_is_refused_before_training(process_group, trainer):
    cfg = tiny_cfg("MODEL.SYNC_BN", "True")
    with pytest.raises(UserError, match=r"MODEL.SYNC_BN True needs CUDA.*set MODEL.SYNC_BN False"):
        if trainer == "pure":
            build_pure_step(cfg, CPU, build_train_generator(cfg), 5)
        else:
            build_adversarial_step(cfg, CPU, build_adversarial_models(cfg, CPU), 5)
    # off (the default), the same builders wrap for DDP without complaint
    cfg = tiny_cfg()
    step, _ = build_pure_step(cfg, CPU, build_train_generator(cfg), 5)
    assert isinstance(step.generator, torch.nn.parallel.DistributedDataParallel)


def test_sync_bn_in_one_process_is_plain_batchnorm():
    """Without a process group there is nothing to synchronise: the model stays as it is."""
    model = build_train_generator(tiny_cfg())
    assert dist.wrap_ddp(model, CPU, sync_bn=True) is model
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())


def test_sync_bn_conversion_keeps_parameters_and_checkpoint_layout(process_group, monkeypatch):
    """What the conversion does on CUDA, checked on the CPU: every BatchNorm of the generator becomes SyncBatchNorm,
    the optimizer's parameters are still the model's, the state_dict keys are the same (checkpoints load strictly
    into a plain generator), and inference is unchanged. DDP itself refuses SyncBatchNorm on CPU modules, which
    shows that wrap_ddp converted before wrapping once the device check is bypassed."""
    cfg = tiny_cfg()
    torch.manual_seed(0)
    model = build_train_generator(cfg)
    plain = build_train_generator(cfg)
    plain.load_state_dict(model.state_dict())
    params_before = [id(p) for p in model.parameters()]
    batchnorms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    monkeypatch.setattr(dist, "check_sync_bn", lambda sync_bn, device: sync_bn)
    with pytest.raises(ValueError, match="SyncBatchNorm layers only work with GPU modules"):
        dist.wrap_ddp(model, CPU, sync_bn=True)
    assert dist.wrap_ddp(build_train_generator(cfg), CPU, sync_bn=False) is not None  # no SyncBatchNorm: wrapped

    converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert batchnorms > 0
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in converted.modules()) == batchnorms
    assert [id(p) for p in converted.parameters()] == params_before
    assert list(converted.state_dict()) == list(plain.state_dict())
    build_train_generator(cfg).load_state_dict(converted.state_dict(), strict=True)
    images = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        assert torch.equal(converted.eval()(images), plain.eval()(images))


# ---------------------------------------------------------------------------------------------------------------
# the batch/LR rule
# ---------------------------------------------------------------------------------------------------------------

def test_lr_is_not_rescaled_by_default():
    cfg = tiny_cfg()
    assert cfg.TRAIN.AUTO_SCALE_LR is False and optim.lr_scale(cfg) == 1.0
    optimizer = optim.build_optimizer(cfg, build_train_generator(cfg).parameters())
    assert optimizer.param_groups[0]["lr"] == cfg.TRAIN.LR


def test_auto_scale_lr_follows_the_global_batch(monkeypatch, caplog):
    cfg = tiny_cfg("TRAIN.AUTO_SCALE_LR", "True", "TRAIN.BASE_BATCH_SIZE", "64", "TRAIN.BATCH_SIZE_PER_GPU", "8",
                   "TRAIN.LR", "0.004", "GAN.D_LR", "0.0002")
    assert optim.lr_scale(cfg) == 8 / 64  # one process: global batch 8
    monkeypatch.setattr(dist, "get_world_size", lambda: 4)  # as under torchrun with 4 processes
    assert optim.lr_scale(cfg) == 32 / 64
    generator, pose_disc, conf_disc = build_adversarial_models(cfg, CPU)
    assert optim.build_optimizer(cfg, generator.parameters()).param_groups[0]["lr"] == pytest.approx(0.002)
    assert optim.build_d_optimizer(cfg, (pose_disc, conf_disc)).param_groups[0]["lr"] == pytest.approx(0.0001)
    with caplog.at_level(logging.INFO, logger="lib.core.optim"):
        optim.log_batch_rule(cfg)
    assert ("global batch 32 = 8 per process (TRAIN.BATCH_SIZE_PER_GPU) x 4 processes; TRAIN.AUTO_SCALE_LR: the LRs "
            "(TRAIN.LR, GAN.D_LR) x 32 / TRAIN.BASE_BATCH_SIZE 64, TRAIN.LR 0.004 -> 0.002") in caplog.text


def test_auto_scale_lr_needs_a_base_batch():
    cfg = tiny_cfg("TRAIN.AUTO_SCALE_LR", "True")
    with pytest.raises(ValueError, match="TRAIN.AUTO_SCALE_LR True needs TRAIN.BASE_BATCH_SIZE > 0"):
        optim.build_optimizer(cfg, build_train_generator(cfg).parameters())
