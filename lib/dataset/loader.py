"""Data loaders and seeding: every epoch draws its shuffle and augmentations from a seed that depends only on the
run's seed, the epoch and the rank, so a run resumed at an epoch boundary draws what an uninterrupted one draws."""
import logging
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler

from lib.dataset import build_dataset
from lib.utils import dist

logger = logging.getLogger(__name__)


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


def iters_per_epoch(loader, cfg):
    n = len(loader)
    return min(n, cfg.TRAIN.MAX_ITERS_PER_EPOCH) if cfg.TRAIN.MAX_ITERS_PER_EPOCH > 0 else n


def build_data(cfg, device):
    """Train and val datasets and loaders. Returns (train_set, val_set, train_loader, val_loader, iters/epoch)."""
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
