"""Pure OmniPose/HRNet training with COCO OKS evaluation.

    python tools/train.py --cfg experiments/synthetic/omnipose_quickstart.yaml
    python tools/train.py --cfg experiments/coco/omnipose_w48_384x288.yaml TRAIN.BATCH_SIZE_PER_GPU 16
    torchrun --nproc_per_node 4 tools/train.py --cfg experiments/coco/omnipose_w48_384x288.yaml
    python tools/train.py --cfg X --resume OmniPose/trained/coco/omnipose/X/checkpoint.pth
    python tools/train.py --cfg X --init-from path/to/model_best.pth     # new run from pretrained generator weights

Runs land in OUTPUT_DIR/<dataset>/<model>/<config name>/ (OUTPUT_DIR defaults to OmniPose/trained): checkpoint.pth
(every epoch), model_best.pth and final_state.pth (bare generator weights), metrics.jsonl, config.yaml, the log, tb/.
"""
import logging
import os

import torch

from lib.core import engine
from lib.core.ema import build_ema
from lib.core.function import train_one_epoch
from lib.core.loss import build_loss
from lib.models import check_train_batch_size
from lib.utils import checkpoint as ckpt
from lib.utils import dist
from lib.utils.errors import run_main

logger = logging.getLogger("train")


def parse_args(argv=None):
    return engine.training_arg_parser(__doc__).parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg, device, run_dir = engine.setup_run(args.cfg, args.opts, "OmniPose/trained", "train", vars(args))

    model = engine.build_train_generator(cfg)
    if args.init_from:
        ckpt.load_weights(model, args.init_from, trusted_files=cfg.TRUSTED_PICKLE_FILES)
        logger.info("initialised the generator from %s", args.init_from)
    model = engine.place_model(model, cfg, device)
    ema = build_ema(cfg, model)  # TRAIN.EMA_DECAY > 0: validated and released instead of the raw weights
    eval_model, raw_model = engine.evaluated_models(model, ema, cfg)
    check_train_batch_size(cfg, cfg.TRAIN.BATCH_SIZE_PER_GPU)
    train_set, val_set, train_loader, val_loader, num_iters = engine.build_data(cfg, device)

    criterion = build_loss(cfg).to(device)
    optimizer = engine.build_optimizer(cfg, model.parameters())
    scheduler = engine.build_scheduler(cfg, optimizer, num_iters)  # before any state is loaded (no double decay)
    scaler = torch.amp.GradScaler("cuda") if cfg.AMP and device.type == "cuda" else None
    tracker = engine.BestTracker(cfg, run_dir)
    start_epoch = 0
    resume = engine.resume_path(args.resume, cfg, run_dir)
    if resume:
        state = ckpt.load_training_checkpoint(resume, cfg, trainer="pure")
        ckpt.restore_training_state(state, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                                    extra_modules={"ema": ema})
        start_epoch, tracker.best_perf, tracker.best_epoch = state["epoch"], state["best_perf"], state["best_epoch"]
        if dist.is_main_process():
            engine.truncate_metrics(run_dir, start_epoch)
        logger.info("resumed from %s at epoch %d (best %.4f at epoch %d, lr %.3e)", resume, start_epoch,
                    tracker.best_perf, tracker.best_epoch, optimizer.param_groups[0]["lr"])

    train_model = engine.wrap_ddp(model, device)
    writer = engine.make_tb_writer(cfg, run_dir)
    for epoch in range(start_epoch, cfg.TRAIN.END_EPOCH):
        engine.start_epoch(train_loader, cfg, epoch)
        record = {"epoch": epoch, "trainer": "pure"}
        record.update(train_one_epoch(cfg, train_loader, train_model, criterion, optimizer, scheduler, epoch, device,
                                      num_iters, scaler, writer, ema))
        if tracker.should_validate(epoch):
            record.update(tracker.validate(epoch, val_loader, val_set, eval_model, device, writer, raw_model))
        if dist.is_main_process():
            ckpt.save_training_checkpoint(
                os.path.join(run_dir, "checkpoint.pth"), cfg, trainer="pure", epoch=epoch + 1, model=model,
                optimizer=optimizer, scheduler=scheduler, scaler=scaler, best_perf=tracker.best_perf,
                best_epoch=tracker.best_epoch, extra_modules={"ema": ema})
            engine.append_metrics(run_dir, dict(record, best_perf=tracker.best_perf, best_epoch=tracker.best_epoch))
        dist.barrier()

    return engine.finish_run(eval_model, run_dir, tracker, writer)


if __name__ == "__main__":
    run_main(main)
