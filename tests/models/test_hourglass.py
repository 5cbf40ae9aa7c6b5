"""The stacked hourglass generator: shapes (odd and non-square sizes too), one tensor in evaluation mode and a list in
training mode, intermediate supervision reaching every stack, the registry and its output bias, strict reloading."""
import pytest
import torch

from lib.config import load_cfg
from lib.core.loss import JointsMSELoss
from lib.models import build_generator
from lib.models.hourglass import StackedHourglass
from lib.utils.checkpoint import load_weights

torch.set_num_threads(1)
torch.set_flush_denormal(True)

TINY = ["MODEL.NAME", "hourglass", "MODEL.NUM_JOINTS", "14", "MODEL.EXTRA.NUM_STACKS", "2",
        "MODEL.EXTRA.NUM_FEATURES", "16", "MODEL.EXTRA.HOURGLASS_DEPTH", "3", "MODEL.IMAGE_SIZE", "[48, 64]",
        "MODEL.HEATMAP_SIZE", "[12, 16]"]


@pytest.mark.parametrize("height, width, depth", [(64, 48, 3), (44, 28, 3)])
def test_training_mode_returns_every_stack_and_evaluation_mode_the_last(height, width, depth):
    torch.manual_seed(0)
    model = StackedHourglass(num_joints=5, num_stacks=2, num_features=8, depth=depth)
    model.init_weights()
    x = torch.randn(2, 3, height, width)
    model.train()
    outputs = model(x)
    expected = (2, 5, -(-height // 4), -(-width // 4))  # ceil: odd sizes down the hourglass (11x7 -> 6x4 -> 3x2)
    assert isinstance(outputs, list) and len(outputs) == 2 and all(o.shape == expected for o in outputs)
    model.eval()
    with torch.no_grad():
        single = model(x)
    assert isinstance(single, torch.Tensor) and single.shape == expected and torch.isfinite(single).all()
    # Evaluation mode returns exactly the last stack of the same forward (BatchNorm in eval on both).
    with torch.no_grad():
        model.training = True  # only the return value reads the flag; the BNs stay in eval mode
        listed = model(x)
        model.training = False
    assert torch.equal(listed[-1], single)


def test_intermediate_supervision_reaches_every_stack():
    """The list loss is the sum of the stacks' losses, so the first head's gradient is its own loss's plus what it
    gets through the later stacks: both parts are there."""
    torch.manual_seed(1)
    model = StackedHourglass(num_joints=4, num_stacks=2, num_features=8, depth=2)
    model.init_weights()
    model.train()
    x, target = torch.randn(2, 3, 32, 32), torch.rand(2, 4, 8, 8)
    weight = torch.ones(2, 4, 1)

    def head0_grad(select):
        model.zero_grad()
        outputs = model(x)
        JointsMSELoss()(select(outputs), target, weight).backward()
        return model.heads[0].weight.grad.clone()

    both, first, last = head0_grad(lambda o: o), head0_grad(lambda o: o[0]), head0_grad(lambda o: o[-1])
    assert first.abs().sum() > 0 and last.abs().sum() > 0
    assert torch.allclose(both, first + last, atol=1e-7)


def test_registry_builds_it_from_the_yaml_keys_with_every_head_biased():
    cfg = load_cfg(None, TINY)
    model = build_generator(cfg, output_bias=-3.0)
    assert isinstance(model, StackedHourglass) and len(model.heads) == 2 and model.num_features == 16
    assert model.output_layer == "heads.1" and model.output_layers == ["heads.0", "heads.1"]
    for head in model.heads:
        assert torch.equal(head.bias, torch.full_like(head.bias, -3.0))
    assert abs(model.heads[0].weight.std().item() - 0.001) < 5e-4  # heads start small: near-zero feedback


def test_weights_reload_strictly_and_wrong_width_is_named(tmp_path):
    cfg = load_cfg(None, TINY)
    model = build_generator(cfg)
    torch.save(model.state_dict(), tmp_path / "hg.pth")
    fresh = build_generator(cfg)
    load_weights(fresh, tmp_path / "hg.pth")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    wider = build_generator(load_cfg(None, TINY[:-4] + ["MODEL.EXTRA.NUM_FEATURES", "32"] + TINY[-4:]))
    with pytest.raises(Exception, match="shape mismatches"):
        load_weights(wider, tmp_path / "hg.pth")


def test_bad_structure_arguments_are_named():
    with pytest.raises(ValueError, match="MODEL.EXTRA.NUM_STACKS"):
        StackedHourglass(num_stacks=0)
    with pytest.raises(ValueError, match="MODEL.EXTRA.NUM_FEATURES"):
        StackedHourglass(num_features=18)
    with pytest.raises(ValueError, match="MODEL.EXTRA.HOURGLASS_DEPTH"):
        StackedHourglass(depth=0)
