"""Keypoint datasets: the shared pipeline (joints_dataset), COCO-format, MPII and LSP/LSPET loaders, and the builder."""
from lib.dataset.coco import COCODataset
from lib.dataset.lsp import LSPDataset
from lib.dataset.mpii import MPIIDataset

DATASETS = {"coco": COCODataset, "mpii": MPIIDataset, "lsp": LSPDataset}


def build_dataset(cfg, is_train, image_set=None):
    """The dataset named by DATASET.DATASET.

    Args:
        cfg: config.
        is_train: training samples with augmentation (default split DATASET.TRAIN_SET) or evaluation samples
            (default split DATASET.TEST_SET).
        image_set: split name overriding the default.

    Returns:
        a JointsDataset rooted at DATASET.ROOT.
    """
    name = cfg.DATASET.DATASET
    if name not in DATASETS:
        raise ValueError(f"DATASET.DATASET={name!r} is not one of {sorted(DATASETS)}")
    if image_set is None:
        image_set = cfg.DATASET.TRAIN_SET if is_train else cfg.DATASET.TEST_SET
    return DATASETS[name](cfg, cfg.DATASET.ROOT, image_set, is_train)
