"""OmniPose's heads: WASPv2 (the paper's and the original code's default) and WASPv1 + Decoder (the layout of the
released COCO checkpoint), with their separable conv and atrous modules.

Provenance: Artacho & Savakis, OmniPose, arXiv 2103.10180; WASP from UniPose, CVPR 2020. Module and attribute names
match the original state_dict keys (`waspv2.*`, `wasp.*`, `decoder.*`), so the released files load strictly.
"""
from typing import Sequence

import torch
import torch.nn as nn

WASPV2_DILATIONS = (1, 6, 12, 18)  # aspp1 is a 1x1, so its dilation has no effect
# WASPv1: aspp1 is a 1x1 (nominal dilation 6 in the original, no effect), aspp2-4 dilations 12, 18, 24.
WASPV1_DILATIONS = (1, 12, 18, 24)
LOW_LEVEL_REDUCTION = 8  # low-level projection width = planes // 8 (6 for W48; the original comment says 48)


class SepConv2d(nn.Module):
    """Depthwise conv (`spatialConv`) -> ReLU -> 1x1 pointwise conv (`pointConv`), as the original's SepConv2d.

    Note the ReLU between the two convs: it is part of the original layer, not a usual separable conv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0, dilation: int = 1,
                 bias: bool = True):
        super().__init__()
        self.spatialConv = nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=padding, dilation=dilation, groups=in_channels, bias=bias
        )
        self.pointConv = nn.Conv2d(in_channels, out_channels, 1, bias=bias)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.spatialConv
        if _needs_contiguous_depthwise(x, conv):
            # Input AND weight contiguous: the conv picks channels_last if either is. The (C, 1, 3, 3) weight counts as
            # contiguous in either layout, so only a clone with an explicit format resets its strides.
            weight = conv.weight.clone(memory_format=torch.contiguous_format)
            spatial = nn.functional.conv2d(x.contiguous(), weight, conv.bias, conv.stride,
                                           conv.padding, conv.dilation, conv.groups)
        else:
            spatial = conv(x)
        return self.pointConv(self.relu(spatial))


def _needs_contiguous_depthwise(x: torch.Tensor, conv: nn.Conv2d) -> bool:
    """Whether a dilated depthwise conv must run on contiguous tensors: on CPU under bf16 autocast, torch 2.13's
    channels_last kernel for it computes wrong weight gradients (relative error ~1.4 at 64x48, dilation 2-12) or
    kills the process (dilation 18: WASPv2's aspp4 at 256x192), seen on an AMD EPYC with AVX512-BF16; contiguous bf16
    and fp32 channels_last are right (tools/dev/probe_precision.py). Only this op leaves channels_last: the rest of the
    model keeps the fast path."""
    return x.device.type == "cpu" and max(conv.dilation) > 1 and torch.is_autocast_enabled("cpu")


class AtrousModule(nn.Module):
    """(Separable) dilated conv without bias -> BN -> ReLU (the original's `_AtrousModule`; keys `atrous_conv`, `bn`).

    Args:
        separable: SepConv2d (WASPv2) or a plain Conv2d (WASPv1).
    """

    def __init__(self, inplanes: int, planes: int, kernel_size: int, dilation: int, separable: bool):
        super().__init__()
        padding = 0 if kernel_size == 1 else dilation
        conv = SepConv2d if separable else nn.Conv2d
        if kernel_size == 1:
            dilation = 1  # a dilated 1x1 is a 1x1; keeps the padding arithmetic trivial
        self.atrous_conv = conv(inplanes, planes, kernel_size, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()

    def init_weights(self) -> None:
        """The original's init of atrous modules: kaiming-normal conv weights, BN weight 1 / bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.atrous_conv(x)))


def _image_pooling(inplanes: int, planes: int) -> nn.Sequential:
    """Global average pool -> 1x1 conv -> BN -> ReLU (keys `.1` conv, `.2` BN). Its BN sees one value per sample and
    channel, so training needs more than one sample per device."""
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1), nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU()
    )


def _broadcast(pooled: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # The original resizes the (B, C, 1, 1) map bilinearly with align_corners=True, which is an exact broadcast.
    return pooled.expand(-1, -1, like.shape[-2], like.shape[-1])


def _reset_all(module: nn.Module) -> None:
    """PyTorch's default init for every layer of `module` (what the original leaves untouched)."""
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()


class WASPv2(nn.Module):
    """Waterfall Atrous Spatial Pooling v2 with the low-level decoder built in (`waspv2.*`).

    Args:
        inplanes: width of the backbone feature (48 for W48).
        planes: internal width (48).
        low_level_channels: width of layer1's output (256).
        num_joints: output heatmaps.
        dilations: of aspp1..aspp4 (aspp1 is 1x1).
    Forward: features (B, inplanes, h, w), low_level (B, low_level_channels, h, w) -> heatmaps (B, num_joints, h, w).
    """

    def __init__(self, inplanes: int, planes: int, low_level_channels: int, num_joints: int,
                 dilations: Sequence[int] = WASPV2_DILATIONS):
        super().__init__()
        reduction = max(planes // LOW_LEVEL_REDUCTION, 1)
        self.aspp1 = AtrousModule(inplanes, planes, 1, dilations[0], separable=True)
        self.aspp2 = AtrousModule(planes, planes, 3, dilations[1], separable=True)
        self.aspp3 = AtrousModule(planes, planes, 3, dilations[2], separable=True)
        self.aspp4 = AtrousModule(planes, planes, 3, dilations[3], separable=True)
        self.relu = nn.ReLU()
        self.global_avg_pool = _image_pooling(inplanes, planes)
        self.conv1 = nn.Conv2d(5 * planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(low_level_channels, reduction, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(reduction)
        self.last_conv = nn.Sequential(
            nn.Conv2d(planes + reduction, planes, 3, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Conv2d(planes, planes, 3, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Conv2d(planes, num_joints, 1),
        )

    def init_weights(self) -> None:
        """As the original: atrous modules kaiming-normal + BN 1/0, every other layer PyTorch's default."""
        _reset_all(self)
        for m in (self.aspp1, self.aspp2, self.aspp3, self.aspp4):
            m.init_weights()

    def forward(self, x: torch.Tensor, low_level: torch.Tensor) -> torch.Tensor:
        # The cascade ("waterfall"): each atrous module feeds the next; the pooling branch sees the head input.
        x1 = self.aspp1(x)
        x2 = self.aspp2(x1)
        x3 = self.aspp3(x2)
        x4 = self.aspp4(x3)
        x5 = _broadcast(self.global_avg_pool(x), x4)
        y = self.relu(self.bn1(self.conv1(torch.cat((x1, x2, x3, x4, x5), dim=1))))
        low = self.relu(self.bn2(self.conv2(low_level)))
        return self.last_conv(torch.cat((y, low), dim=1))


class WASPv1(nn.Module):
    """WASPv1 (`wasp.*`): plain-conv cascade, a shared 1x1 `conv2` applied twice to each cascade output, pooling,
    then 240->48 conv+BN+ReLU and Dropout(0.5). Forward: (B, inplanes, h, w) -> (B, planes, h, w)."""

    def __init__(self, inplanes: int, planes: int, dilations: Sequence[int] = WASPV1_DILATIONS):
        super().__init__()
        self.aspp1 = AtrousModule(inplanes, planes, 1, dilations[0], separable=False)
        self.aspp2 = AtrousModule(planes, planes, 3, dilations[1], separable=False)
        self.aspp3 = AtrousModule(planes, planes, 3, dilations[2], separable=False)
        self.aspp4 = AtrousModule(planes, planes, 3, dilations[3], separable=False)
        self.global_avg_pool = _image_pooling(inplanes, planes)
        # Registration order conv1, conv2, bn1 matches the released checkpoint's key order.
        self.conv1 = nn.Conv2d(5 * planes, planes, 1, bias=False)
        self.conv2 = nn.Conv2d(planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)

    def init_weights(self) -> None:
        """As the original: every conv kaiming-normal, BN weight 1 / bias 0."""
        _reset_all(self)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.aspp1(x)
        x2 = self.aspp2(x1)
        x3 = self.aspp3(x2)
        x4 = self.aspp4(x3)
        # The original applies the same conv2 twice in a row, with nothing in between; kept for its weights.
        x1, x2, x3, x4 = (self.conv2(self.conv2(t)) for t in (x1, x2, x3, x4))
        x5 = _broadcast(self.global_avg_pool(x), x4)
        y = self.relu(self.bn1(self.conv1(torch.cat((x1, x2, x3, x4, x5), dim=1))))
        return self.dropout(y)


class Decoder(nn.Module):
    """WASPv1's decoder (`decoder.*`): 1x1 low-level projection to planes//8, concat, two 3x3 conv+BN+ReLU with
    dropout 0.5 / 0.1, then a 1x1 conv with bias to the heatmaps.

    Forward: x (B, planes, h, w), low_level (B, low_level_channels, h, w) -> heatmaps (B, num_joints, h, w).
    """

    def __init__(self, low_level_channels: int, planes: int, num_joints: int):
        super().__init__()
        reduction = max(planes // LOW_LEVEL_REDUCTION, 1)
        self.conv1 = nn.Conv2d(low_level_channels, reduction, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(reduction)
        self.relu = nn.ReLU()
        self.last_conv = nn.Sequential(
            nn.Conv2d(planes + reduction, planes, 3, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(planes, planes, 3, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(planes, num_joints, 1),
        )

    def init_weights(self) -> None:
        """As the original: every conv kaiming-normal (the final bias keeps PyTorch's default), BN 1/0."""
        _reset_all(self)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor, low_level: torch.Tensor) -> torch.Tensor:
        # The original resizes x to the low-level size; both are at 1/4 of the input here, so that is the identity.
        low = self.relu(self.bn1(self.conv1(low_level)))
        return self.last_conv(torch.cat((x, low), dim=1))
