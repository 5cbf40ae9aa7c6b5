"""The adversarial step on datasets without OKS constants (PCK-style Pose Discriminator labels) and with a stacked
generator (a list of stack outputs in training mode: every stack gets the heatmap loss, the discriminators see the
last stack only)."""
import pytest
import torch
from torch import nn

from lib.config import load_cfg
from lib.core.adversarial_labels import adversarial_labels, pck_correct
from lib.core.function_AN import AdversarialStep
from lib.core.loss import JointsMSELoss
from lib.models.discriminator import ConfidenceDiscriminator, PoseDiscriminator

J = 14  # LSP: no OKS constants, so the OKS labels would raise
TINY = dict(widths=(8, 8, 8, 8, 8), dec_widths=(8, 8, 8))


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)


def peak_maps(joints_hm, height, width):
    """(B, J, 2) integer joints -> (B, J, H, W) one-hot peaks (the decoder's argmax lands exactly there)."""
    maps = torch.zeros(joints_hm.shape[0], joints_hm.shape[1], height, width)
    for b in range(joints_hm.shape[0]):
        for j in range(joints_hm.shape[1]):
            x, y = (int(v) for v in joints_hm[b, j])
            maps[b, j, y, x] = 1.0
    return maps


def test_pck_correct_hand_computed():
    joints = torch.tensor([[[4.0, 4.0], [4.0, 4.0], [4.0, 4.0]]])  # (1, 3, 2)
    pred_at = torch.tensor([[[7.0, 8.0], [9.0, 4.0], [4.0, 4.0]]])  # distances 5, 5 and 0
    pred = peak_maps(pred_at, 12, 12)
    assert pck_correct(pred, joints, torch.tensor([5.0])).tolist() == [[1.0, 1.0, 1.0]]  # "<=": 5 is correct
    assert pck_correct(pred, joints, torch.tensor([4.9])).tolist() == [[0.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match="PCK radius"):
        pck_correct(pred, joints, torch.tensor([5.0, 5.0]))


def test_adversarial_labels_use_the_pck_radius_without_kappa():
    joints = torch.tensor([[[3.0, 3.0]] * J])
    pred = peak_maps(joints + torch.tensor([2.0, 0.0]), 10, 10)
    target = peak_maps(joints, 10, 10)
    weight = torch.ones(1, J, 1)
    p, c = adversarial_labels(pred, target, weight, joints, torch.ones(1), 0.75, 0.3, kappa=None,
                              pck_radius_hm=torch.tensor([2.5]))
    assert torch.equal(p, torch.ones(1, J)) and torch.equal(c, torch.zeros(1, J))  # right place, wrong map
    p, _ = adversarial_labels(pred, target, weight, joints, torch.ones(1), 0.75, 0.3, kappa=None,
                              pck_radius_hm=torch.tensor([1.5]))
    assert torch.equal(p, torch.zeros(1, J))


class TwoStackGenerator(nn.Module):
    """A stacked stand-in: two heads, a list in training mode, the last head's output in evaluation mode."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=4, padding=1)
        self.head0 = nn.Conv2d(8, J, 1)
        self.head1 = nn.Conv2d(8 + J, J, 1)

    def forward(self, x):
        features = torch.relu(self.stem(x))
        first = self.head0(features)
        last = self.head1(torch.cat([features, first], dim=1))
        return [first, last] if self.training else last


def _batch(radius):
    images = torch.randn(2, 3, 32, 24)
    joints = torch.randint(1, 5, (2, J, 2)).float()
    target = peak_maps(joints, 8, 6)
    weight = torch.ones(2, J, 1)
    return images, target, weight, joints, torch.full((2,), 48.0), torch.full((2,), radius)


def test_step_with_a_stacked_generator_and_pck_labels():
    gen = TwoStackGenerator().train()
    pose_disc, conf_disc = PoseDiscriminator(J, **TINY), ConfidenceDiscriminator(J, **TINY)
    seen = []
    conf_disc.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape))
    cfg = load_cfg(None, ["GAN.LAMBDA_P", "1.0", "GAN.LAMBDA_C", "1.0"]).GAN
    step = AdversarialStep(gen, pose_disc, conf_disc, torch.optim.SGD(gen.parameters(), lr=1e-3),
                           torch.optim.SGD(list(pose_disc.parameters()) + list(conf_disc.parameters()), lr=1e-3),
                           JointsMSELoss(), cfg)
    batch = _batch(radius=100.0)  # every decoded joint is within 100 px: all P labels positive
    with torch.no_grad():  # the heatmap loss is the sum over both stacks
        first, last = gen(batch[0])
        expected = JointsMSELoss()(first, batch[1], batch[2]) + JointsMSELoss()(last, batch[1], batch[2])
    stats = step(batch, ramp=1.0, measure_grad_ratio=True)
    assert stats["loss_mse"] == pytest.approx(expected.item(), rel=1e-6)
    assert stats["fake_pos_rate_pose"] == 1.0 and stats["grad_ratio"] > 0
    assert seen and all(shape[1] == J for shape in seen)  # C saw (B, J, h, w) maps in every pass, never a list
    assert gen.head0.weight.grad.abs().sum() > 0  # the first stack's own heatmap loss reached it
    stats = step(_batch(radius=0.0), ramp=1.0)
    assert stats["fake_pos_rate_pose"] < 1.0
