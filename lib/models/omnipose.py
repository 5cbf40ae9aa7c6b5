"""OmniPose: HRNet with transposed-conv + fixed-Gaussian upsampling fuse paths and a WASP head.

Provenance: Artacho & Savakis, arXiv 2103.10180, and the original code bmartacho/OmniPose. The state_dict matches
the original checkpoints key for key: head 'waspv2' (the paper's) and head 'waspv1' (the released checkpoint).

Differences from the original, none of which changes the weights: the last stage-4 module keeps its fuse layers for
branches 1-3 (so original files load strictly) but neither computes nor trains them, so DDP needs no
find_unused_parameters; init_weights never overwrites the Gaussian filters; inputs whose sides are not multiples of 32
work (see hrnet_common._match_size).
"""
import logging
from typing import Sequence

import torch

from lib.models.hrnet_common import INIT_STD, W48_STAGE1, W48_STAGES, HRNetBackbone, StageSpec
from lib.models.wasp import WASPv1, WASPv2, Decoder

logger = logging.getLogger(__name__)

HEADS = ("waspv2", "waspv1")


class OmniPose(HRNetBackbone):
    """OmniPose generator.

    Args:
        num_joints: output heatmaps (MODEL.NUM_JOINTS).
        head: 'waspv2' (keys `waspv2.*`) or 'waspv1' (keys `wasp.*` and `decoder.*`) (MODEL.EXTRA.HEAD).
        stage1, stages: HRNet widths and depths (MODEL.EXTRA.STAGE1..4); W48 by default.
    Forward: images (B, 3, H, W) -> heatmaps (B, num_joints, H/4, W/4) (sides rounded up).
    Attributes:
        output_layer: name of the final conv, whose weight has num_joints rows (used by the weight loader).
    """

    # Both heads have a BatchNorm after a global pool: training needs > 1 sample per device.
    HAS_POOLED_BATCHNORM = True

    def __init__(self, num_joints: int = 17, head: str = "waspv2", stage1: StageSpec = W48_STAGE1,
                 stages: Sequence[StageSpec] = W48_STAGES):
        if head not in HEADS:
            raise ValueError(f"OmniPose head={head!r} (MODEL.EXTRA.HEAD) is not one of {HEADS}")
        super().__init__(stage1, stages, upsample="gaussian_deconv", keep_unused_fuse=True)
        self.head = head
        self.num_joints = num_joints
        width = self.out_channels
        if head == "waspv2":
            self.waspv2 = WASPv2(width, width, self.low_level_channels, num_joints)
            self.output_layer = "waspv2.last_conv.6"
        else:
            self.wasp = WASPv1(width, width)
            self.decoder = Decoder(self.low_level_channels, width, num_joints)
            self.output_layer = "decoder.last_conv.8"

    def _head_modules(self):
        return [self.waspv2] if self.head == "waspv2" else [self.wasp, self.decoder]

    def init_weights(self, scheme: str = "hrnet") -> None:
        """Backbone: HRNet's N(0, 0.001) or He init (`scheme`, Gaussian filters untouched); head: the original's."""
        logger.info("OmniPose: initialising weights (backbone %s, %s head as the original)",
                    f"N(0, {INIT_STD})" if scheme == "hrnet" else scheme, self.head)
        heads = self._head_modules()
        self.init_backbone_weights(skip=heads, scheme=scheme)
        for head in heads:
            head.init_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low_level, features = self.forward_features(x)
        if self.head == "waspv2":
            return self.waspv2(features, low_level)
        return self.decoder(self.wasp(features), low_level)
