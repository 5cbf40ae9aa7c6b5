"""Plain pose HRNet (SimpleBaseline-style final conv on the highest-resolution branch): the baseline OmniPose is
compared with.

Provenance: Sun et al., "Deep High-Resolution Representation Learning for Human Pose Estimation" (CVPR 2019) and
leoxiaobin/deep-high-resolution-net.pytorch (nearest-upsampling fuse paths, last stage-4 module fusing only branch
0). The state_dict matches the original's, so the released
pose_hrnet_w32_256x192.pth / pose_hrnet_w48_384x288.pth load strictly. (The original OmniPose repo's copy of this
file cannot be built: docs/changes_from_original.md.)
"""
import logging
from typing import Sequence

import torch
import torch.nn as nn

from lib.models.hrnet_common import (
    INIT_STD,
    W48_STAGE1,
    W48_STAGES,
    HRNetBackbone,
    StageSpec,
    init_hrnet_weights,
)

logger = logging.getLogger(__name__)


class PoseHighResolutionNet(HRNetBackbone):
    """HRNet pose model.

    Args:
        num_joints: output heatmaps (MODEL.NUM_JOINTS).
        final_conv_kernel: 1 or 3 (MODEL.EXTRA.FINAL_CONV_KERNEL).
        stage1, stages: HRNet widths and depths (MODEL.EXTRA.STAGE1..4); W48 by default.
    Forward: images (B, 3, H, W) -> heatmaps (B, num_joints, H/4, W/4) (sides rounded up).
    Attributes:
        output_layer: name of the final conv (used by the weight loader).
    """

    HAS_POOLED_BATCHNORM = False

    def __init__(self, num_joints: int = 17, final_conv_kernel: int = 1, stage1: StageSpec = W48_STAGE1,
                 stages: Sequence[StageSpec] = W48_STAGES):
        if final_conv_kernel not in (1, 3):
            raise ValueError(f"final_conv_kernel={final_conv_kernel} (MODEL.EXTRA.FINAL_CONV_KERNEL) must be 1 or 3")
        super().__init__(stage1, stages, upsample="nearest", keep_unused_fuse=False)
        self.num_joints = num_joints
        self.final_layer = nn.Conv2d(
            self.out_channels, num_joints, final_conv_kernel, padding=1 if final_conv_kernel == 3 else 0
        )
        self.output_layer = "final_layer"

    def init_weights(self, scheme: str = "hrnet") -> None:
        """init_hrnet_weights(scheme) on every layer, the final conv included (zero biases, BN 1/0)."""
        logger.info("pose_hrnet: initialising weights (%s)", f"N(0, {INIT_STD})" if scheme == "hrnet" else scheme)
        init_hrnet_weights(self.modules(), scheme)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, features = self.forward_features(x)
        return self.final_layer(features)
