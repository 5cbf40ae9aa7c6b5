"""Set-up shared by tools/train.py and tools/train_AN.py: run folder, seeding, data loaders, optimizer, LR schedule,
per-epoch metrics file. The epoch functions themselves are in lib/core/function.py and function_AN.py.
"""
import json
import logging
import math
import os
import platform
import random
import subprocess
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from lib.config import config_name
from lib.utils import dist

logger = logging.getLogger(__name__)

ENVIRONMENT_FILE = "environment.json"


def run_dir_for(cfg, cfg_path, default_output="OmniPose/trained"):
    """OUTPUT_DIR/<dataset>/<model>/<config name>/ (OUTPUT_DIR falls back to `default_output`, resolved by the same
    path rule as every path key)."""
    from lib.config import resolve_path

    base = cfg.OUTPUT_DIR or resolve_path(cfg, default_output)
    return os.path.join(base, cfg.DATASET.DATASET, cfg.MODEL.NAME, config_name(cfg_path))


def configure_torch(cfg, device, training=False):
    """Device-dependent switches: denormal flushing on CPU (random-init HRNets are 10-25x slower without it), cudnn;
    with `training`, the training precision (lib.utils.precision.guard_training_precision: where bf16 +
    channels_last can crash this CPU, a cached one-time probe decides, and a fallback is written into cfg.AMP /
    cfg.CHANNELS_LAST).

    Returns:
        lib.utils.precision.PrecisionChoice (what training runs in, what was asked for, what the guard did).
    """
    from lib.utils import precision

    if device.type == "cpu":
        torch.set_flush_denormal(True)
    else:
        torch.backends.cudnn.benchmark = cfg.CUDNN.BENCHMARK and not cfg.DETERMINISTIC
        torch.backends.cudnn.deterministic = cfg.CUDNN.DETERMINISTIC or cfg.DETERMINISTIC
        torch.backends.cudnn.enabled = cfg.CUDNN.ENABLED
    if cfg.DETERMINISTIC:
        if device.type == "cuda":
            # cuBLAS is deterministic only with a fixed workspace; read when its handle is made (first matmul).
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    if cfg.AMP and device.type == "cpu" and not precision.cpu_has_native_bf16():
        logger.warning("AMP is on but this CPU has no native bf16 (AVX512-BF16 or AMX): training in fp32")
    if training:
        return precision.guard_training_precision(cfg, device)
    return precision.current_choice(cfg, device)


def place_model(model, cfg, device):
    """Moves a model to `device`, in channels_last memory format when CHANNELS_LAST (values unchanged)."""
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if cfg.CHANNELS_LAST else model


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)


def epoch_seed(base_seed, epoch, rank=0):
    """One seed per (run seed, epoch, rank): every epoch starts from a state that depends only on these, so a run
    resumed at an epoch boundary draws the same shuffles and augmentations as an uninterrupted one."""
    return (base_seed * 1_000_003 + epoch * 7_919 + rank * 104_729) % (2 ** 31)


def _worker_init(worker_id):
    info = torch.utils.data.get_worker_info()
    seed = info.seed % (2 ** 32)  # DataLoader derives it from the loader's generator, itself seeded per epoch
    random.seed(seed)
    np.random.seed(seed)


def build_loader(dataset, cfg, is_train, device):
    """DataLoader with a DistributedSampler (also in a single process: it gives a reproducible per-epoch shuffle
    through set_epoch). Training drops the last incomplete batch, which also keeps WASPv2's pooled BatchNorm away
    from a batch of 1."""
    sampler = DistributedSampler(
        dataset, num_replicas=dist.get_world_size(), rank=dist.get_rank(),
        shuffle=is_train and cfg.TRAIN.SHUFFLE, seed=cfg.SEED, drop_last=is_train,
    )
    batch = cfg.TRAIN.BATCH_SIZE_PER_GPU if is_train else cfg.TEST.BATCH_SIZE_PER_GPU
    return DataLoader(
        dataset, batch_size=batch, sampler=sampler, num_workers=cfg.WORKERS,
        pin_memory=cfg.PIN_MEMORY and device.type == "cuda", drop_last=is_train,
        worker_init_fn=_worker_init if cfg.WORKERS > 0 else None,
        generator=torch.Generator(), persistent_workers=False,
    )


def start_epoch(loader, cfg, epoch):
    """Reseeds everything an epoch draws from (shuffle, augmentation in the main process and in workers)."""
    seed = epoch_seed(cfg.SEED, epoch, dist.get_rank())
    loader.sampler.set_epoch(epoch)
    loader.generator.manual_seed(seed)
    seed_everything(seed)


def build_optimizer(cfg, params, name=None, lr=None, wd=None):
    """adam | adamw | sgd, with weight decay really applied (the original's Adam dropped TRAIN.WD)."""
    name = name or cfg.TRAIN.OPTIMIZER
    lr = cfg.TRAIN.LR if lr is None else lr
    wd = cfg.TRAIN.WD if wd is None else wd
    params = [p for p in params if p.requires_grad]  # the frozen Gaussian filters stay out
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.TRAIN.MOMENTUM, weight_decay=wd,
                               nesterov=cfg.TRAIN.NESTEROV)
    raise ValueError(f"TRAIN.OPTIMIZER={name!r} is not one of ('adam', 'adamw', 'sgd')")


class WarmupMultiStep:
    """LR factor at a global iteration: linear warm-up over TRAIN.WARMUP_ITERS, times LR_FACTOR for each milestone
    reached. Milestones are epochs: factor LR_FACTOR^k from the first iteration of epoch LR_STEP[k-1] on (the original
    stepped one epoch early). A plain callable object, so LambdaLR's state_dict keeps it."""

    def __init__(self, iters_per_epoch, milestones, factor, warmup_iters, warmup_factor):
        self.iters_per_epoch = max(int(iters_per_epoch), 1)
        self.milestones = sorted(int(m) for m in milestones)
        self.factor = factor
        self.warmup_iters = int(warmup_iters)
        self.warmup_factor = warmup_factor

    def __call__(self, iteration):
        epoch = iteration // self.iters_per_epoch
        decay = self.factor ** sum(1 for m in self.milestones if epoch >= m)
        if self.warmup_iters > 0 and iteration < self.warmup_iters:
            alpha = iteration / self.warmup_iters
            return decay * (self.warmup_factor * (1 - alpha) + alpha)
        return decay


class WarmupCosine:
    """LR factor at a global iteration: linear warm-up over TRAIN.WARMUP_ITERS, then a half cosine from 1 down to
    TRAIN.LR_FACTOR at the last iteration of TRAIN.END_EPOCH (TRAIN.LR_STEP is unused). A plain callable object, so
    LambdaLR's state_dict keeps it."""

    def __init__(self, total_iters, final_factor, warmup_iters, warmup_factor):
        self.total_iters = max(int(total_iters), 1)
        self.final_factor = final_factor
        self.warmup_iters = int(warmup_iters)
        self.warmup_factor = warmup_factor

    def __call__(self, iteration):
        progress = min(max(iteration - self.warmup_iters, 0) / max(self.total_iters - self.warmup_iters, 1), 1.0)
        factor = self.final_factor + (1 - self.final_factor) * 0.5 * (1 + math.cos(math.pi * progress))
        if self.warmup_iters > 0 and iteration < self.warmup_iters:
            alpha = iteration / self.warmup_iters
            return factor * (self.warmup_factor * (1 - alpha) + alpha)
        return factor


LR_SCHEDULES = ("step", "cosine")


def build_scheduler(cfg, optimizer, iters_per_epoch):
    """A per-iteration LambdaLR (TRAIN.LR_SCHEDULE 'step' or 'cosine'). Created BEFORE any optimizer state is loaded,
    so resuming past a milestone does not decay twice (the original built its scheduler from the already-decayed
    LR)."""
    if cfg.TRAIN.LR_SCHEDULE == "step":
        rule = WarmupMultiStep(iters_per_epoch, cfg.TRAIN.LR_STEP, cfg.TRAIN.LR_FACTOR, cfg.TRAIN.WARMUP_ITERS,
                               cfg.TRAIN.WARMUP_FACTOR)
    elif cfg.TRAIN.LR_SCHEDULE == "cosine":
        rule = WarmupCosine(iters_per_epoch * cfg.TRAIN.END_EPOCH, cfg.TRAIN.LR_FACTOR, cfg.TRAIN.WARMUP_ITERS,
                            cfg.TRAIN.WARMUP_FACTOR)
    else:
        raise ValueError(f"TRAIN.LR_SCHEDULE={cfg.TRAIN.LR_SCHEDULE!r} is not one of {LR_SCHEDULES}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, rule)


def iters_per_epoch(loader, cfg):
    n = len(loader)
    return min(n, cfg.TRAIN.MAX_ITERS_PER_EPOCH) if cfg.TRAIN.MAX_ITERS_PER_EPOCH > 0 else n


def _git_state():
    """(commit, dirty) of the checkout this code runs from; ('unknown', None) outside git. Dirty: tracked files
    differ from the commit (untracked files are ignored, like `git describe --dirty`)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=root).stdout.strip()
        if not commit:
            return "unknown", None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                text=True, timeout=10, cwd=root)
        return commit, (bool(status.stdout.strip()) if status.returncode == 0 else None)
    except (OSError, subprocess.SubprocessError):
        return "unknown", None


def _version(module_name, dist_name=None):
    """A package's version, or None when it is not installed."""
    import importlib
    import importlib.metadata

    try:
        return importlib.metadata.version(dist_name or module_name)
    except importlib.metadata.PackageNotFoundError:
        try:
            return getattr(importlib.import_module(module_name), "__version__", None)
        except ImportError:
            return None


def describe_environment(device, precision_choice):
    """What a reader needs to compare two runs: CPU model and its bf16/AMX flags, threads, versions, device, the
    precision actually used (and whether the guard changed it), git commit and dirty flag. A json-ready dict."""
    from lib.utils.precision import cpu_info

    commit, dirty = _git_state()
    cpu = cpu_info()
    env = {
        "cpu": cpu["model"], "avx512_bf16": cpu["avx512_bf16"], "amx_bf16": cpu["amx_bf16"],
        "amx_tile": cpu["amx_tile"], "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "torch": torch.__version__, "numpy": np.__version__, "opencv": _version("cv2", "opencv-python-headless"),
        "pycocotools": _version("pycocotools"), "device": str(device), "world_size": dist.get_world_size(),
        "git_commit": commit, "git_dirty": dirty,
    }
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    env["precision"] = precision_choice.as_dict()
    return env


def log_environment(cfg, args, device, environment=None):
    """Command line, the environment (describe_environment), args and the merged config, at start-up.
    `args` is a dict of the parsed command-line arguments."""
    logger.info("command: %s", " ".join(sys.argv))
    if environment is None:
        from lib.utils.precision import current_choice

        environment = describe_environment(device, current_choice(cfg, device))
    logger.info("environment: %s", json.dumps(environment))
    logger.info("args: %s", args)
    logger.info("config:\n%s", cfg.dump())


def save_environment(environment, run_dir):
    """<run dir>/environment.json, next to config.yaml (atomic); append_metrics copies it into every record."""
    path = os.path.join(run_dir, ENVIRONMENT_FILE)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(environment, f, indent=1)
    os.replace(tmp, path)


def save_config(cfg, run_dir):
    path = os.path.join(run_dir, "config.yaml")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(cfg.dump())
    os.replace(tmp, path)


def append_metrics(run_dir, record):
    """One json line per epoch in <run dir>/metrics.jsonl (plots and comparisons read it). When the run folder has an
    environment.json (setup_run writes one at every start), the line carries it as 'env', so each epoch says where
    and in what precision it ran, resumed runs included."""
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
    env_path = os.path.join(run_dir, ENVIRONMENT_FILE)
    if "env" not in clean and os.path.isfile(env_path):
        with open(env_path) as f:
            clean["env"] = json.load(f)
    with open(os.path.join(run_dir, "metrics.jsonl"), "a") as f:
        f.write(json.dumps(clean) + "\n")


def read_metrics(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def truncate_metrics(run_dir, upto_epoch):
    """On resume, drop lines of epochs >= upto_epoch (written after the checkpoint the run resumes from)."""
    records = [r for r in read_metrics(run_dir) if r.get("epoch", -1) < upto_epoch]
    path = os.path.join(run_dir, "metrics.jsonl")
    if os.path.isfile(path):
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, path)


def make_tb_writer(cfg, run_dir):
    if not dist.is_main_process():
        return None
    from tensorboardX import SummaryWriter

    return SummaryWriter(cfg.LOG_DIR or os.path.join(run_dir, "tb"))


def setup_run(cfg_path, opts, default_output, log_name, args=None):
    """Config, device (and DDP), run folder, logger, environment log, config.yaml, base seed.

    Returns:
        (cfg, device, run_dir)
    """
    from lib.config import load_cfg
    from lib.utils.logger import setup_logger

    cfg = load_cfg(cfg_path, opts)
    device = dist.init_distributed(cfg.DEVICE)
    run_dir = run_dir_for(cfg, cfg_path, default_output)
    if dist.is_main_process():
        os.makedirs(run_dir, exist_ok=True)
    setup_logger(run_dir, dist.get_rank(), log_name)
    precision_choice = configure_torch(cfg, device, training=True)  # after the logger: it reports the precision
    environment = describe_environment(device, precision_choice)
    log_environment(cfg, args if args is not None else {}, device, environment)
    if dist.is_main_process():
        save_config(cfg, run_dir)  # after the guard: AMP / CHANNELS_LAST as they run
        save_environment(environment, run_dir)
    seed_everything(cfg.SEED)
    return cfg, device, run_dir


def build_train_generator(cfg):
    """The generator as both trainers start it. The loss is chosen here (LOSS.TYPE), so its starting output bias is
    too: with 'bce' and MODEL.INIT_WEIGHTS the output conv's bias starts at the loss's best constant logit
    (lib.core.loss.bce_prior_logit) instead of 0, whose sigmoid 0.5 everywhere costs the first few hundred
    iterations just darkening the background. The model builder itself knows nothing of losses.
    The model is recorded as trained on the codec's targets, so its weight files say so and its evaluation never
    shifts the flip test (lib.core.inference.flip_shift), whatever it was initialised from."""
    from lib.codec import TARGET_CONVENTION
    from lib.config import require_path
    from lib.core.loss import bce_prior_logit
    from lib.models import build_generator
    from lib.utils.checkpoint import record_weights

    if cfg.MODEL.PRETRAINED:
        require_path(cfg, "MODEL.PRETRAINED")
    bias = None
    if cfg.LOSS.TYPE == "bce" and cfg.MODEL.INIT_WEIGHTS:
        bias = bce_prior_logit(cfg.MODEL.HEATMAP_SIZE, cfg.MODEL.SIGMA, cfg.LOSS.BCE_POS_WEIGHT,
                               cfg.LOSS.BCE_WEIGHTING)
    model = build_generator(cfg, output_bias=bias)
    record_weights(model, target_convention=TARGET_CONVENTION)
    return model


def build_data(cfg, device):
    """Train and val datasets and loaders. Returns (train_set, val_set, train_loader, val_loader, iters/epoch)."""
    from lib.dataset import build_dataset

    train_set = build_dataset(cfg, is_train=True)
    val_set = build_dataset(cfg, is_train=False)
    train_loader = build_loader(train_set, cfg, True, device)
    val_loader = build_loader(val_set, cfg, False, device)
    num_iters = iters_per_epoch(train_loader, cfg)
    if num_iters == 0:
        raise ValueError(f"{cfg.DATASET.TRAIN_SET}: {len(train_set)} samples give no complete batch of "
                         f"TRAIN.BATCH_SIZE_PER_GPU={cfg.TRAIN.BATCH_SIZE_PER_GPU} per process")
    logger.info("train %s: %d samples, %d iterations/epoch; val %s: %d samples", cfg.DATASET.TRAIN_SET,
                len(train_set), num_iters, cfg.DATASET.TEST_SET, len(val_set))
    return train_set, val_set, train_loader, val_loader, num_iters


def resume_path(resume_arg, cfg, run_dir):
    """--resume wins; else <run dir>/checkpoint.pth when AUTO_RESUME and it exists; else ''."""
    if resume_arg:
        return resume_arg
    auto = os.path.join(run_dir, "checkpoint.pth")
    return auto if cfg.AUTO_RESUME and os.path.isfile(auto) else ""


def wrap_ddp(module, device):
    if not dist.is_distributed() or module is None:
        return module
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda"
                                                     else None)


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
        import time

        from lib.core.function import validate
        from lib.utils.checkpoint import save_generator_weights

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
                save_generator_weights(dist.unwrap(model), os.path.join(self.run_dir, "model_best.pth"))
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


def finish_run(model, run_dir, tracker, writer):
    """final_state.pth (the bare generator, recorded: the EMA's when on), the closing log line, TensorBoard and the
    process group."""
    from lib.utils.checkpoint import save_generator_weights

    if dist.is_main_process():
        save_generator_weights(dist.unwrap(model), os.path.join(run_dir, "final_state.pth"))
        logger.info("done: best %.4f at epoch %d; outputs in %s", tracker.best_perf, tracker.best_epoch, run_dir)
        if writer is not None:
            writer.close()
    dist.cleanup()
    return run_dir


def training_arg_parser(description, init_help="generator weights to start a NEW run from"):
    """The command line both trainers share: --cfg, --resume, --init-from and trailing KEY VALUE overrides."""
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", required=True, help="experiment yaml")
    parser.add_argument("--resume", default="", help="checkpoint.pth to continue exactly (else AUTO_RESUME decides)")
    parser.add_argument("--init-from", default="", help=init_help)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    return parser
