"""Model construction from the config: the generators (OmniPose, plain pose HRNet, stacked hourglass).

    model = build_generator(cfg)          # init_weights() if MODEL.INIT_WEIGHTS, then MODEL.PRETRAINED if set
    model = build_generator(cfg, output_bias=-4.2)   # the trainers' set-up passes the loss's starting bias
    check_train_batch_size(cfg, cfg.TRAIN.BATCH_SIZE_PER_GPU)

The class is picked from the plain dict GENERATORS; cfg keys become constructor arguments in generator_kwargs().
"""
import logging

import torch.nn as nn

from lib.models.hourglass import StackedHourglass
from lib.models.hrnet_common import HRNetBackbone, stage_specs_from_cfg
from lib.models.omnipose import OmniPose
from lib.models.pose_hrnet import PoseHighResolutionNet
from lib.utils.checkpoint import load_pretrained_backbone

logger = logging.getLogger(__name__)

GENERATORS = {"omnipose": OmniPose, "pose_hrnet": PoseHighResolutionNet, "hourglass": StackedHourglass}


def _generator_class(cfg):
    name = cfg.MODEL.NAME
    if name not in GENERATORS:
        raise ValueError(f"MODEL.NAME={name!r} is not one of {sorted(GENERATORS)}")
    return GENERATORS[name]


def generator_kwargs(cfg) -> dict:
    """Constructor arguments of the MODEL.NAME generator, read from MODEL.NUM_JOINTS and MODEL.EXTRA."""
    if cfg.MODEL.NAME == "hourglass":
        extra = cfg.MODEL.EXTRA
        return {"num_joints": cfg.MODEL.NUM_JOINTS, "num_stacks": extra.NUM_STACKS,
                "num_features": extra.NUM_FEATURES, "depth": extra.HOURGLASS_DEPTH}
    stage1, stages = stage_specs_from_cfg(cfg.MODEL.EXTRA)
    kwargs = {"num_joints": cfg.MODEL.NUM_JOINTS, "stage1": stage1, "stages": stages}
    if cfg.MODEL.NAME == "omnipose":
        kwargs["head"] = cfg.MODEL.EXTRA.HEAD
    else:
        kwargs["final_conv_kernel"] = cfg.MODEL.EXTRA.FINAL_CONV_KERNEL
    return kwargs


def build_generator(cfg, output_bias=None) -> nn.Module:
    """Builds the MODEL.NAME generator on the current default device (CPU unless a `torch.device` context is active).

    Runs model.init_weights() when MODEL.INIT_WEIGHTS, sets the output conv's bias to `output_bias` when given, then
    loads MODEL.PRETRAINED (if set) non-strictly with MODEL.EXTRA.PRETRAINED_LAYERS
    (lib.utils.checkpoint.load_pretrained_backbone).

    Args:
        output_bias: starting value of every output-channel bias (None keeps the init's). The model does not know
            the loss; the trainers' set-up (lib.core.function.build_train_generator) passes the loss's prior here.
    Returns:
        The model; forward: images (B, 3, H, W) -> heatmaps (B, MODEL.NUM_JOINTS, H/4, W/4).
    """
    model = _generator_class(cfg)(**generator_kwargs(cfg))
    if cfg.MODEL.INIT_WEIGHTS:
        model.init_weights(scheme=cfg.MODEL.INIT_SCHEME)
    if output_bias is not None:
        for name in getattr(model, "output_layers", [model.output_layer]):  # a stacked model: every stack's head
            nn.init.constant_(model.get_submodule(name).bias, float(output_bias))
    if cfg.MODEL.PRETRAINED:
        load_pretrained_backbone(model, cfg.MODEL.PRETRAINED, list(cfg.MODEL.EXTRA.PRETRAINED_LAYERS),
                                 trusted_files=cfg.TRUSTED_PICKLE_FILES)
    return model


def check_train_batch_size(cfg, per_device_batch: int) -> None:
    """Fails early when the generator cannot train on `per_device_batch` samples per device.

    OmniPose's WASP heads have a BatchNorm after a global average pool, which sees one value per channel and sample,
    so a train-mode batch of 1 raises deep inside the forward pass. (The data loader should also drop an
    incomplete last batch for the same reason.)

    Raises:
        ValueError naming TRAIN.BATCH_SIZE_PER_GPU.
    """
    cls = _generator_class(cfg)
    if cls.HAS_POOLED_BATCHNORM and per_device_batch < 2:
        raise ValueError(
            f"TRAIN.BATCH_SIZE_PER_GPU={per_device_batch}: MODEL.NAME={cfg.MODEL.NAME} has a BatchNorm after a "
            "global pool (WASP image pooling), which needs at least 2 samples per device (per process under DDP) "
            "in training"
        )
    if cls.HAS_POOLED_BATCHNORM and per_device_batch == 2:
        # A BatchNorm over two values outputs about +-1 whatever they are, so its input gets (almost) no gradient.
        logger.warning(
            "TRAIN.BATCH_SIZE_PER_GPU=2: the WASP image-pooling branch's conv gets almost no gradient with 2 samples "
            "per device; 3 or more is better"
        )


def set_trainable(model: nn.Module, trainable: bool) -> None:
    """Freezes or unfreezes a generator without ever unfreezing the parameters frozen by design (Gaussian filters,
    unused last-module fuse layers). Use this instead of model.requires_grad_(True), which would make DDP wait for
    gradients that never come."""
    frozen = set(model.frozen_parameter_names()) if isinstance(model, HRNetBackbone) else set()
    for name, p in model.named_parameters():
        p.requires_grad_(trainable and name not in frozen)


__all__ = ["GENERATORS", "build_generator", "check_train_batch_size", "generator_kwargs", "set_trainable"]
