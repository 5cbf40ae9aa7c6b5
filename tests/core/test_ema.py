"""lib/core/ema.py: the EMA's arithmetic (ramped decay, BatchNorm statistics averaged, counters copied) by hand."""
import pytest
import torch
from torch import nn

from lib.config import ConfigError, load_cfg
from lib.core.ema import ModelEMA, build_ema


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))


def test_update_follows_the_ramped_decay_by_hand():
    model = _model()
    ema = ModelEMA(model, decay=0.5)
    expected = {k: v.clone().float() for k, v in model.state_dict().items()}
    for n in range(1, 4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        model.train()(torch.randn(4, 2, 5, 5))  # moves the BN running statistics and its counter
        decay = min(0.5, (1.0 + n) / (10.0 + n))  # n = 1, 2: the ramp (2/11, 3/12); n = 3: 0.5 caps it (4/13)
        assert ema.current_decay() == pytest.approx(decay)
        ema.update(model)
        for name, value in model.state_dict().items():
            if value.dtype.is_floating_point:
                expected[name] = decay * expected[name] + (1 - decay) * value
                torch.testing.assert_close(ema.module.state_dict()[name], expected[name], rtol=0, atol=1e-6)
            else:  # num_batches_tracked: copied, not averaged
                assert torch.equal(ema.module.state_dict()[name], value)
    assert int(ema.updates) == 3
    assert ema.module[1].num_batches_tracked.item() == 3


def test_the_average_is_never_trained_and_is_a_separate_copy():
    model = _model()
    ema = ModelEMA(model, decay=0.9)
    ema.train()
    assert not ema.module.training and not any(p.requires_grad for p in ema.module.parameters())
    with torch.no_grad():
        model[0].weight.zero_()
    assert not torch.equal(ema.module[0].weight, model[0].weight)


def test_decay_is_checked_where_it_is_set():
    assert build_ema(load_cfg(None, []), _model()) is None  # off by default
    assert isinstance(build_ema(load_cfg(None, ["TRAIN.EMA_DECAY", "0.999"]), _model()), ModelEMA)
    with pytest.raises(ConfigError, match="TRAIN.EMA_DECAY=1.5"):
        load_cfg(None, ["TRAIN.EMA_DECAY", "1.5"])
    with pytest.raises(ValueError, match="TRAIN.EMA_DECAY=1.0"):
        ModelEMA(_model(), 1.0)


def test_the_cached_pairs_follow_a_reloaded_average_and_register_nothing():
    """update() reuses its tensor lists: loading a state (a resume) must still be averaged from, and the model it
    follows must not become part of the EMA's own state."""
    model = _model()
    ema = ModelEMA(model, decay=0.5)
    ema.update(model)
    assert set(ema.state_dict()) == {"updates"} | {"module." + k for k in model.state_dict()}
    saved = {k: v.clone() for k, v in ema.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    ema.load_state_dict(saved)  # back to the state after one update, in place
    ema.update(model)
    decay = min(0.5, 3.0 / 12.0)  # the second update again
    expected = decay * saved["module.0.weight"] + (1 - decay) * model[0].weight
    torch.testing.assert_close(ema.module[0].weight, expected, rtol=0, atol=1e-6)
