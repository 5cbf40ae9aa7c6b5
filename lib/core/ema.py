"""An exponential moving average (EMA) of the generator's weights, evaluated and released instead of the raw
weights when TRAIN.EMA_DECAY > 0 (mmpose's EMA hook and detectron2's model EMA do the same).

After every generator step: avg <- d * avg + (1 - d) * weights, over parameters and BatchNorm running statistics
alike (integer buffers are copied). d ramps up as min(TRAIN.EMA_DECAY, (1 + n) / (10 + n)) over the n updates so
far, so the first steps do not drag the average towards the random initialisation; the ramp reaches 0.999 only after
about 9,000 updates, so on shorter runs it, not TRAIN.EMA_DECAY, sets the horizon (about the last tenth of the
steps). The copy lives beside the model
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
        averages, values, copies = self._pairs(model)
        torch._foreach_lerp_(averages, values, 1.0 - decay)  # average += (1 - decay) * (value - average)
        for average, value in copies:
            average.copy_(value)

    def _pairs(self, model):
        """([averaged tensors], [the model's], [(copied tensor, the model's)]), built once per model: detached views
        follow the in-place optimizer and BatchNorm updates, and building the lists every step (two state_dicts
        of ~500 tensors) cost more than the arithmetic."""
        cached = self.__dict__.get("_pairs_cache")  # in __dict__: an nn.Module attribute would register `model`
        if cached is None or cached[0] is not model:
            source = {k: v.detach() for k, v in model.state_dict(keep_vars=True).items()}
            averages, values, copies = [], [], []
            for name, average in self.module.state_dict().items():
                value = source[name]
                if average.dtype.is_floating_point and value.dtype == average.dtype:
                    averages.append(average)
                    values.append(value)
                elif average.dtype.is_floating_point:
                    raise TypeError(f"EMA of {name}: the model's {value.dtype} differs from the average's "
                                    f"{average.dtype}")
                else:
                    copies.append((average, value))
            cached = self.__dict__["_pairs_cache"] = (model, (averages, values, copies))
        return cached[1]

    def train(self, mode=True):  # the average is evaluated, never trained: it stays in eval mode
        return super().train(False)


def build_ema(cfg, model):
    """The EMA of `model` (unwrapped, placed) when TRAIN.EMA_DECAY > 0, else None."""
    return ModelEMA(model, cfg.TRAIN.EMA_DECAY) if cfg.TRAIN.EMA_DECAY > 0 else None
