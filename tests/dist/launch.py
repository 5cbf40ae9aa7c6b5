"""torchrun's entry point for tests/dist: runs tools/train.py or tools/train_AN.py unchanged, with probes that record,
per rank and attempt (torchrun's restart count), which samples each training iteration drew, the weights at the start
and end of every epoch, and every run file the rank wrote; optionally one rank, in the middle of an epoch of the
first attempt, SIGKILLs itself (what an elastic restart must survive) or stalls without dying (what DIST_TIMEOUT_S
must end).

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/dist/launch.py --probe-dir DIR \
        [--kill-rank 1 --kill-epoch 1 --kill-after 2 [--stall]] train --cfg X KEY VALUE ...
"""
import argparse
import json
import os
import signal
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)  # torchrun puts this script's folder first on sys.path, not the repository

import torch  # noqa: E402

from lib.core import trainer, workdir  # noqa: E402
from lib.utils import checkpoint, dist  # noqa: E402


def rank_and_attempt():
    return int(os.environ.get("RANK", 0)), int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))


class Probe:
    """Appends one JSON line per event to DIR/rank<R>.jsonl (flushed at once: the process may be killed next)."""

    def __init__(self, probe_dir):
        self.probe_dir = probe_dir
        self.rank, self.attempt = rank_and_attempt()
        os.makedirs(probe_dir, exist_ok=True)
        self.path = os.path.join(probe_dir, f"rank{self.rank}.jsonl")

    def event(self, kind, **fields):
        with open(self.path, "a") as f:
            f.write(json.dumps(dict(fields, event=kind, rank=self.rank, attempt=self.attempt)) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def save_weights(self, step, epoch, when):
        """Parameters and buffers of the generator and (adversarial) both discriminators, as this rank holds them."""
        modules = {"generator": step.generator, "pose_disc": getattr(step, "pose_disc", None),
                   "conf_disc": getattr(step, "conf_disc", None)}
        state = {name: {k: v.detach().clone() for k, v in dist.unwrap(m).state_dict().items()}
                 for name, m in modules.items() if m is not None}
        name = f"weights_rank{self.rank}_attempt{self.attempt}_epoch{epoch}_{when}.pt"
        torch.save(state, os.path.join(self.probe_dir, name))


class RecordingLoader:
    """The training loader as train_one_epoch sees it, recording each batch's dataset indices; with `kill_at`, the
    process SIGKILLs itself (or with `stall`, sleeps for an hour) instead of handing out that iteration's batch:
    between two training steps, while the other ranks wait in the next step's gradient all-reduce."""

    def __init__(self, loader, probe, epoch, kill_at=None, stall=False):
        self.loader, self.probe, self.epoch, self.kill_at, self.stall = loader, probe, epoch, kill_at, stall
        self.dataset = loader.dataset

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i == self.kill_at and self.stall:
                self.probe.event("stall", epoch=self.epoch, iteration=i)
                time.sleep(3600)
            elif i == self.kill_at:
                self.probe.event("sigkill", epoch=self.epoch, iteration=i)
                os.kill(os.getpid(), signal.SIGKILL)
            self.probe.event("batch", epoch=self.epoch, iteration=i, indices=batch[3]["index"].tolist(),
                             dataset_size=len(self.dataset))
            yield batch


def install(probe, kill_rank, kill_epoch, kill_after, stall):
    original_epoch = trainer.train_one_epoch

    def probed_epoch(cfg, loader, step, scheduler, epoch, device, num_iters, writer=None, ema=None):
        probe.save_weights(step, epoch, "start")
        kill_at = kill_after if (probe.rank, epoch, probe.attempt) == (kill_rank, kill_epoch, 0) else None
        out = original_epoch(cfg, RecordingLoader(loader, probe, epoch, kill_at, stall), step, scheduler, epoch,
                             device, num_iters, writer, ema)
        probe.save_weights(step, epoch, "end")
        return out

    trainer.train_one_epoch = probed_epoch

    def recorded(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            target = args[1] if name == "atomic_save" else args[0]
            probe.event("write", function=name, path=os.fspath(target))
            return original(*args, **kwargs)

        setattr(module, name, wrapper)

    recorded(checkpoint, "atomic_save")  # checkpoint.pth, model_best.pth, final_state.pth
    recorded(workdir, "append_metrics")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe-dir", required=True)
    parser.add_argument("--kill-rank", type=int, default=-1)
    parser.add_argument("--kill-epoch", type=int, default=-1)
    parser.add_argument("--kill-after", type=int, default=2, help="iterations run before the SIGKILL")
    parser.add_argument("--stall", action="store_true", help="sleep instead of dying")
    parser.add_argument("tool", choices=("train", "train_AN"))
    parser.add_argument("argv", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    torch.set_num_threads(1)
    probe = Probe(args.probe_dir)
    probe.event("start")
    install(probe, args.kill_rank, args.kill_epoch, args.kill_after, args.stall)
    if args.tool == "train":
        from tools import train as tool
    else:
        from tools import train_AN as tool
    tool.main(args.argv)
    probe.event("done")


if __name__ == "__main__":
    main()
