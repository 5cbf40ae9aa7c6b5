"""The training loop both trainers share: set-up, the epoch loop, validation on schedule, checkpoints, resume.

    args = training_arg_parser(__doc__).parse(argv)                     # lib/cli.py grammar
    run = setup_run(args, default_output, log_name, trainer)            # config, device, run folder, log
    ... build and place the model(s) ...
    train(run, models, build_step)    # data, the step (build_pure_step or build_adversarial_step), then fit():
                                      # resume / epochs / validate / save

setup_run decides how the run starts in its folder before writing anything (lib.core.workdir.plan_start): a new
run, a resume (whose checkpoint must have been trained with the same config, RESUME_MAY_CHANGE aside), or
--overwrite. config.yaml is written only after that check.

A step object supplies the iteration; this module does everything around it, once, for both trainers:
    step.trainer            'pure' or 'adversarial' (checkpoints of one are refused by the other)
    step.generator          the (possibly DDP-wrapped) generator; step.optimizer: its optimizer (LR logged)
    step.main_loss          the stat reported as the epoch's 'loss'; step.progress_keys: shown on the progress bar
    step.start_epoch(epoch, num_iters, dataset) -> progress-bar suffix (sets train mode, epoch-level schedule)
    step.train_batch(images, target, target_weight, meta, iteration) -> {stat name: float}
    step.generator_stepped  whether that iteration updated the generator (the EMA follows only then)
    step.log_fields(), step.epoch_fields(), step.checkpoint_parts()
"""
import dataclasses
import logging
import math
import os
import time
import warnings

import torch
from tqdm import tqdm

from lib import cli
from lib.config import get_cfg, load_cfg
from lib.config.defaults import RESUME_MAY_CHANGE
from lib.core import workdir
from lib.core.ema import build_ema
from lib.core.function import to_device, validate
from lib.core.loss import NonFiniteLoss
from lib.core.runtime import configure_torch, run_environment
from lib.dataset.joints_dataset import ImageReadError
from lib.dataset.loader import build_data, seed_everything, start_epoch
from lib.models import check_train_batch_size
from lib.utils import checkpoint as ckpt
from lib.utils import dist
from lib.utils.environment import log_environment
from lib.utils.errors import UserError, as_user_errors
from lib.utils.logger import setup_logger
from lib.utils.meters import AverageMeter

logger = logging.getLogger(__name__)

# Library errors that are the user's to fix in a training run (lib.utils.errors.run_main): weights that do not fit,
# unreadable images, a loss that diverged (the message names the epoch and iteration; the usual fix is a lower LR).
USER_ERRORS = (ckpt.WeightLoadError, ImageReadError, FloatingPointError)


@dataclasses.dataclass
class Run:
    """What setup_run resolved: the merged config, the device, the run folder, the command-line arguments, and the
    checkpoint to resume (its path and its already checked state; '' and None for a new run)."""

    cfg: object
    device: torch.device
    run_dir: str
    args: dict
    resume_from: str = ""
    resume_state: dict = None


@dataclasses.dataclass
class Data:
    """Train and val datasets and loaders, and the iterations per training epoch (lib.dataset.loader.build_data)."""

    train_set: object
    val_set: object
    train_loader: object
    val_loader: object
    num_iters: int


def training_arg_parser(description, weights_help="generator weights to start a NEW run from"):
    """The command line both trainers share (lib/cli.py grammar): --cfg, --weights (alias --init-from), --work-dir,
    --device, --resume [PATH], --auto-resume, --overwrite, --debug, and KEY VALUE overrides anywhere."""
    parser = cli.ArgumentParser(description)
    cli.add_weights(parser, weights_help, aliases=("--init-from",), default="")
    cli.add_work_dir(parser, "the run folder (default: OUTPUT_DIR/<dataset>/<model>/<config name>)", default="")
    cli.add_device(parser)
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--resume", nargs="?", const=workdir.RESUME_OWN, default="", metavar="PATH",
                       help="continue exactly from PATH, or without PATH from the run folder's checkpoint.pth")
    start.add_argument("--auto-resume", action="store_true",
                       help="continue the run folder's checkpoint.pth if there is one, else start (= AUTO_RESUME True)")
    start.add_argument("--overwrite", action="store_true",
                       help="start over in a folder that holds a run: its old contents are moved aside to "
                            "<run dir>.replaced-<time> (nothing is deleted)")
    return parser


def parse_training_args(description, argv=None, weights_help="generator weights to start a NEW run from"):
    return cli.parse(training_arg_parser(description, weights_help), argv)


def check_batch_size(cfg):
    """check_train_batch_size, its refusal reported as the user's mistake it is."""
    try:
        check_train_batch_size(cfg, cfg.TRAIN.BATCH_SIZE_PER_GPU)
    except ValueError as e:
        raise UserError(str(e), hint="set TRAIN.BATCH_SIZE_PER_GPU 3 or more") from None


def setup_run(args, default_output, log_name, trainer):
    """Config, device (and DDP), how the run starts in its folder (checked before anything is written: a resume's
    checkpoint is read and compared with the asked config here), run folder, logger, environment log, config.yaml,
    environment.json, base seed.

    Args:
        args: the trainer's parsed command line (training_arg_parser).
        trainer: 'pure' or 'adversarial' (a checkpoint of the other trainer is refused).
    """
    opts = list(args.opts) + cli.device_override(args)
    cfg = load_cfg(args.cfg, opts)
    with cli.device_errors():
        device = dist.init_distributed(cfg.DEVICE, cfg.DIST_TIMEOUT_S)
    run_dir = workdir.run_dir_for(cfg, args.cfg, default_output, args.work_dir)
    # Every rank decides from the same untouched folder; only then does rank 0 change it.
    plan = workdir.plan_start(run_dir, args.resume, args.auto_resume or cfg.AUTO_RESUME, args.overwrite)
    state = None
    if plan.resume_from:
        state = ckpt.load_training_checkpoint(plan.resume_from, cfg, trainer, RESUME_MAY_CHANGE, get_cfg())
        check_not_finished(plan, state, cfg)
    dist.barrier()
    if dist.is_main_process():
        workdir.carry_out(plan)
    dist.barrier()
    setup_logger(run_dir, dist.get_rank(), log_name)
    if plan.move_aside:
        logger.info("--overwrite: the folder's previous contents were moved to %s", plan.move_aside)
    precision_choice = configure_torch(cfg, device, training=True)  # after the logger: it reports the precision
    environment = run_environment(device, precision_choice)
    log_environment(cfg, vars(args), environment)
    if dist.is_main_process():
        workdir.save_config(cfg, run_dir)  # after the guard: AMP / CHANNELS_LAST as they run
        workdir.save_environment(environment, run_dir)
    seed_everything(cfg.SEED)
    return Run(cfg, device, run_dir, vars(args), plan.resume_from, state)


def check_not_finished(plan, state, cfg):
    """A finished run asked again is refused with its result, instead of training 0 epochs and reporting the old
    best. (A run that saved its last checkpoint but not final_state.pth resumes to write it.)"""
    done = state["epoch"] >= cfg.TRAIN.END_EPOCH
    if done and os.path.isfile(os.path.join(plan.run_dir, workdir.FINAL_FILE)):
        raise UserError(f"{plan.run_dir}: this run already finished: {state['epoch']} of TRAIN.END_EPOCH "
                        f"{cfg.TRAIN.END_EPOCH} epochs trained, best indicator {state['best_perf']:.4f} at epoch "
                        f"{state['best_epoch']} (model_best.pth, final_state.pth)",
                        hint="to train it longer raise TRAIN.END_EPOCH; for a new run use --work-dir DIR or "
                             "--overwrite")


def make_tb_writer(cfg, run_dir):
    if not dist.is_main_process():
        return None
    from tensorboardX import SummaryWriter  # optional at import time: evaluation tools never need it

    return SummaryWriter(cfg.LOG_DIR or os.path.join(run_dir, "tb"))


def train_one_epoch(cfg, loader, step, scheduler, epoch, device, num_iters, writer=None, ema=None):
    """Runs `step` over one epoch (at most `num_iters` iterations). The scheduler steps every iteration (also in
    a discriminator-only warm-up, so its milestones mean the same epochs in both trainers); `ema`
    (lib.core.ema.ModelEMA or None) follows every generator update.

    Returns:
        dict: the epoch mean of every finite stat the step reported, 'loss' (the mean of step.main_loss), 'lr' at
        the end, 'seconds', 'data_seconds' and 'batch_seconds' (mean per iteration), 'images_per_s',
        'steady_images_per_s' (after the first iteration, so without the loader's start-up), 'iterations',
        'skipped' (unreadable images), plus step.epoch_fields().
    """
    suffix = step.start_epoch(epoch, num_iters, loader.dataset)
    meters, data_time, batch_time = {}, AverageMeter(), AverageMeter()
    skipped = count = first_count = iterations = 0
    start = end = first_end = time.time()
    progress = tqdm(total=num_iters, desc=f"epoch {epoch}{suffix}", disable=not dist.is_main_process(),
                    dynamic_ncols=True, mininterval=2.0)
    for i, batch in enumerate(loader):
        if i >= num_iters:
            break
        images, target, target_weight, meta = to_device(batch, device)
        skipped += int(meta["skipped"].sum()) if "skipped" in meta else 0
        data_time.update(time.time() - end)
        try:
            stats = step.train_batch(images, target, target_weight, meta, i)
        except NonFiniteLoss as e:
            raise FloatingPointError(f"non-finite loss at epoch {epoch}, iteration {i}: {e}") from None
        with warnings.catch_warnings():  # a warm-up steps the schedule without a generator step, on purpose
            warnings.simplefilter("ignore", UserWarning)
            scheduler.step()
        if ema is not None and step.generator_stepped:
            ema.update(dist.unwrap(step.generator))

        finite = {k: v for k, v in stats.items() if isinstance(v, float) and math.isfinite(v)}
        for key, value in finite.items():
            meters.setdefault(key, AverageMeter()).update(value, images.size(0))
        count += images.size(0)
        batch_time.update(time.time() - end)
        end = time.time()
        iterations = i + 1
        if i == 0:
            first_end, first_count = end, count
        lr = step.optimizer.param_groups[0]["lr"]
        ips = images.size(0) * dist.get_world_size() / max(batch_time.avg, 1e-9)
        shown = {k: f"{meters[k].avg:.3g}" for k in step.progress_keys if k in meters}
        progress.set_postfix(**shown, lr=f"{lr:.2e}", img_s=f"{ips:.1f}", refresh=False)
        progress.update(1)
        if i % cfg.PRINT_FREQ == 0 or i == num_iters - 1:
            extras = step.log_fields()
            logger.info("epoch %d [%d/%d] %s | %slr %.3e data %.3fs batch %.3fs %.1f img/s", epoch, i, num_iters,
                        ", ".join(f"{k} {v:.4g}" for k, v in finite.items()),
                        "".join(f"{k} {v:.3f} " for k, v in extras.items()), lr, data_time.avg, batch_time.avg, ips)
            if writer is not None:
                global_step = epoch * num_iters + i
                for key, value in dict(finite, **extras).items():
                    writer.add_scalar(f"train/{key}", value, global_step)
                writer.add_scalar("train/lr", lr, global_step)
    progress.close()
    if skipped:
        logger.warning("epoch %d: skipped %d unreadable images (DATASET.SKIP_CORRUPT)", epoch, skipped)
    seconds = time.time() - start
    steady = (count - first_count) / (end - first_end) if count > first_count else float("nan")
    out = {key: dist.all_reduce_mean(m.avg) for key, m in sorted(meters.items())}
    out.update({"loss": out.get(step.main_loss, float("nan")), "lr": step.optimizer.param_groups[0]["lr"],
                "seconds": seconds, "data_seconds": data_time.avg, "batch_seconds": batch_time.avg,
                "images_per_s": count * dist.get_world_size() / max(seconds, 1e-9),
                "steady_images_per_s": steady * dist.get_world_size(), "iterations": iterations,
                "skipped": skipped})
    out.update(step.epoch_fields())
    return out


class BestTracker:
    """Validates on schedule, keeps the best indicator and writes model_best.pth when it improves."""

    def __init__(self, cfg, run_dir, best_perf=-1.0, best_epoch=-1):
        self.cfg, self.run_dir = cfg, run_dir
        self.best_perf, self.best_epoch = best_perf, best_epoch

    def should_validate(self, epoch):
        return (epoch + 1) % self.cfg.TRAIN.VAL_INTERVAL == 0 or epoch + 1 == self.cfg.TRAIN.END_EPOCH

    def validate(self, epoch, val_loader, val_set, model, device, writer, raw_model=None):
        """Runs the shared validate() on `model` (the weights a run releases: the EMA's when TRAIN.EMA_DECAY > 0);
        with `raw_model` also on those, their stats prefixed 'raw ' (not used for the best). Returns the
        name -> value dict (empty on ranks > 0)."""
        t0 = time.time()
        perf, name_values = validate(self.cfg, val_loader, val_set, model, self.run_dir, device, writer, epoch)
        if raw_model is not None:
            raw_dir = os.path.join(self.run_dir, "raw_weights")
            raw_perf, raw_values = validate(self.cfg, val_loader, val_set, raw_model, raw_dir, device, None, epoch)
            if dist.is_main_process():
                logger.info("epoch %d: raw weights %.4f, their EMA %.4f", epoch, raw_perf, perf)
                name_values = dict(name_values, **{f"raw {k}": v for k, v in raw_values.items()})
        if dist.is_main_process():
            name_values = dict(name_values, val_seconds=time.time() - t0)
            improved = perf > self.best_perf
            if improved:
                self.best_perf, self.best_epoch = perf, epoch
                best_path = os.path.join(self.run_dir, workdir.BEST_FILE)
                with workdir.writing(best_path):
                    ckpt.save_generator_weights(dist.unwrap(model), best_path)
            # validate() logged the summary table; every stat also goes to metrics.jsonl
            logger.info("epoch %d on %s: indicator %.4f%s (best %.4f at epoch %d), validation %.1f s", epoch,
                        self.cfg.DATASET.TEST_SET, perf, ", new best: model_best.pth written" if improved else "",
                        self.best_perf, self.best_epoch, name_values["val_seconds"])
        return name_values


def evaluated_models(model, ema, cfg):
    """(the generator a run validates and releases, the raw one to validate beside it or None): the EMA's copy when
    TRAIN.EMA_DECAY > 0 (raw weights too with TRAIN.EMA_VALIDATE_RAW), else `model` alone."""
    if ema is None:
        return model, None
    return ema.module, (model if cfg.TRAIN.EMA_VALIDATE_RAW else None)


def train(run, models, build_step):
    """Build, then fit: the batch-size check, the data (its malformed-file errors reported as the user's), the step
    that `build_step(cfg, device, models, num_iters)` builds over the placed `models`, then fit(). Returns the run
    folder."""
    check_batch_size(run.cfg)
    with as_user_errors(ValueError):  # the datasets' malformed-file errors name the file
        data = Data(*build_data(run.cfg, run.device))
    step, scheduler = build_step(run.cfg, run.device, models, data.num_iters)
    return fit(run, step, scheduler, data)


def fit(run, step, scheduler, data):
    """Resumes (the checkpoint setup_run chose and checked), trains epochs up to TRAIN.END_EPOCH, validates on
    schedule, writes checkpoint.pth and a metrics.jsonl line after every epoch (rank 0, atomically) and
    final_state.pth at the end. Returns the run folder."""
    cfg, device, run_dir = run.cfg, run.device, run.run_dir
    parts = step.checkpoint_parts()
    generator = parts["model"]
    ema = build_ema(cfg, generator)  # TRAIN.EMA_DECAY > 0: validated and released instead of the raw weights
    eval_model, raw_model = evaluated_models(generator, ema, cfg)
    extra_modules = dict(parts.get("extra_modules") or {}, ema=ema)
    state_parts = dict(parts, scheduler=scheduler, extra_modules=extra_modules)
    tracker = BestTracker(cfg, run_dir)
    first_epoch = 0
    resume, state = run.resume_from, run.resume_state
    if resume:
        ckpt.restore_training_state(state, **state_parts)
        run.resume_state = None  # its tensors are in the modules now
        first_epoch, tracker.best_perf, tracker.best_epoch = state["epoch"], state["best_perf"], state["best_epoch"]
        if dist.is_main_process():
            workdir.truncate_metrics(run_dir, first_epoch)
        logger.info("resumed from %s at epoch %d (best %.4f at epoch %d, lr %.3e)", resume, first_epoch,
                    tracker.best_perf, tracker.best_epoch, step.optimizer.param_groups[0]["lr"])

    writer = make_tb_writer(cfg, run_dir)
    for epoch in range(first_epoch, cfg.TRAIN.END_EPOCH):
        start_epoch(data.train_loader, cfg, epoch)
        record = {"epoch": epoch, "trainer": step.trainer}
        record.update(train_one_epoch(cfg, data.train_loader, step, scheduler, epoch, device, data.num_iters, writer,
                                      ema))
        dist.broadcast_buffers(generator, *extra_modules.values())  # every rank validates what rank 0 saves
        if tracker.should_validate(epoch):
            record.update(tracker.validate(epoch, data.val_loader, data.val_set, eval_model, device, writer,
                                           raw_model))
        if dist.is_main_process():
            checkpoint_path = os.path.join(run_dir, workdir.CHECKPOINT_FILE)
            with workdir.writing(checkpoint_path):
                ckpt.save_training_checkpoint(
                    checkpoint_path, cfg, trainer=step.trainer, epoch=epoch + 1,
                    best_perf=tracker.best_perf, best_epoch=tracker.best_epoch, **state_parts)
            with workdir.writing(os.path.join(run_dir, workdir.METRICS_FILE)):
                workdir.append_metrics(run_dir, dict(record, best_perf=tracker.best_perf,
                                                     best_epoch=tracker.best_epoch))
        dist.barrier()

    if dist.is_main_process():
        final_path = os.path.join(run_dir, workdir.FINAL_FILE)
        with workdir.writing(final_path):
            ckpt.save_generator_weights(dist.unwrap(eval_model), final_path)
        logger.info("done: best %.4f at epoch %d; outputs in %s", tracker.best_perf, tracker.best_epoch, run_dir)
        if writer is not None:
            writer.close()
    dist.cleanup()
    return run_dir
