"""Stacked hourglass generator (Newell, Yang and Deng, ECCV 2016), the generator family of Adversarial PoseNet,
with intermediate supervision: every stack predicts heatmaps, and every stack's heatmaps get the loss.

    model = StackedHourglass(num_joints=14, num_stacks=4, num_features=256)
    model.train(); outputs = model(images)   # list of num_stacks tensors (B, K, H/4, W/4), first stack first
    model.eval();  heatmaps = model(images)  # the last stack's (B, K, H/4, W/4) tensor only

Training mode returns the list so the loss can supervise every stack (lib.core.loss accepts a list); evaluation
mode returns one tensor, so validate(), the predictor, the demo, ONNX export and the discriminators see exactly what
the other generators give them. The adversarial trainer feeds the last stack's heatmaps to the discriminators.

Layout (Newell's, widths scaled by F = num_features): a 7x7 stride-2 conv to F/4, a residual to F/2, a 2x2 max pool,
residuals to F/2 and F (stride 4 in all); per stack an hourglass of `depth` halvings (a residual on the skip path, a
pool, a residual, the inner hourglass or a residual at the bottom, a residual, nearest upsampling to the skip's exact
size, so odd sizes such as 24x18 -> 12x9 -> 6x5 work), a residual, a 1x1 conv + BN + ReLU, and a 1x1 head to K
heatmaps; between stacks the features and the heatmaps are mapped back to F channels by 1x1 convs and added to the
stack's input. Residuals are the pre-activation bottleneck (BN-ReLU-1x1 F/2, BN-ReLU-3x3 F/2, BN-ReLU-1x1 F) with a
1x1 projection where the width changes. Pools use ceil mode, so the output side is ceil(side / 4), as the HRNets.
Not carried over from the paper's generator: its second (occlusion) output per stack (a later
ablation of the paper).
"""
import logging
from typing import List, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from lib.models.hrnet_common import INIT_STD, init_hrnet_weights

logger = logging.getLogger(__name__)


class PreActResidual(nn.Module):
    """Pre-activation bottleneck residual: in_channels -> out_channels, same resolution."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        mid = max(out_channels // 2, 1)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_channels, 1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + (x if self.skip is None else self.skip(x))


class Hourglass(nn.Module):
    """One hourglass of `depth` halvings at `width` channels (recursive: `inner` is the next-smaller hourglass)."""

    def __init__(self, depth: int, width: int):
        super().__init__()
        if depth < 1:
            raise ValueError(f"hourglass depth={depth} (MODEL.EXTRA.HOURGLASS_DEPTH) must be >= 1")
        self.skip = PreActResidual(width, width)
        self.down = PreActResidual(width, width)
        self.inner = Hourglass(depth - 1, width) if depth > 1 else PreActResidual(width, width)
        self.up = PreActResidual(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.skip(x)
        y = F.max_pool2d(x, 2, ceil_mode=True)
        y = self.up(self.inner(self.down(y)))
        return skip + F.interpolate(y, size=skip.shape[-2:], mode="nearest")


class StackedHourglass(nn.Module):
    """Stacked hourglass pose generator.

    Args:
        num_joints: heatmaps per stack (MODEL.NUM_JOINTS).
        num_stacks: hourglasses in sequence, each supervised (MODEL.EXTRA.NUM_STACKS; the paper's generator has 4).
        num_features: width F of the hourglasses (MODEL.EXTRA.NUM_FEATURES; 256 in Newell's and the paper's).
        depth: halvings per hourglass (MODEL.EXTRA.HOURGLASS_DEPTH; 4 for 64x64 maps).
    Forward: images (B, 3, H, W) -> training mode: list of num_stacks (B, num_joints, ceil(H/4), ceil(W/4)) tensors;
        evaluation mode: the last of them.
    Attributes:
        output_layer: the last stack's head conv (the weight loader's joint-count hint and the output bias);
        output_layers: every stack's head conv, first stack first.
    """

    HAS_POOLED_BATCHNORM = False

    def __init__(self, num_joints: int = 16, num_stacks: int = 4, num_features: int = 256, depth: int = 4):
        super().__init__()
        if num_stacks < 1:
            raise ValueError(f"num_stacks={num_stacks} (MODEL.EXTRA.NUM_STACKS) must be >= 1")
        if num_features < 8 or num_features % 4:
            raise ValueError(f"num_features={num_features} (MODEL.EXTRA.NUM_FEATURES) must be a multiple of 4, >= 8")
        self.num_joints, self.num_stacks, self.num_features, self.depth = num_joints, num_stacks, num_features, depth
        quarter, half = num_features // 4, num_features // 2
        self.stem = nn.Sequential(
            nn.Conv2d(3, quarter, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(quarter), nn.ReLU(inplace=True),
            PreActResidual(quarter, half), nn.MaxPool2d(2, ceil_mode=True),
            PreActResidual(half, half), PreActResidual(half, num_features),
        )
        self.hourglasses = nn.ModuleList(Hourglass(depth, num_features) for _ in range(num_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(PreActResidual(num_features, num_features), nn.Conv2d(num_features, num_features, 1,
                          bias=False), nn.BatchNorm2d(num_features), nn.ReLU(inplace=True))
            for _ in range(num_stacks)
        )
        self.heads = nn.ModuleList(nn.Conv2d(num_features, num_joints, 1) for _ in range(num_stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(num_features, num_features, 1) for _ in range(num_stacks - 1))
        self.merge_heatmaps = nn.ModuleList(nn.Conv2d(num_joints, num_features, 1) for _ in range(num_stacks - 1))
        self.output_layers = [f"heads.{s}" for s in range(num_stacks)]
        self.output_layer = self.output_layers[-1]

    def init_weights(self, scheme: str = "kaiming") -> None:
        """Convs and BNs by init_hrnet_weights(scheme) ('kaiming' He-normal, 'hrnet' N(0, 0.001)); the heads always
        N(0, 0.001) with zero bias, so the heatmaps fed back between stacks start near zero."""
        logger.info("StackedHourglass: %d stacks, width %d, depth %d; init %s", self.num_stacks, self.num_features,
                    self.depth, scheme)
        init_hrnet_weights(self.modules(), scheme)
        for head in self.heads:
            nn.init.normal_(head.weight, std=INIT_STD)
            nn.init.zeros_(head.bias)

    def frozen_parameter_names(self) -> List[str]:
        """No parameter is frozen by design (the HRNets' Gaussian filters have no counterpart here)."""
        return []

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, List[torch.Tensor]]:
        x = self.stem(x)
        outputs = []
        for s in range(self.num_stacks):
            features = self.features[s](self.hourglasses[s](x))
            heatmaps = self.heads[s](features)
            outputs.append(heatmaps)
            if s < self.num_stacks - 1:
                x = x + self.merge_features[s](features) + self.merge_heatmaps[s](heatmaps)
        return outputs if self.training else outputs[-1]
