"""An exponential moving average (EMA) of the generator's weights, evaluated and released instead of the raw
weights when TRAIN.EMA_DECAY > 0 (mmpose's EMA hook and detectron2's model EMA do the same).

After every generator step: avg <- d * avg + (1 - d) * weights, over parameters and BatchNorm running statistics
alike (integer buffers are copied). d ramps up as min(TRAIN.EMA_DECAY, (1 + n) / (10 + n)) over the n updates so
far, so the first steps do not drag the average towards the random initialisation. The copy lives beside the model
(same device and memory format), is never trained, and is saved in checkpoint.pth as 'ema' for an exact resume.
"""
import copy

import torch
from torch import nn


class ModelEMA(nn.Module):
    def __init__(self, model, decay):
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ValueError(f"TRAIN.EMA_DECAY={decay!r}: expected 0 (off) or a value in (0, 1), e.g. 0.999")
        self.decay = float(decay)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    def current_decay(self):
        """The decay the next update uses."""
        n = int(self.updates) + 1
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model):
        """One step towards `model` (the unwrapped generator with the same state_dict keys)."""
        decay = self.current_decay()
        self.updates += 1
        source = model.state_dict()
        averages, values = [], []
        for name, average in self.module.state_dict().items():
            value = source[name].detach()
            if average.dtype.is_floating_point:
                averages.append(average)
                values.append(value.to(average.dtype))
            else:
                average.copy_(value)
        torch._foreach_lerp_(averages, values, 1.0 - decay)  # average += (1 - decay) * (value - average)

    def train(self, mode=True):  # the average is evaluated, never trained: it stays in eval mode
        return super().train(False)


def build_ema(cfg, model):
    """The EMA of `model` (unwrapped, placed) when TRAIN.EMA_DECAY > 0, else None."""
    return ModelEMA(model, cfg.TRAIN.EMA_DECAY) if cfg.TRAIN.EMA_DECAY > 0 else None
