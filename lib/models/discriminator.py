"""Adversarial PoseNet's Pose and Confidence Discriminators, run at heatmap resolution.

The Confidence Discriminator has the Pose Discriminator's topology on heatmaps only, at half the widths. Both run at
heatmap resolution with a shape-agnostic per-joint read-out, and are stabilised by spectral norm, LeakyReLU(0.2)
and no BatchNorm (docs/adversarial_training.md gives the reasons).
The paper (Chen et al., ICCV 2017, Fig. 4) only says "encoder-decoder with skips, one score per joint"; the layer
counts and widths are ours.

Topology (one class, `EncoderDecoderDiscriminator`, shared by both; sizes for a 96x72 input):
    E0 conv s1 (96x72) -> E1 s2 (48x36) -> E2 s2 (24x18) -> E3 s2 (12x9) -> E4 s2 (6x5) + global context
    D3 = conv(cat(resize(E4 -> E3 size), E3)), D2 likewise with E2, D1 with E1 (48x36)
    head: 1x1 conv -> J logit maps -> global average pool -> (B, J) logits.
"""
import logging

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from lib.utils.amp import bf16_safe_conv

logger = logging.getLogger(__name__)

__all__ = [
    "EncoderDecoderDiscriminator",
    "PoseDiscriminator",
    "ConfidenceDiscriminator",
    "downsample_image",
    "build_discriminators",
]

LEAKY_SLOPE = 0.2  # the usual GAN choice, keeps a gradient for negative pre-activations
NUM_ENCODER_STAGES = 5  # E0..E4
NUM_DECODER_STAGES = 3  # D3, D2, D1


def _sn_conv3x3(in_channels, out_channels, stride):
    return spectral_norm(nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1))


class EncoderDecoderDiscriminator(nn.Module):
    """Fully convolutional encoder-decoder with skips and a per-joint global read-out (the widths are in the constructor).

    Works for any input size >= 1x1: stride-2 convs give ceil(n/2) (odd sizes such as 6x5 or 4x3 are fine) and the
    decoder resizes to the exact size of each skip tensor. No layer depends on the resolution.

    Args:
        in_channels: channels of the input tensor (image + heatmaps for P, heatmaps for C).
        num_joints: J, number of output logits.
        widths: encoder widths of E0..E4 (5 ints).
        dec_widths: decoder widths of D3, D2, D1 (3 ints).
    """

    def __init__(self, in_channels, num_joints, widths, dec_widths):
        super().__init__()
        widths, dec_widths = tuple(int(w) for w in widths), tuple(int(w) for w in dec_widths)
        if len(widths) != NUM_ENCODER_STAGES or min(widths) < 1:
            raise ValueError(f"widths={widths} must be {NUM_ENCODER_STAGES} positive ints (E0..E4)")
        if len(dec_widths) != NUM_DECODER_STAGES or min(dec_widths) < 1:
            raise ValueError(f"dec_widths={dec_widths} must be {NUM_DECODER_STAGES} positive ints (D3, D2, D1)")
        if in_channels < 1 or num_joints < 1:
            raise ValueError(f"in_channels={in_channels} and num_joints={num_joints} must be >= 1")
        self.in_channels = in_channels
        self.num_joints = num_joints

        strides = (1, 2, 2, 2, 2)
        encoder, prev = [], in_channels
        for width, stride in zip(widths, strides):
            encoder.append(_sn_conv3x3(prev, width, stride))
            prev = width
        self.encoder = nn.ModuleList(encoder)
        # Global context at E4: its receptive field plus this term covers the whole map, which P needs to judge
        # the structure between joints.
        self.context = spectral_norm(nn.Linear(widths[4], widths[4]))

        # D3 joins E3, D2 joins E2, D1 joins E1.
        decoder, prev = [], widths[4]
        for width, skip in zip(dec_widths, (widths[3], widths[2], widths[1])):
            decoder.append(_sn_conv3x3(prev + skip, width, 1))
            prev = width
        self.decoder = nn.ModuleList(decoder)
        self.head = spectral_norm(nn.Conv2d(prev, num_joints, kernel_size=1))

    def forward(self, x):
        """Args: x (B, in_channels, h, w). Returns: logits (B, J)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected input (B, {self.in_channels}, h, w), got {tuple(x.shape)}")
        skips = []
        for conv in self.encoder:
            x = F.leaky_relu(bf16_safe_conv(conv, x), LEAKY_SLOPE)
            skips.append(x)
        # x is E4 (B, C4, h/16, w/16, rounded up)
        x = x + self.context(x.mean(dim=(2, 3)))[:, :, None, None]
        for conv, skip in zip(self.decoder, (skips[3], skips[2], skips[1])):
            # Resize to the skip's exact size: halving odd sizes means 2x upsampling would not match.
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = F.leaky_relu(conv(torch.cat([x, skip], dim=1)), LEAKY_SLOPE)
        return self.head(x).mean(dim=(2, 3))  # (B, J)


class PoseDiscriminator(EncoderDecoderDiscriminator):
    """P: conditional on the image. Input = image area-downsampled to heatmap size + J heatmaps.

    Args:
        num_joints: J.
        image_channels: channels of the downsampled image (3).
        widths, dec_widths: see `EncoderDecoderDiscriminator`.
    """

    def __init__(self, num_joints, image_channels=3, widths=(64, 128, 256, 256, 256), dec_widths=(256, 256, 128)):
        super().__init__(image_channels + num_joints, num_joints, widths, dec_widths)
        self.image_channels = image_channels

    def forward(self, image_small, heatmaps):
        """Args:
            image_small: (B, image_channels, h, w), the network input downsampled to heatmap size (`downsample_image`).
            heatmaps: (B, J, h, w), clamped predictions or ground truth.
        Returns:
            logits (B, J): per-joint "correct location" logits.
        """
        if image_small.shape[0] != heatmaps.shape[0] or image_small.shape[-2:] != heatmaps.shape[-2:]:
            raise ValueError(
                f"image_small {tuple(image_small.shape)} and heatmaps {tuple(heatmaps.shape)} must share batch and "
                "spatial size; downsample the image with downsample_image(x, heatmaps.shape[-2:])"
            )
        return super().forward(torch.cat([image_small.to(heatmaps.dtype), heatmaps], dim=1))


class ConfidenceDiscriminator(EncoderDecoderDiscriminator):
    """C: heatmaps only, half of P's widths by default.

    Args:
        num_joints: J.
        widths, dec_widths: see `EncoderDecoderDiscriminator`.
    """

    def __init__(self, num_joints, widths=(32, 64, 128, 128, 128), dec_widths=(128, 128, 64)):
        super().__init__(num_joints, num_joints, widths, dec_widths)

    def forward(self, heatmaps):
        """Args: heatmaps (B, J, h, w). Returns: logits (B, J), per-joint "confident map" logits."""
        return super().forward(heatmaps)


def downsample_image(x, size_hw):
    """Area-downsamples the (normalised, augmented) network input to heatmap size for P.

    Area interpolation averages every input pixel once, so no aliasing; the result is detached because P must not
    send gradients into the data pipeline.

    Args:
        x: (B, C, H, W) image batch.
        size_hw: (h, w) target size, e.g. heatmaps.shape[-2:].
    Returns:
        (B, C, h, w) detached tensor.
    """
    if x.dim() != 4:
        raise ValueError(f"expected an image batch (B, C, H, W), got shape {tuple(x.shape)}")
    size_hw = tuple(int(s) for s in size_hw)
    if len(size_hw) != 2 or min(size_hw) < 1:
        raise ValueError(f"size_hw={size_hw} must be two positive ints (h, w)")
    with torch.no_grad():
        return F.interpolate(x.detach(), size=size_hw, mode="area")


def build_discriminators(cfg):
    """Builds (pose_disc or None, conf_disc or None) from cfg.GAN.* and cfg.MODEL.NUM_JOINTS.

    Returns:
        (PoseDiscriminator | None, ConfidenceDiscriminator | None); None where GAN.POSE_DISC / GAN.CONF_DISC is False.
    """
    num_joints = cfg.MODEL.NUM_JOINTS
    checks = (
        ("GAN.POSE_WIDTHS", cfg.GAN.POSE_WIDTHS, NUM_ENCODER_STAGES),
        ("GAN.POSE_DEC_WIDTHS", cfg.GAN.POSE_DEC_WIDTHS, NUM_DECODER_STAGES),
        ("GAN.CONF_WIDTHS", cfg.GAN.CONF_WIDTHS, NUM_ENCODER_STAGES),
        ("GAN.CONF_DEC_WIDTHS", cfg.GAN.CONF_DEC_WIDTHS, NUM_DECODER_STAGES),
    )
    for key, value, length in checks:
        if len(value) != length or any(int(v) < 1 for v in value):
            raise ValueError(f"{key}={list(value)} must be {length} positive ints")
    pose_disc = conf_disc = None
    if cfg.GAN.POSE_DISC:
        pose_disc = PoseDiscriminator(num_joints, 3, cfg.GAN.POSE_WIDTHS, cfg.GAN.POSE_DEC_WIDTHS)
        logger.info("Pose Discriminator: %.2fM parameters", _count_params(pose_disc) / 1e6)
    if cfg.GAN.CONF_DISC:
        conf_disc = ConfidenceDiscriminator(num_joints, cfg.GAN.CONF_WIDTHS, cfg.GAN.CONF_DEC_WIDTHS)
        logger.info("Confidence Discriminator: %.2fM parameters", _count_params(conf_disc) / 1e6)
    return pose_disc, conf_disc


def _count_params(module):
    return sum(p.numel() for p in module.parameters())
