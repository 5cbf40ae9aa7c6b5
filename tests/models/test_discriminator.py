"""Pose and Confidence Discriminators: shapes on real and odd sizes, stabilisers, builder."""
import pytest
import torch
from torch import nn

from lib.config import load_cfg
from lib.models.discriminator import (
    ConfidenceDiscriminator,
    EncoderDecoderDiscriminator,
    PoseDiscriminator,
    build_discriminators,
    downsample_image,
)

TINY = dict(widths=(8, 8, 8, 8, 8), dec_widths=(8, 8, 8))


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _num_params(module):
    return sum(p.numel() for p in module.parameters())


def test_pose_disc_default_widths_on_96x72():
    # The real configuration: image 3 ch + 17 maps at 96x72 -> 17 logits per sample.
    disc = PoseDiscriminator(17)
    with torch.no_grad():
        logits = disc(torch.randn(2, 3, 96, 72), torch.rand(2, 17, 96, 72))
    assert logits.shape == (2, 17)
    assert torch.isfinite(logits).all()


def test_conf_disc_default_widths_on_64x48():
    disc = ConfidenceDiscriminator(17)
    with torch.no_grad():
        logits = disc(torch.rand(2, 17, 64, 48))
    assert logits.shape == (2, 17)


def test_mpii_16_joints_64x64():
    pose = PoseDiscriminator(16, **TINY)
    conf = ConfidenceDiscriminator(16, **TINY)
    maps = torch.rand(2, 16, 64, 64)
    assert pose(torch.randn(2, 3, 64, 64), maps).shape == (2, 16)
    assert conf(maps).shape == (2, 16)


@pytest.mark.parametrize("size_hw", [(13, 11), (7, 5), (3, 2), (1, 1), (33, 17)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_odd_and_small_sizes(size_hw):
    pose = PoseDiscriminator(5, **TINY)
    conf = ConfidenceDiscriminator(5, **TINY)
    maps = torch.rand(3, 5, *size_hw)
    assert pose(torch.randn(3, 3, *size_hw), maps).shape == (3, 5)
    assert conf(maps).shape == (3, 5)


@pytest.mark.parametrize(
    "size_hw, e4_hw", [((96, 72), (6, 5)), ((64, 48), (4, 3))], ids=["96x72", "64x48"]
)
def test_encoder_sizes_follow_the_spec_table(size_hw, e4_hw):
    disc = ConfidenceDiscriminator(17, **TINY)
    seen = []
    disc.encoder[4].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[-2:])))
    disc(torch.rand(1, 17, *size_hw))
    assert seen == [e4_hw]


def test_global_context_reaches_every_position():
    # Spec 5.2: the global-context term at E4 lets every decoder position see the whole map (inter-joint structure
    # before the read-out). Without it the top-left D1 feature's receptive field (~61 px) misses the far corner.
    disc = ConfidenceDiscriminator(4, **TINY)
    seen = []
    disc.decoder[2].register_forward_hook(lambda m, i, o: seen.append(o))
    maps = torch.rand(1, 4, 80, 60, requires_grad=True)
    disc(maps)
    seen[0][0, :, 0, 0].sum().backward()
    assert maps.grad[0, :, 79, 59].abs().sum() > 0


def test_default_parameter_counts_match_spec():
    # Spec 5.2 / 5.3: about 4.4M (P) and 1.1M (C) parameters.
    pose, conf = PoseDiscriminator(17), ConfidenceDiscriminator(17)
    assert 4.3e6 < _num_params(pose) < 4.5e6
    assert 1.05e6 < _num_params(conf) < 1.15e6


@pytest.mark.parametrize("cls", [PoseDiscriminator, ConfidenceDiscriminator])
def test_spectral_norm_everywhere_and_no_batchnorm(cls):
    disc = cls(17, **TINY)
    layers = [m for m in disc.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 10  # 5 encoder convs, context linear, 3 decoder convs, head
    for layer in layers:
        assert hasattr(layer, "parametrizations") and "weight" in layer.parametrizations, layer
    assert not any(isinstance(m, nn.modules.batchnorm._NormBase) for m in disc.modules())


def test_pose_and_conf_share_the_topology():
    pose, conf = PoseDiscriminator(17, **TINY), ConfidenceDiscriminator(17, **TINY)
    assert isinstance(pose, EncoderDecoderDiscriminator) and isinstance(conf, EncoderDecoderDiscriminator)
    assert pose.in_channels == 20 and conf.in_channels == 17
    # Apart from the first conv's input channels, the parameter shapes are identical at equal widths.
    shapes_p = [tuple(p.shape) for n, p in pose.named_parameters() if not n.startswith("encoder.0.")]
    shapes_c = [tuple(p.shape) for n, p in conf.named_parameters() if not n.startswith("encoder.0.")]
    assert shapes_p == shapes_c


def test_pose_disc_rejects_mismatched_image():
    disc = PoseDiscriminator(17, **TINY)
    with pytest.raises(ValueError, match="downsample_image"):
        disc(torch.randn(2, 3, 32, 24), torch.rand(2, 17, 16, 12))


def test_wrong_channel_count_is_named():
    disc = ConfidenceDiscriminator(17, **TINY)
    with pytest.raises(ValueError, match=r"\(B, 17, h, w\)"):
        disc(torch.rand(2, 16, 16, 12))


def test_bad_widths_raise():
    with pytest.raises(ValueError, match="widths"):
        ConfidenceDiscriminator(17, widths=(8, 8, 8), dec_widths=(8, 8, 8))


def test_downsample_image_is_area_average_and_detached():
    x = torch.arange(16.0).reshape(1, 1, 4, 4).repeat(2, 3, 1, 1).requires_grad_(True)
    small = downsample_image(x, (2, 2))
    assert small.shape == (2, 3, 2, 2)
    assert not small.requires_grad
    expected = torch.tensor([[2.5, 4.5], [10.5, 12.5]])  # means of the 2x2 blocks
    assert torch.allclose(small[0, 0], expected)


def test_downsample_image_non_integer_ratio():
    x = torch.ones(1, 3, 384, 288) * 0.7
    small = downsample_image(x, (96, 72))
    assert small.shape == (1, 3, 96, 72)
    assert torch.allclose(small, torch.full_like(small, 0.7))
    assert downsample_image(torch.randn(2, 3, 30, 23), (7, 5)).shape == (2, 3, 7, 5)


def test_downsample_image_rejects_bad_input():
    with pytest.raises(ValueError, match="B, C, H, W"):
        downsample_image(torch.randn(3, 8, 8), (2, 2))


def test_build_discriminators_from_cfg():
    cfg = load_cfg(None, ["MODEL.NUM_JOINTS", "16", "GAN.POSE_WIDTHS", "[8, 8, 8, 8, 8]",
                          "GAN.POSE_DEC_WIDTHS", "[8, 8, 4]", "GAN.CONF_WIDTHS", "[4, 4, 4, 4, 4]",
                          "GAN.CONF_DEC_WIDTHS", "[4, 4, 4]"])
    pose, conf = build_discriminators(cfg)
    assert isinstance(pose, PoseDiscriminator) and isinstance(conf, ConfidenceDiscriminator)
    assert pose.num_joints == conf.num_joints == 16
    assert pose.head.out_channels == 16 and pose.head.in_channels == 4
    assert conf.encoder[0].out_channels == 4


@pytest.mark.parametrize("pose_on, conf_on", [(True, False), (False, True), (False, False)])
def test_build_discriminators_can_disable_either(pose_on, conf_on):
    cfg = load_cfg(None, ["GAN.POSE_DISC", str(pose_on), "GAN.CONF_DISC", str(conf_on),
                          "GAN.POSE_WIDTHS", "[4, 4, 4, 4, 4]", "GAN.POSE_DEC_WIDTHS", "[4, 4, 4]"])
    pose, conf = build_discriminators(cfg)
    assert (pose is not None) == pose_on
    assert (conf is not None) == conf_on


def test_build_discriminators_names_bad_key():
    cfg = load_cfg(None, ["GAN.CONF_DEC_WIDTHS", "[8, 8]"])
    with pytest.raises(ValueError, match="GAN.CONF_DEC_WIDTHS"):
        build_discriminators(cfg)


def test_bf16_autocast_gradients_match_fp32_on_small_heatmaps():
    """8x6 heatmaps make E4's input one column wide, where torch 2.13.0+cpu's bf16 conv weight gradient is garbage
    (lib.utils.amp.bf16_safe_conv): under CPU autocast every parameter's gradient must stay within
    bf16 rounding of the fp32 one. This made the adversarial AMP test fail now and then before the guard."""
    for _ in range(5):
        disc = PoseDiscriminator(17, **TINY).eval()  # eval: no power iteration between the two forwards
        image, maps = torch.randn(2, 3, 8, 6), torch.rand(2, 17, 8, 6)
        with torch.autocast("cpu"):
            low = torch.autograd.grad(disc(image, maps).float().sum(), list(disc.parameters()))
        full = torch.autograd.grad(disc(image, maps).sum(), list(disc.parameters()))
        for (name, _), g_low, g_full in zip(disc.named_parameters(), low, full):
            error = (g_low - g_full).norm() / g_full.norm().clamp_min(1e-6)
            assert error < 0.1, f"{name}: relative gradient error {error:.3g} under bf16 autocast"
