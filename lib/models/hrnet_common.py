"""HRNet building blocks shared by OmniPose and the plain pose HRNet.

Owns the residual blocks, the fixed Gaussian filter, the two kinds of upsampling fuse path, the HighResolutionModule,
the transitions and the stem/layer1/stages trunk (`HRNetBackbone`). W32, W48 and narrow variants differ only in the
`StageSpec`s they are built from (MODEL.EXTRA.STAGE1..STAGE4).

Provenance: the layout follows HRNet (Sun et al., CVPR 2019; leoxiaobin/deep-high-resolution-net.pytorch) and the
OmniPose paper's changes (Sequential indices included, so the original checkpoints load by name). Written from
those descriptions.
"""
import logging
from dataclasses import dataclass
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

logger = logging.getLogger(__name__)

BN_MOMENTUM = 0.1  # HRNet's value; equal to PyTorch's default
STEM_WIDTH = 64  # conv1/conv2 width, fixed in HRNet and OmniPose (no config key)
GAUSSIAN_SIGMA = 3.0  # OmniPose's fuse-path Gaussian, in feature-map cells
GAUSSIAN_KERNEL = 3
INIT_STD = 0.001  # HRNet's normal init of conv and deconv weights


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (every backbone conv is followed by BN)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 conv+BN with a residual connection (HRNet stages 2-4)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> 1x1 (x4 expansion) conv+BN with a residual connection (HRNet layer1)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + residual)


BLOCKS = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}


class GaussianFilter(nn.Conv2d):
    """Frozen depthwise 3x3 Gaussian (sigma 3) closing every OmniPose upsampling fuse path.

    The kernel is a *parameter* (as in the original, so checkpoints carry it under `...{5|8|11}.weight`, shape
    (C, 1, 3, 3)) with requires_grad=False. forward() uses a detached weight, so the filter cannot learn even if a
    caller re-enables requires_grad; optimizers skip it because its grad stays None.
    """

    def __init__(self, channels: int, sigma: float = GAUSSIAN_SIGMA, kernel_size: int = GAUSSIAN_KERNEL):
        self.sigma = float(sigma)
        super().__init__(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=False)
        self.weight.requires_grad_(False)

    @staticmethod
    def kernel(sigma: float, kernel_size: int) -> torch.Tensor:
        """The normalised 2-D Gaussian, (kernel_size, kernel_size), centred at (kernel_size - 1) / 2."""
        coords = torch.arange(kernel_size, dtype=torch.float64) - (kernel_size - 1) / 2
        g = torch.exp(-(coords[:, None] ** 2 + coords[None, :] ** 2) / (2 * sigma**2))
        return (g / g.sum()).float()

    def reset_parameters(self) -> None:
        # Called by nn.Conv2d.__init__; restores the exact kernel instead of a random init.
        with torch.no_grad():
            k = self.kernel(self.sigma, self.kernel_size[0]).to(self.weight.device)
            self.weight.copy_(k.expand_as(self.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight.detach(), None, self.stride, self.padding, self.dilation, self.groups)


def _upsample_path_gaussian_deconv(in_channels: int, out_channels: int, doublings: int) -> nn.Sequential:
    """OmniPose fuse path j->i (j>i): 1x1 conv+BN, then per x2 a ConvTranspose(k3,s2,p1,op1)+BN+ReLU, then Gaussian.

    Indices: 0 conv, 1 BN, then 3 per doubling, last the Gaussian (5, 8 or 11), as in the original checkpoints.
    """
    layers = [nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM)]
    for _ in range(doublings):
        layers += [
            nn.ConvTranspose2d(out_channels, out_channels, 3, stride=2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM),
            nn.ReLU(inplace=True),
        ]
    layers.append(GaussianFilter(out_channels))
    return nn.Sequential(*layers)


def _upsample_path_nearest(in_channels: int, out_channels: int, doublings: int) -> nn.Sequential:
    """HRNet fuse path j->i (j>i): 1x1 conv+BN, then nearest upsampling by 2**doublings (index 2, no parameters)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM),
        nn.Upsample(scale_factor=2**doublings, mode="nearest"),
    )


UPSAMPLE_PATHS = {"gaussian_deconv": _upsample_path_gaussian_deconv, "nearest": _upsample_path_nearest}


def _downsample_path(in_channels: int, out_channels: int, halvings: int) -> nn.Sequential:
    """Fuse path j->i (j<i): `halvings` chained 3x3 s2 conv+BN; the intermediate ones keep C_j and add a ReLU."""
    steps = []
    for k in range(halvings):
        if k == halvings - 1:
            steps.append(
                nn.Sequential(conv3x3(in_channels, out_channels, 2), nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM))
            )
        else:
            steps.append(
                nn.Sequential(
                    conv3x3(in_channels, in_channels, 2),
                    nn.BatchNorm2d(in_channels, momentum=BN_MOMENTUM),
                    nn.ReLU(inplace=True),
                )
            )
    return nn.Sequential(*steps)


def make_branch(block: str, num_blocks: int, in_channels: int, planes: int) -> nn.Sequential:
    """`num_blocks` residual blocks of width `planes`; the first gets a 1x1 conv+BN shortcut when the width changes
    (HRNet's `_make_one_branch` / `_make_layer` at stride 1; keys `<i>.downsample.{0,1}`)."""
    block_cls = BLOCKS[block]
    out_channels = planes * block_cls.expansion
    downsample = None
    if in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM)
        )
    layers = [block_cls(in_channels, planes, 1, downsample)]
    layers += [block_cls(out_channels, planes) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)


def _match_size(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # Strided convs round sizes up, so a x2**k upsampling can overshoot by a row/column when a side of the input is
    # not a multiple of 32; crop the overshoot (a no-op for the usual 384x288, 256x192, 256x256 inputs).
    if x.shape[-2:] != like.shape[-2:]:
        x = x[..., : like.shape[-2], : like.shape[-1]]
    return x


@dataclass(frozen=True)
class StageSpec:
    """One HRNet stage: `num_modules` HighResolutionModules over len(num_channels) parallel branches."""

    num_modules: int
    num_blocks: Tuple[int, ...]
    num_channels: Tuple[int, ...]
    block: str = "BASIC"

    @property
    def num_branches(self) -> int:
        return len(self.num_channels)

    @property
    def out_channels(self) -> List[int]:
        return [c * BLOCKS[self.block].expansion for c in self.num_channels]


W48_STAGE1 = StageSpec(1, (4,), (64,), "BOTTLENECK")
W48_STAGES = (
    StageSpec(1, (4, 4), (48, 96)),
    StageSpec(4, (4, 4, 4), (48, 96, 192)),
    StageSpec(3, (4, 4, 4, 4), (48, 96, 192, 384)),
)


def stage_specs_from_cfg(extra) -> Tuple[StageSpec, Tuple[StageSpec, ...]]:
    """Reads and checks MODEL.EXTRA.STAGE1..STAGE4.

    Args:
        extra: the cfg.MODEL.EXTRA node.
    Returns:
        (stage1, (stage2, stage3, stage4)).
    Raises:
        ValueError naming the offending MODEL.EXTRA.STAGEn key and value.
    """
    specs = []
    prev_branches = 1
    for n in (1, 2, 3, 4):
        node = extra[f"STAGE{n}"]
        key = f"MODEL.EXTRA.STAGE{n}"
        if node.BLOCK not in BLOCKS:
            raise ValueError(f"{key}.BLOCK={node.BLOCK!r} is not one of {sorted(BLOCKS)}")
        if node.FUSE_METHOD != "SUM":
            raise ValueError(f"{key}.FUSE_METHOD={node.FUSE_METHOD!r}: only 'SUM' is implemented")
        if len(node.NUM_BLOCKS) != node.NUM_BRANCHES or len(node.NUM_CHANNELS) != node.NUM_BRANCHES:
            raise ValueError(
                f"{key}: NUM_BRANCHES={node.NUM_BRANCHES} but NUM_BLOCKS={list(node.NUM_BLOCKS)} and "
                f"NUM_CHANNELS={list(node.NUM_CHANNELS)}; both lists need one entry per branch"
            )
        values = list(node.NUM_BLOCKS) + list(node.NUM_CHANNELS) + [node.NUM_MODULES]
        if any(not isinstance(v, int) or v < 1 for v in values):
            raise ValueError(f"{key}: NUM_MODULES, NUM_BLOCKS and NUM_CHANNELS must be positive integers, got {values}")
        if n == 1 and (node.NUM_MODULES != 1 or node.NUM_BRANCHES != 1):
            raise ValueError(f"{key}: stage 1 is a single layer; NUM_MODULES and NUM_BRANCHES must be 1")
        if n > 1 and node.NUM_BRANCHES < prev_branches:
            raise ValueError(
                f"{key}.NUM_BRANCHES={node.NUM_BRANCHES} is below the previous stage's {prev_branches}; "
                "HRNet stages only add branches"
            )
        prev_branches = node.NUM_BRANCHES
        specs.append(StageSpec(node.NUM_MODULES, tuple(node.NUM_BLOCKS), tuple(node.NUM_CHANNELS), node.BLOCK))
    return specs[0], tuple(specs[1:])


class HighResolutionModule(nn.Module):
    """Parallel branches of residual blocks followed by an all-to-all fuse (sum, then ReLU) per output branch.

    Args:
        block: 'BASIC' or 'BOTTLENECK'.
        num_blocks: blocks per branch.
        in_channels: input width per branch.
        num_channels: block width per branch (output width = num_channels * expansion).
        upsample: key of UPSAMPLE_PATHS for j>i fuse paths ('gaussian_deconv' for OmniPose, 'nearest' for HRNet).
        num_fuse_outputs: how many output branches get fuse layers (they exist in the state_dict).
        num_outputs: how many of them forward() computes (<= num_fuse_outputs). OmniPose's last stage-4 module keeps
            4 fuse outputs for checkpoint compatibility but computes 1.
    Forward: a list of num_branches tensors (B, C_i, H/2**i, W/2**i) -> a list of num_outputs tensors.
    """

    def __init__(
        self,
        block: str,
        num_blocks: Sequence[int],
        in_channels: Sequence[int],
        num_channels: Sequence[int],
        upsample: str,
        num_fuse_outputs: int,
        num_outputs: int,
    ):
        super().__init__()
        num_branches = len(num_channels)
        if not (len(num_blocks) == len(in_channels) == num_branches):
            raise ValueError(
                f"HighResolutionModule: {num_branches} branches need as many block counts and input widths, got "
                f"num_blocks={list(num_blocks)}, in_channels={list(in_channels)}"
            )
        if upsample not in UPSAMPLE_PATHS:
            raise ValueError(f"upsample={upsample!r} is not one of {sorted(UPSAMPLE_PATHS)}")
        if not 1 <= num_outputs <= num_fuse_outputs <= num_branches:
            raise ValueError(
                f"need 1 <= num_outputs ({num_outputs}) <= num_fuse_outputs ({num_fuse_outputs}) <= branches "
                f"({num_branches})"
            )
        self.num_branches = num_branches
        self.num_outputs = num_outputs
        self.out_channels = [c * BLOCKS[block].expansion for c in num_channels]

        self.branches = nn.ModuleList(
            make_branch(block, num_blocks[i], in_channels[i], num_channels[i]) for i in range(num_branches)
        )

        if num_branches == 1:
            self.fuse_layers = None
        else:
            make_upsample = UPSAMPLE_PATHS[upsample]
            width = self.out_channels
            fuse_layers = []
            for i in range(num_fuse_outputs):
                row = []
                for j in range(num_branches):
                    if j > i:
                        row.append(make_upsample(width[j], width[i], j - i))
                    elif j == i:
                        row.append(None)
                    else:
                        row.append(_downsample_path(width[j], width[i], i - j))
                fuse_layers.append(nn.ModuleList(row))
            self.fuse_layers = nn.ModuleList(fuse_layers)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        if len(x) != self.num_branches:
            raise ValueError(f"HighResolutionModule expects {self.num_branches} branch inputs, got {len(x)}")
        x = [branch(xi) for branch, xi in zip(self.branches, x)]
        if self.fuse_layers is None:
            return x
        out = []
        for i in range(self.num_outputs):
            y = x[i]
            for j in range(self.num_branches):
                if j != i:
                    y = y + _match_size(self.fuse_layers[i][j](x[j]), x[i])
            out.append(self.relu(y))
        return out


def _make_transition(pre_channels: Sequence[int], cur_channels: Sequence[int]) -> nn.ModuleList:
    """HRNet transition: 3x3 conv+BN+ReLU where a kept branch changes width (None if unchanged); each new branch is
    a chain of 3x3 s2 conv+BN+ReLU from the last previous branch (keys `transitionN.<i>.<k>.{0,1}`)."""
    layers = []
    for i, out_c in enumerate(cur_channels):
        if i < len(pre_channels):
            if out_c != pre_channels[i]:
                layers.append(
                    nn.Sequential(
                        conv3x3(pre_channels[i], out_c), nn.BatchNorm2d(out_c, momentum=BN_MOMENTUM), nn.ReLU(True)
                    )
                )
            else:
                layers.append(None)
        else:
            steps = []
            in_c = pre_channels[-1]
            num_steps = i + 1 - len(pre_channels)
            for k in range(num_steps):
                step_out = out_c if k == num_steps - 1 else in_c
                steps.append(
                    nn.Sequential(
                        conv3x3(in_c, step_out, 2), nn.BatchNorm2d(step_out, momentum=BN_MOMENTUM), nn.ReLU(True)
                    )
                )
            layers.append(nn.Sequential(*steps))
    return nn.ModuleList(layers)


INIT_SCHEMES = ("hrnet", "kaiming")


def init_hrnet_weights(modules, scheme: str = "hrnet") -> None:
    """Conv and deconv weights, biases 0, BN weight 1 / bias 0 (running stats reset). GaussianFilter modules are
    skipped: their kernel is fixed by design.

    scheme (MODEL.INIT_SCHEME): 'hrnet' = the original's N(0, 0.001), meant for fine-tuning from ImageNet weights;
    'kaiming' = He-normal (fan_out, ReLU gain), for training from scratch. Every conv here is followed by BN, which
    makes the output scale-invariant in the weights, so Adam's fixed-size steps move a weight of norm 0.001 by many
    times its own size: the effective learning rate of the 'hrnet' init is orders of magnitude higher than that of
    'kaiming' at the same TRAIN.LR.
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"init scheme {scheme!r} (MODEL.INIT_SCHEME) is not one of {INIT_SCHEMES}")
    for m in modules:
        if isinstance(m, GaussianFilter):
            continue
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            if scheme == "kaiming":
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, std=INIT_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_parameters()


class HRNetBackbone(nn.Module):
    """Stem, layer1 and the HRNet stages; subclasses add a head after calling this __init__ (so the head's keys come
    last in the state_dict, as in the original files).

    Args:
        stage1: layer1 spec (a single branch; its output also feeds OmniPose's head as the low-level feature).
        stages: specs of stages 2.. (usually 3 of them).
        upsample: 'gaussian_deconv' (OmniPose) or 'nearest' (HRNet) fuse paths.
        keep_unused_fuse: the last module of the last stage only outputs branch 0. True keeps the fuse layers of
            the other outputs as parameters (OmniPose's checkpoint layout) without computing them; they are frozen
            (requires_grad=False) so that optimizers and DDP never wait for their gradients. False builds only
            the branch-0 fuse layers (HRNet's layout).
    Attributes:
        low_level_channels: width of layer1's output.
        out_channels: width of the backbone output (branch 0 of the last stage).
    """

    def __init__(self, stage1: StageSpec, stages: Sequence[StageSpec], upsample: str, keep_unused_fuse: bool):
        super().__init__()
        if not stages:
            raise ValueError("HRNetBackbone needs at least one stage after layer1")
        self.conv1 = nn.Conv2d(3, STEM_WIDTH, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(STEM_WIDTH, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(STEM_WIDTH, STEM_WIDTH, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(STEM_WIDTH, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = make_branch(stage1.block, stage1.num_blocks[0], STEM_WIDTH, stage1.num_channels[0])
        self.low_level_channels = stage1.out_channels[0]

        pre_channels = [self.low_level_channels]
        self._stage_names = []
        # (stage attribute, module index) of the module whose fuse outputs 1.. are kept but never computed.
        self._unused_fuse_owner = None
        for n, spec in enumerate(stages, start=2):
            setattr(self, f"transition{n - 1}", _make_transition(pre_channels, spec.out_channels))
            modules = []
            in_channels = list(spec.out_channels)
            for m in range(spec.num_modules):
                last = n == len(stages) + 1 and m == spec.num_modules - 1
                num_fuse = spec.num_branches
                num_out = spec.num_branches
                if last:
                    num_out = 1
                    num_fuse = spec.num_branches if keep_unused_fuse else 1
                    if keep_unused_fuse and spec.num_branches > 1:
                        self._unused_fuse_owner = (f"stage{n}", m)
                module = HighResolutionModule(
                    spec.block, spec.num_blocks, in_channels, spec.num_channels, upsample, num_fuse, num_out
                )
                modules.append(module)
                in_channels = module.out_channels
            setattr(self, f"stage{n}", nn.Sequential(*modules))
            self._stage_names.append((f"transition{n - 1}", f"stage{n}"))
            pre_channels = list(spec.out_channels)
        self.out_channels = pre_channels[0]
        for p in self._unused_fuse_parameters():
            p.requires_grad_(False)

    def _unused_fuse_parameters(self):
        """Parameters of the last module's fuse layers for outputs 1.. (kept for loading, never computed)."""
        if self._unused_fuse_owner is None:
            return []
        stage, index = self._unused_fuse_owner
        fuse_layers = getattr(self, stage)[index].fuse_layers
        return [p for row in list(fuse_layers)[1:] for p in row.parameters()]

    def frozen_parameter_names(self) -> List[str]:
        """Names of the parameters frozen by design: the Gaussian filters and the unused last-module fuse layers."""
        unused = {id(p) for p in self._unused_fuse_parameters()}
        gaussian = {id(m.weight) for m in self.modules() if isinstance(m, GaussianFilter)}
        return [name for name, p in self.named_parameters() if id(p) in unused or id(p) in gaussian]

    def init_backbone_weights(self, skip: Sequence[nn.Module] = (), scheme: str = "hrnet") -> None:
        """init_hrnet_weights(scheme) on every module except those inside `skip` (a subclass's head)."""
        skipped = {id(m) for head in skip for m in head.modules()}
        init_hrnet_weights((m for m in self.modules() if id(m) not in skipped), scheme)

    def forward_features(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Runs the trunk.

        Args:
            x: images (B, 3, H, W), normalised.
        Returns:
            low_level: layer1 output (B, low_level_channels, ceil(H/4), ceil(W/4)).
            features: last stage, branch 0 (B, out_channels, ceil(H/4), ceil(W/4)).
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)
        low_level = x
        branches = [x]
        for transition_name, stage_name in self._stage_names:
            transition = getattr(self, transition_name)
            inputs = []
            for i, layer in enumerate(transition):
                # A new branch grows from the last (lowest-resolution) previous branch.
                src = branches[i] if i < len(branches) else branches[-1]
                inputs.append(src if layer is None else layer(src))
            branches = getattr(self, stage_name)(inputs)
        return low_level, branches[0]


def count_parameters(model: nn.Module) -> Tuple[int, int]:
    """(all parameters, trainable parameters) as element counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable


__all__ = [
    "BLOCKS",
    "BasicBlock",
    "Bottleneck",
    "GaussianFilter",
    "HRNetBackbone",
    "HighResolutionModule",
    "StageSpec",
    "UPSAMPLE_PATHS",
    "W48_STAGE1",
    "W48_STAGES",
    "count_parameters",
    "init_hrnet_weights",
    "make_branch",
    "stage_specs_from_cfg",
]
