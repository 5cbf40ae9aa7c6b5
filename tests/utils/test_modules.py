"""lib/utils/modules.py: `frozen` restores modes and requires_grad, also when an exception passes through."""
import pytest
import torch

from lib.utils.modules import frozen


def _net():
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5), torch.nn.Linear(2, 1))
    net[2].weight.requires_grad_(False)  # a parameter frozen before: must stay frozen afterwards
    net[1].eval()  # a submodule in eval mode inside a training module: must come back so
    return net


def test_frozen_restores_modes_and_flags_after_the_block():
    net = _net()
    with frozen(net, None):
        assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert net.training and net[0].training and not net[1].training
    assert net[0].weight.requires_grad and not net[2].weight.requires_grad and net[2].bias.requires_grad


def test_frozen_restores_them_when_an_exception_passes_through():
    net = _net()
    with pytest.raises(RuntimeError, match="boom"):
        with frozen(net):
            raise RuntimeError("boom")
    assert net.training and not net[1].training
    assert net[0].weight.requires_grad and not net[2].weight.requires_grad
