"""The one OKS term gives, bit for bit, what each caller computed before it existed: the adversarial labels (torch,
float32), the per-visibility accuracy of evaluation (numpy, float64) and OKS-NMS (numpy, its own operation order).
The old expressions are written out here as they stood in those modules."""
import math

import numpy as np
import pytest
import torch

from lib.core.nms import oks_iou
from lib.dataset.keypoint_info import COCO_KEYPOINTS, MPII_KEYPOINTS
from lib.metrics.oks import oks_per_joint

SIGMAS = np.asarray(COCO_KEYPOINTS.sigmas)


def test_by_hand():
    # d^2 = 4, A = 100, kappa = 0.2: exp(-4 / (2 * 100 * 0.04)) = exp(-0.5)
    assert oks_per_joint(np.array([4.0]), 100.0, np.array([0.2]))[0] == pytest.approx(math.exp(-0.5))
    assert oks_per_joint(torch.tensor([0.0]), torch.tensor([[7.0]]), torch.tensor([0.1])).item() == 1.0


@pytest.mark.parametrize("kappa", [COCO_KEYPOINTS.kappa, MPII_KEYPOINTS.kappa], ids=["coco", "mpii"])
def test_equals_the_label_formula_in_float32(kappa):
    """function_AN.label_scores: torch.exp(-dist_sq / (2.0 * area * kappa.pow(2))), float32."""
    gen = torch.Generator().manual_seed(0)
    joints = len(kappa)
    for scale in (0.5, 10.0, 400.0):
        dist_sq = torch.rand(64, joints, generator=gen) * scale
        area = (torch.rand(64, 1, generator=gen) * 3000.0).clamp_min(1e-6)
        kappa_t = torch.as_tensor(kappa, dtype=torch.float32)
        old = torch.exp(-dist_sq / (2.0 * area * kappa_t.pow(2)))
        new = oks_per_joint(dist_sq, area, kappa_t)
        assert new.dtype == torch.float32 and torch.equal(new, old)


def test_equals_the_visibility_accuracy_formula():
    """evaluate.visibility_accuracy: variances = (2 sigma)^2; np.exp(-d2 / (2.0 * area * variances[None, :]))."""
    rng = np.random.default_rng(1)
    variances = (2.0 * SIGMAS) ** 2
    for _ in range(50):
        d2 = rng.uniform(0, 10.0 ** rng.uniform(-2, 5), (5, 17))
        area = max(float(rng.uniform(0, 10.0 ** rng.uniform(0, 6))), 1.0)
        old = np.exp(-d2 / (2.0 * area * variances[None, :]))
        assert np.array_equal(oks_per_joint(d2, area, (2.0 * SIGMAS)[None, :]), old)


def test_oks_nms_equals_its_old_operation_order():
    """nms.oks_iou before: denom = variances * ((a_ref + a_other) / 2 + eps) * 2.0; mean of exp(-(dx^2 + dy^2) / denom)."""
    rng = np.random.default_rng(2)
    variances = (2.0 * SIGMAS) ** 2
    for _ in range(100):
        ref = np.concatenate([rng.uniform(0, 500, (17, 2)), rng.uniform(0, 1, (17, 1))], axis=1)
        others = ref[None] + rng.normal(0, 10.0 ** rng.uniform(-1, 2.5), (6, 17, 3))
        ref_area, other_areas = float(rng.uniform(1, 1e5)), rng.uniform(1e-3, 1e6, 6)
        dx = others[:, :, 0] - ref[None, :, 0]
        dy = others[:, :, 1] - ref[None, :, 1]
        denom = variances[None, :] * ((ref_area + other_areas[:, None]) / 2.0 + np.spacing(1)) * 2.0
        old = np.exp(-(dx ** 2 + dy ** 2) / denom).mean(axis=1)
        assert np.array_equal(oks_iou(ref, ref_area, others, other_areas, SIGMAS), old)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_tensors_device():
    dist_sq, area = torch.rand(4, 17, device="cuda"), torch.full((4, 1), 50.0, device="cuda")
    kappa = torch.as_tensor(COCO_KEYPOINTS.kappa, device="cuda")
    assert oks_per_joint(dist_sq, area, kappa).device.type == "cuda"
