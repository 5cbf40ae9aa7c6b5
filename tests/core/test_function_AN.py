"""Adversarial labels, losses and the one-iteration step, on tiny CPU models."""
import copy
import math

import numpy as np
import pytest
import torch
from torch import nn

from lib.config import load_cfg
from lib.codec import HeatmapCodec
from lib.core.adversarial_labels import adversarial_labels, composite_real, joint_kappa, label_scores
from lib.core.function_AN import AdversarialStep
from lib.core.loss import balanced_bce, masked_bce
from lib.dataset.keypoint_info import COCO_KEYPOINTS
from lib.models.discriminator import ConfidenceDiscriminator, PoseDiscriminator

COCO_KAPPA = COCO_KEYPOINTS.kappa
J = 17
TINY = dict(widths=(8, 8, 8, 8, 8), dec_widths=(8, 8, 8))


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def gaussian_maps(joints_hm, height, width, sigma, amplitude=1.0):
    """(B, J, 2) joints in heatmap px (x, y) -> (B, J, H, W) Gaussians with peak `amplitude`, centres at integers."""
    xs = torch.arange(width, dtype=torch.float32)
    ys = torch.arange(height, dtype=torch.float32)
    gx = torch.exp(-(xs - joints_hm[..., 0:1]) ** 2 / (2 * sigma**2))  # (B, J, W)
    gy = torch.exp(-(ys - joints_hm[..., 1:2]) ** 2 / (2 * sigma**2))  # (B, J, H)
    return amplitude * gy[..., :, None] * gx[..., None, :]


def mse_criterion(output, target, target_weight):
    weight = target_weight.reshape(target_weight.shape[0], target_weight.shape[1], 1, 1)
    return 0.5 * ((output - target) * weight).pow(2).mean()


def zero_criterion(output, target, target_weight):
    return 0.0 * mse_criterion(output, target, target_weight)


class TinyGenerator(nn.Module):
    """Stride-4 stand-in for OmniPose; the last conv's bias starts at 0.3 so outputs sit inside [0, 1] (clamp)."""

    def __init__(self, num_joints=J):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.last = nn.Conv2d(8, num_joints, 3, stride=2, padding=1)
        with torch.no_grad():
            self.last.weight.mul_(0.1)
            self.last.bias.fill_(0.3)

    def forward(self, x):
        return self.last(torch.relu(self.conv1(x)))


def gan_cfg(*opts):
    return load_cfg(None, list(opts)).GAN


def make_batch(batch=2, height=32, width=24, weight_zero=()):
    """images (B,3,H,W), Gaussian targets at (H/4, W/4), weights with the given (b, j) pairs set to 0."""
    hm_h, hm_w = height // 4, width // 4
    images = torch.randn(batch, 3, height, width)
    joints_hm = torch.rand(batch, J, 2) * torch.tensor([hm_w - 1.0, hm_h - 1.0])
    target_weight = torch.ones(batch, J, 1)
    for b, j in weight_zero:
        target_weight[b, j] = 0.0
    target = gaussian_maps(joints_hm, hm_h, hm_w, sigma=1.0) * target_weight[..., None]
    area_hm = torch.full((batch,), float(hm_h * hm_w))
    return images, target, target_weight, joints_hm, area_hm


def make_models(pose=True, conf=True):
    gen = TinyGenerator()
    pose_disc = PoseDiscriminator(J, **TINY) if pose else None
    conf_disc = ConfidenceDiscriminator(J, **TINY) if conf else None
    return gen, pose_disc, conf_disc


def make_step(gen, pose_disc, conf_disc, cfg, criterion=mse_criterion, g_lr=1e-2, d_lr=1e-2, **kwargs):
    d_params = [p for d in (pose_disc, conf_disc) if d is not None for p in d.parameters()]
    return AdversarialStep(
        gen, pose_disc, conf_disc, torch.optim.SGD(gen.parameters(), lr=g_lr), torch.optim.SGD(d_params, lr=d_lr),
        criterion, cfg, **kwargs,
    )


def state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------------------------------------
# Kappa, labels, composite reals, losses
# ------------------------------------------------------------------------------------------------------------------
def test_joint_kappa():
    assert joint_kappa(17) == COCO_KAPPA
    assert COCO_KAPPA[0] == pytest.approx(0.052) and COCO_KAPPA[11] == pytest.approx(0.214)
    mpii = joint_kappa(16)
    assert len(mpii) == 16 and all(0.04 < k < 0.25 for k in mpii)
    assert mpii[0] == mpii[5] == COCO_KAPPA[15]  # ankles
    with pytest.raises(ValueError, match="no keypoint record has 15 joints"):
        joint_kappa(15)


def _label_case(shift_x=0.0, amplitude=1.0):
    """64x48 maps, sigma 2, joints at integer positions in the middle band, area 38^2."""
    joints = torch.stack(
        [torch.randint(12, 36, (2, J)).float(), torch.randint(8, 56, (2, J)).float()], dim=-1
    )  # (2, J, 2) x in [12, 36), y in [8, 56)
    target = gaussian_maps(joints, 64, 48, sigma=2.0)
    shifted = joints + torch.tensor([shift_x, 0.0])
    pred = gaussian_maps(shifted, 64, 48, sigma=2.0, amplitude=amplitude)
    return pred, target, torch.ones(2, J), joints, torch.full((2,), 38.0**2)


def test_labels_prediction_equal_to_gt_is_all_positive():
    pred, target, weight, joints, area = _label_case()
    p_fake, c_fake = adversarial_labels(pred, target, weight, joints, area, 0.75, 0.3, COCO_KAPPA)
    assert p_fake.shape == c_fake.shape == (2, J)
    assert p_fake.dtype == torch.float32
    assert torch.equal(p_fake, torch.ones(2, J)) and torch.equal(c_fake, torch.ones(2, J))


def test_labels_joint_displaced_by_10_px_is_negative():
    pred, target, weight, joints, area = _label_case(shift_x=10.0)
    p_fake, c_fake = adversarial_labels(pred, target, weight, joints, area, 0.75, 0.3, COCO_KAPPA)
    assert torch.equal(p_fake, torch.zeros(2, J))  # even hips (largest kappa): ks = exp(-100 / (2 38^2 .214^2)) = .47
    assert torch.equal(c_fake, torch.zeros(2, J))


def test_labels_small_shift_is_positive_for_hips_and_negative_for_eyes():
    # Joint-specific thresholds: at A = 38^2 a 3 px error is fine for hips (ks .89) but not eyes (ks .13).
    pred, target, weight, joints, area = _label_case(shift_x=3.0)
    ks, _ = label_scores(pred, target, joints, area, COCO_KAPPA)
    p_fake, _ = adversarial_labels(pred, target, weight, joints, area, 0.75, 0.3, COCO_KAPPA)
    expected = torch.exp(torch.tensor(-9.0) / (2 * 38.0**2 * torch.tensor(COCO_KAPPA) ** 2))
    assert torch.allclose(ks, expected.expand(2, J), atol=1e-6)  # quarter offset is exact at integer centres
    assert (p_fake[:, 11:13] == 1).all() and (p_fake[:, 1:3] == 0).all()


def test_labels_agree_with_the_codec_convention():
    # Targets and joints_hm as the data pipeline makes them (sub-pixel joints): a perfect prediction is positive.
    codec = HeatmapCodec(input_size=(192, 256), heatmap_size=(48, 64), sigma=2.0, use_dark=False)
    joints_input = torch.rand(2, J, 2).numpy() * [150, 200] + [20, 30]
    target, weight = codec.encode(joints_input, np.ones((2, J)))
    target, weight = torch.from_numpy(target), torch.from_numpy(weight)
    joints_hm = torch.as_tensor(codec.input_to_heatmap(joints_input), dtype=torch.float32)
    area = torch.full((2,), 38.0**2)
    p_fake, c_fake = adversarial_labels(target, target, weight, joints_hm, area, 0.75, 0.3, COCO_KAPPA)
    assert (weight == 1).all() and (p_fake == 1).all() and (c_fake == 1).all()


def test_labels_flat_zero_map_is_confidence_negative():
    pred, target, weight, joints, area = _label_case()
    pred = torch.zeros_like(pred)
    _, rel_err = label_scores(pred, target, joints, area, COCO_KAPPA)
    assert torch.allclose(rel_err, torch.ones(2, J))
    _, c_fake = adversarial_labels(pred, target, weight, joints, area, 0.75, 0.3, COCO_KAPPA)
    assert torch.equal(c_fake, torch.zeros(2, J))


@pytest.mark.parametrize("amplitude, rel, confident", [(0.7, 0.09, 1.0), (0.5, 0.25, 1.0), (0.3, 0.49, 0.0)])
def test_confidence_error_of_weaker_peaks(amplitude, rel, confident):
    # Spec 4.6 table: centred Gaussians of amplitude a have r = (1 - a)^2.
    pred, target, weight, joints, area = _label_case(amplitude=amplitude)
    _, rel_err = label_scores(pred, target, joints, area, COCO_KAPPA)
    assert torch.allclose(rel_err, torch.full((2, J), rel), atol=1e-5)
    _, c_fake = adversarial_labels(pred, target, weight, joints, area, 0.75, 0.3, COCO_KAPPA)
    assert (c_fake == confident).all()


def test_labels_clamp_the_prediction_for_confidence():
    # Negative noise and values above 1 are clamped before the map error, as D sees them.
    pred, target, weight, joints, area = _label_case()
    noisy = pred - 5.0 * torch.rand_like(pred) * (pred < 0.01).float() + 3.0 * (pred > 0.99).float()
    _, rel_noisy = label_scores(noisy, target, joints, area, COCO_KAPPA)
    _, rel_clamped = label_scores(noisy.clamp(0, 1), target, joints, area, COCO_KAPPA)
    assert torch.equal(rel_noisy, rel_clamped)
    assert (rel_noisy < 0.3).all()  # unclamped, the noise alone would give r >> 1


def test_labels_reject_bad_shapes():
    pred, target, weight, joints, area = _label_case()
    with pytest.raises(ValueError, match="joints_hm"):
        adversarial_labels(pred, target, weight, joints[:, :5], area, 0.75, 0.3, COCO_KAPPA)
    with pytest.raises(ValueError, match="kappa"):
        adversarial_labels(pred, target, weight, joints, area, 0.75, 0.3, COCO_KAPPA[:16])
    with pytest.raises(ValueError, match="target_weight"):
        adversarial_labels(pred, target, weight[:, :3], joints, area, 0.75, 0.3, COCO_KAPPA)


def test_composite_real_uses_prediction_only_where_weight_is_zero():
    pred = (torch.rand(2, 4, 5, 6) * 3 - 1).requires_grad_(True)  # values outside [0, 1] too
    target = torch.rand(2, 4, 5, 6)
    weight = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0]]).unsqueeze(-1)  # (B, J, 1)
    real = composite_real(pred, target, weight)
    assert not real.requires_grad
    for b in range(2):
        for j in range(4):
            expected = target[b, j] if weight[b, j] > 0 else pred[b, j].detach().clamp(0, 1)
            assert torch.equal(real[b, j], expected), (b, j)


def test_masked_bce_values_and_mask():
    logits = torch.tensor([[0.0, 2.0], [-1.0, float("nan")]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    bce = lambda z, t: -(t * math.log(1 / (1 + math.exp(-z))) + (1 - t) * math.log(1 - 1 / (1 + math.exp(-z))))
    expected = (bce(0.0, 0.9) + bce(2.0, 0.9) + bce(-1.0, 0.9)) / 3
    assert masked_bce(logits, 0.9, mask).item() == pytest.approx(expected, rel=1e-5)
    assert masked_bce(logits, 1.0, torch.zeros(2, 2)).item() == 0.0


def test_balanced_bce_upweights_negatives():
    logits = torch.zeros(1, 5)
    ln2 = math.log(2.0)
    labels = torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])  # 3 positives, 1 negative in the mask -> weight 3
    assert balanced_bce(logits, labels, mask, 10.0).item() == pytest.approx((3 * ln2 + 3 * ln2) / 4, rel=1e-6)
    # Clamped to balance_max; no up-weighting when negatives dominate or are absent.
    assert balanced_bce(logits, labels, mask, 2.0).item() == pytest.approx((3 * ln2 + 2 * ln2) / 4, rel=1e-6)
    assert balanced_bce(logits, 1 - labels, mask, 10.0).item() == pytest.approx(ln2, rel=1e-6)
    assert balanced_bce(logits, torch.ones(1, 5), mask, 10.0).item() == pytest.approx(ln2, rel=1e-6)
    # Smoothed positives: target 0.8 for label 1, negatives stay at 0.
    two = torch.tensor([[2.0, 2.0]])
    sig = 1 / (1 + math.exp(-2.0))
    expected = (-(0.8 * math.log(sig) + 0.2 * math.log(1 - sig)) - math.log(1 - sig)) / 2
    smoothed = balanced_bce(two, torch.tensor([[1.0, 0.0]]), torch.ones(1, 2), 10.0, positive_target=0.8)
    assert smoothed.item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="balance_max"):
        balanced_bce(logits, labels, mask, 0.5)


def test_losses_ignore_masked_entries():
    logits, labels = torch.randn(3, J), (torch.rand(3, J) > 0.5).float()
    mask = torch.ones(3, J)
    mask[1, 4] = mask[2, 0] = 0.0
    logits2, labels2 = logits.clone(), labels.clone()
    logits2[1, 4], labels2[1, 4], logits2[2, 0], labels2[2, 0] = 40.0, 1 - labels[1, 4], float("inf"), 1 - labels[2, 0]
    assert masked_bce(logits, 1.0, mask) == masked_bce(logits2, 1.0, mask)
    assert balanced_bce(logits, labels, mask, 10.0) == balanced_bce(logits2, labels2, mask, 10.0)


# ------------------------------------------------------------------------------------------------------------------
# The step
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pose_on, conf_on", [(True, True), (True, False), (False, True)], ids=["P+C", "P", "C"])
def test_adversarial_loss_alone_reaches_the_generator(pose_on, conf_on):
    # Catches the public re-implementations' bugs: detach / .item() / commented-out adversarial term.
    gen, pose_disc, conf_disc = make_models(pose_on, conf_on)
    cfg = gan_cfg("GAN.LAMBDA_P", "1.0", "GAN.LAMBDA_C", "1.0")
    step = make_step(gen, pose_disc, conf_disc, cfg, criterion=zero_criterion)
    stats = step(make_batch(), ramp=1.0)
    assert stats["loss_mse"] == 0.0
    grad = gen.last.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_d_step_leaves_g_alone_and_g_step_leaves_d_alone():
    gen, pose_disc, conf_disc = make_models()
    cfg = gan_cfg("GAN.LAMBDA_P", "1.0", "GAN.LAMBDA_C", "1.0")
    step = make_step(gen, pose_disc, conf_disc, cfg)
    g_before = state(gen)
    seen = {}

    d_step, g_step = step.d_optimizer.step, step.g_optimizer.step

    def spy_d_step(*args, **kwargs):
        seen["g_grads_at_d_step"] = [p.grad for p in gen.parameters()]
        seen["g_at_d_step"] = state(gen)
        out = d_step(*args, **kwargs)
        seen["d_after_d_step"] = (state(pose_disc), state(conf_disc))
        seen["d_grads"] = [p.grad.clone() for d in (pose_disc, conf_disc) for p in d.parameters()]
        return out

    def spy_g_step(*args, **kwargs):
        seen["d_requires_grad_at_g_step"] = [p.requires_grad for d in (pose_disc, conf_disc) for p in d.parameters()]
        seen["d_grads_at_g_step"] = [p.grad.clone() for d in (pose_disc, conf_disc) for p in d.parameters()]
        return g_step(*args, **kwargs)

    step.d_optimizer.step, step.g_optimizer.step = spy_d_step, spy_g_step
    step(make_batch(), ramp=1.0)

    # D step: G got no gradient and did not move.
    assert all(g is None for g in seen["g_grads_at_d_step"])
    assert states_equal(seen["g_at_d_step"], g_before)
    # G step: D frozen (no requires_grad, no new gradient), and D's weights and spectral-norm buffers unchanged.
    assert not any(seen["d_requires_grad_at_g_step"])
    assert all(torch.equal(a, b) for a, b in zip(seen["d_grads"], seen["d_grads_at_g_step"]))
    assert states_equal(state(pose_disc), seen["d_after_d_step"][0])
    assert states_equal(state(conf_disc), seen["d_after_d_step"][1])
    # Afterwards D is trainable again and G did move.
    assert all(p.requires_grad for d in (pose_disc, conf_disc) for p in d.parameters())
    assert not states_equal(state(gen), g_before)


def test_warmup_changes_d_but_not_g():
    gen, pose_disc, conf_disc = make_models()
    step = make_step(gen, pose_disc, conf_disc, gan_cfg())
    g_before, p_before, c_before = state(gen), state(pose_disc), state(conf_disc)
    stats = step(make_batch(), ramp=1.0, train_generator=False, measure_grad_ratio=True)
    assert states_equal(state(gen), g_before)
    assert all(p.grad is None for p in gen.parameters())
    assert not states_equal(state(pose_disc), p_before)
    assert not states_equal(state(conf_disc), c_before)
    assert math.isnan(stats["grad_ratio"])
    assert stats["loss_adv_pose"] > 0 and stats["loss_adv_conf"] > 0  # logged from the D step's fake logits


def test_weight_zero_joints_change_nothing():
    # The target and the GT coordinates of weight-0 joints must not reach any loss. (Their *prediction* is a D input
    # channel for reals and fakes alike, so it does move the logits of the other joints; by design.)
    cfg = gan_cfg("GAN.LAMBDA_P", "1.0", "GAN.LAMBDA_C", "1.0")
    zero = [(0, 3), (1, 0), (1, 16)]
    batch = make_batch(weight_zero=zero)
    images, target, weight, joints, area = batch
    target2, joints2 = target.clone(), joints.clone()
    for b, j in zero:
        target2[b, j] = torch.rand_like(target2[b, j])
        joints2[b, j] = torch.tensor([0.0, 0.0])
    results = []
    for tgt, jts in ((target, joints), (target2, joints2)):
        torch.manual_seed(1)
        gen, pose_disc, conf_disc = make_models()
        step = make_step(gen, pose_disc, conf_disc, cfg, criterion=mse_criterion)
        stats = step((images, tgt, weight, jts, area), ramp=1.0)
        results.append((stats, state(gen), state(pose_disc), state(conf_disc)))
    (s1, *m1), (s2, *m2) = results
    for key in ("loss_mse", "loss_adv_pose", "loss_adv_conf", "loss_d_pose", "loss_d_conf",
                "fake_pos_rate_pose", "fake_pos_rate_conf", "d_acc_real", "d_acc_fake"):
        assert s1[key] == s2[key], key
    assert all(states_equal(a, b) for a, b in zip(m1, m2))


@pytest.mark.parametrize("opts, ramp", [(("GAN.LAMBDA_P", "0.0", "GAN.LAMBDA_C", "0.0"), 1.0), ((), 0.0)],
                         ids=["lambda0", "ramp0"])
def test_zero_adversarial_weight_reproduces_the_pure_step(opts, ramp):
    gen, pose_disc, conf_disc = make_models()
    pure = copy.deepcopy(gen)
    batch = make_batch()
    step = make_step(gen, pose_disc, conf_disc, gan_cfg(*opts))
    stats = step(batch, ramp=ramp, measure_grad_ratio=True)

    images, target, weight, _, _ = batch
    pure_opt = torch.optim.SGD(pure.parameters(), lr=1e-2)
    loss = mse_criterion(pure(images), target, weight)
    pure_opt.zero_grad()
    loss.backward()
    expected_grads = [p.grad.clone() for p in pure.parameters()]
    pure_opt.step()

    assert stats["loss_mse"] == loss.item()
    assert all(torch.equal(p.grad, g) for p, g in zip(gen.parameters(), expected_grads))
    assert states_equal(state(gen), state(pure))
    assert stats["grad_ratio"] == 0.0
    assert stats["loss_adv_pose"] > 0  # still logged


@pytest.mark.parametrize("which", ["pose", "conf"])
def test_generator_step_raises_frozen_d_logits(which):
    # Sign check: G must push D's per-joint score toward 1, not toward the label.
    gen, pose_disc, conf_disc = make_models(which == "pose", which == "conf")
    disc = pose_disc if which == "pose" else conf_disc
    cfg = gan_cfg("GAN.LAMBDA_P", "1.0", "GAN.LAMBDA_C", "1.0")
    step = make_step(gen, pose_disc, conf_disc, cfg, criterion=zero_criterion, g_lr=0.5, d_lr=0.0)
    images, target, weight, joints, area = batch = make_batch()
    image_small = torch.nn.functional.avg_pool2d(images, 4)
    frozen = state(disc)

    def logits():
        disc.load_state_dict(frozen)  # the D of before the step, including spectral-norm buffers
        disc.eval()
        with torch.no_grad():
            fake = gen(images).clamp(0, 1)
            return pose_disc(image_small, fake) if which == "pose" else conf_disc(fake)

    before = logits()
    step(batch, ramp=1.0)
    after = logits()
    assert after.mean() > before.mean()
    assert (after > before).float().mean() > 0.5


def test_d_loss_matches_the_formula():
    # L^D = BCE(real, LABEL_SMOOTH) + balanced BCE(fake, labels * LABEL_SMOOTH), masked means.
    gen, pose_disc, _ = make_models(conf=False)
    cfg = gan_cfg("GAN.TAU_P", "0.5", "GAN.LABEL_SMOOTH", "0.8", "GAN.BALANCE_MAX", "4.0")
    batch = make_batch(weight_zero=[(0, 2)])
    images, target, weight, joints, area = batch
    with torch.no_grad():
        pred = gen(images)
        real, fake = composite_real(pred, target, weight), pred.clamp(0, 1)
        p_fake, _ = adversarial_labels(pred, target, weight, joints, area, 0.5, 0.3, COCO_KAPPA)
        small = torch.nn.functional.interpolate(images, size=pred.shape[-2:], mode="area")
        disc = copy.deepcopy(pose_disc).train()
        logits = disc(torch.cat([small, small]), torch.cat([real, fake]))
    mask = weight.reshape(2, J)
    expected = masked_bce(logits[:2], 0.8, mask) + balanced_bce(logits[2:], p_fake, mask, 4.0, positive_target=0.8)
    step = make_step(gen, pose_disc, None, cfg, criterion=mse_criterion)
    stats = step(batch, ramp=1.0)
    assert stats["loss_d_pose"] == pytest.approx(expected.item(), rel=1e-5)
    assert stats["fake_pos_rate_pose"] == pytest.approx((p_fake * mask).sum().item() / mask.sum().item())
    assert stats["loss_d_conf"] == 0.0 and stats["loss_adv_conf"] == 0.0 and "d_acc_real_conf" not in stats


def test_grad_ratio_scales_with_ramp():
    gen, pose_disc, conf_disc = make_models()
    batch = make_batch()
    ratios = []
    for ramp in (1.0, 0.5):
        models = copy.deepcopy((gen, pose_disc, conf_disc))
        step = make_step(*models, gan_cfg("GAN.LAMBDA_P", "0.1", "GAN.LAMBDA_C", "0.1"))
        ratios.append(step(batch, ramp=ramp, measure_grad_ratio=True)["grad_ratio"])
    assert ratios[0] > 0 and math.isfinite(ratios[0])
    assert ratios[0] == pytest.approx(2 * ratios[1], rel=1e-5)


def test_r1_penalty_and_stats_keys():
    gen, pose_disc, conf_disc = make_models()
    step = make_step(gen, pose_disc, conf_disc, gan_cfg("GAN.R1_GAMMA", "1.0"))
    stats = step(make_batch(), ramp=0.5, measure_grad_ratio=True)
    for key in ("loss_mse", "loss_adv_pose", "loss_adv_conf", "loss_d_pose", "loss_d_conf", "d_acc_real",
                "d_acc_fake", "fake_pos_rate_pose", "fake_pos_rate_conf", "grad_ratio"):
        assert isinstance(stats[key], float) and math.isfinite(stats[key]), key
    assert stats["loss_r1"] > 0
    assert 0.0 <= stats["d_acc_fake"] <= 1.0


def test_amp_cpu_bfloat16_runs():
    gen, pose_disc, conf_disc = make_models()
    step = make_step(gen, pose_disc, conf_disc, gan_cfg(), amp=True, device_type="cpu")
    stats = step(make_batch(), ramp=1.0)
    assert math.isfinite(stats["loss_d_pose"]) and math.isfinite(stats["loss_adv_conf"])


def test_non_finite_loss_raises_naming_the_term():
    gen, pose_disc, conf_disc = make_models()
    step = make_step(gen, pose_disc, conf_disc, gan_cfg(),
                     criterion=lambda o, t, w: mse_criterion(o, t, w) * float("nan"))
    with pytest.raises(FloatingPointError, match="loss_mse"):
        step(make_batch(), ramp=1.0)


def test_needs_a_discriminator():
    gen = TinyGenerator()
    with pytest.raises(ValueError, match="both pose_disc and conf_disc are None"):
        AdversarialStep(gen, None, None, torch.optim.SGD(gen.parameters(), lr=0.1), None, mse_criterion, gan_cfg())
