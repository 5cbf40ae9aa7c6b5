"""torchrun worker for tests/dist: N pure training steps on 2 ranks (the trainer's DDP-wrapped PureStep) against one
process that accumulates the gradients of the same two per-rank batches, then validate() on 2 ranks against 1 rank.
Rank 0 writes the comparison to --out as JSON.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/dist/equivalence.py --out R.json \
        --steps 3 --cfg X KEY VALUE ...
"""
import argparse
import copy
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # torchrun puts this script's folder first on sys.path, not the repository

import torch  # noqa: E402

from lib.config import load_cfg  # noqa: E402
from lib.core.function import build_pure_step, build_train_generator, to_device, validate  # noqa: E402
from lib.core.loss import build_loss  # noqa: E402
from lib.core.optim import build_optimizer  # noqa: E402
from lib.core.runtime import place_model  # noqa: E402
from lib.dataset.loader import build_data, build_loader, seed_everything, start_epoch  # noqa: E402
from lib.utils import dist  # noqa: E402


def max_difference(a, b):
    """Largest absolute difference over the floating-point tensors two state_dicts share (integers must match)."""
    worst = 0.0
    for key, value in a.items():
        if value.dtype.is_floating_point:
            worst = max(worst, (value - b[key]).abs().max().item())
        elif not torch.equal(value, b[key]):
            return float("inf")
    return worst


def accumulate_reference(cfg, initial_state, rank_batches, steps):
    """One process, one model: each step sums the gradients of the two ranks' batches, each loss halved (DDP averages
    over 2 ranks), then one optimizer step. BatchNorm normalises each batch with its own statistics, as each rank
    does; the running statistics follow rank 0's batches only, as DDP's buffer broadcast from rank 0 makes them."""
    model = build_train_generator(cfg)
    model.load_state_dict(initial_state)
    model.train()
    criterion = build_loss(cfg)
    optimizer = build_optimizer(cfg, model.parameters())
    for k in range(steps):
        optimizer.zero_grad(set_to_none=True)
        for rank, batches in enumerate(rank_batches):
            images, target, target_weight = batches[k]
            saved = {name: b.clone() for name, b in model.named_buffers()} if rank > 0 else None
            (criterion(model(images), target, target_weight) / len(rank_batches)).backward()
            if saved is not None:
                for name, buffer in model.named_buffers():
                    buffer.copy_(saved[name])
        optimizer.step()
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cfg", required=True)
    parser.add_argument("opts", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_cfg(args.cfg, args.opts)
    device = dist.init_distributed("cpu", cfg.DIST_TIMEOUT_S)
    torch.set_flush_denormal(True)
    seed_everything(cfg.SEED)
    model = place_model(build_train_generator(cfg), cfg, device)
    initial_state = copy.deepcopy(model.state_dict())
    train_set, val_set, train_loader, val_loader, num_iters = build_data(cfg, device)
    step, _ = build_pure_step(cfg, device, model, num_iters)

    start_epoch(train_loader, cfg, 0)
    step.start_epoch(0, num_iters, train_set)
    batches = []
    for i, batch in enumerate(train_loader):
        if i == args.steps:
            break
        images, target, target_weight, meta = to_device(batch, device)
        step.train_batch(images, target, target_weight, meta, i)
        batches.append((images, target, target_weight))
    rank_batches = dist.all_gather_objects(batches)
    trained = {k: v.detach().clone() for k, v in dist.unwrap(step.generator).state_dict().items()}
    rank1_buffers_before_sync = dist.all_gather_objects(
        {k: v.clone() for k, v in dist.unwrap(step.generator).named_buffers()})[1]

    # validate() on 2 ranks, after the buffer sync the trainer does at every epoch end
    dist.broadcast_buffers(dist.unwrap(step.generator))
    out_dir = os.path.dirname(os.path.abspath(args.out))
    _, two_ranks = validate(cfg, val_loader, val_set, step.generator, os.path.join(out_dir, "val2"), device)
    dist.cleanup()
    if int(os.environ["RANK"]) != 0:
        return

    reference = accumulate_reference(cfg, initial_state, rank_batches, args.steps)
    reference_state = reference.state_dict()
    params = dict(reference.named_parameters())
    one_loader = build_loader(val_set, cfg, False, device)  # the process group is gone: a one-process loader
    _, one_rank = validate(cfg, one_loader, val_set, dist.unwrap(step.generator), os.path.join(out_dir, "val1"),
                           device)
    result = {
        "world_size_seen": len(rank_batches),
        "steps": len(batches),
        "max_param_diff": max_difference({k: trained[k] for k in params}, {k: v.detach() for k, v in params.items()}),
        "max_param_change": max_difference({k: trained[k] for k in params}, {k: initial_state[k] for k in params}),
        "max_buffer_diff": max_difference({k: trained[k] for k, _ in reference.named_buffers()},
                                          dict(reference.named_buffers())),
        "rank1_buffers_differed_before_sync": max_difference(
            {k: trained[k] for k in rank1_buffers_before_sync}, rank1_buffers_before_sync) > 0,
        "batches_differ": not torch.equal(rank_batches[0][0][0], rank_batches[1][0][0]),
        "val_persons": len(val_set),
        "validate_two_ranks": two_ranks,
        "validate_one_rank": one_rank,
        "reference_keys_match": sorted(reference_state) == sorted(trained),
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, default=float)


if __name__ == "__main__":
    main()
