"""The pure training step (the generator against the heatmap loss alone) and `validate()`, the one evaluator every
trainer calls. The epoch loop that drives a step is lib.core.trainer.train_one_epoch.

    step = PureStep(model, criterion, optimizer, ...)   # build_pure_step
    perf, name_values = validate(...)                   # flip test, codec decode, rescoring, OKS-NMS, COCOeval / PCKh
"""
import logging
import math
import os
import re

import numpy as np
import torch
from tqdm import tqdm

from lib.codec import TARGET_CONVENTION
from lib.config import require_path
from lib.core.evaluate import evaluate_coco, summary_table
from lib.core.inference import flip_shift, predict_heatmaps
from lib.core.loss import JointsMSELoss, bce_prior_logit, build_loss, check_finite
from lib.core.optim import build_optimizer, build_scheduler, log_batch_rule, optimizer_step
from lib.metrics.pck import box_pck
from lib.models import build_generator
from lib.utils import dist
from lib.utils.amp import autocast_for, training_autocast
from lib.utils.checkpoint import record_weights

logger = logging.getLogger(__name__)


def to_device(batch, device):
    images, target, target_weight, meta = batch
    non_blocking = device.type == "cuda"
    return (images.to(device, non_blocking=non_blocking), target.to(device, non_blocking=non_blocking),
            target_weight.to(device, non_blocking=non_blocking), meta)


def build_train_generator(cfg):
    """The generator as both trainers start it. The loss is chosen here (LOSS.TYPE), so its starting output bias is
    too: with 'bce' and MODEL.INIT_WEIGHTS the output conv's bias starts at the loss's best constant logit
    (lib.core.loss.bce_prior_logit) instead of 0, whose sigmoid 0.5 everywhere costs the first few hundred
    iterations just darkening the background. The model builder itself knows nothing of losses.
    The model is recorded as trained on the codec's targets, so its weight files say so and its evaluation never
    shifts the flip test (lib.core.inference.flip_shift), whatever it was initialised from."""
    if cfg.MODEL.PRETRAINED:
        require_path(cfg, "MODEL.PRETRAINED")
    bias = None
    if cfg.LOSS.TYPE == "bce" and cfg.MODEL.INIT_WEIGHTS:
        bias = bce_prior_logit(cfg.MODEL.HEATMAP_SIZE, cfg.MODEL.SIGMA, cfg.LOSS.BCE_POS_WEIGHT,
                               cfg.LOSS.BCE_WEIGHTING)
    model = build_generator(cfg, output_bias=bias)
    record_weights(model, target_convention=TARGET_CONVENTION)
    return model


class PureStep:
    """One training iteration of the generator against the heatmap loss: forward (autocast per AMP), finite check,
    backward, optional clipping, optimizer step. The shared epoch loop (lib.core.trainer) drives it."""

    trainer = "pure"
    main_loss = "loss_heatmap"
    progress_keys = ("loss_heatmap",)
    generator_stepped = True  # every iteration updates the generator (the EMA follows each one)

    def __init__(self, model, criterion, optimizer, cfg, device, scaler=None):
        self.generator, self.criterion, self.optimizer = model, criterion, optimizer
        self.params = list(model.parameters())  # what clipping reads; the set never changes during a run
        self.cfg, self.device, self.scaler = cfg, device, scaler
        self.clip_grad_norm = float(cfg.TRAIN.CLIP_GRAD_NORM)

    def start_epoch(self, epoch, num_iters, dataset):
        self.generator.train()
        return ""

    def train_batch(self, images, target, target_weight, meta, iteration):
        with training_autocast(self.cfg, self.device):
            output = self.generator(images)
            loss = self.criterion(output, target, target_weight)  # fp32 inside; a stacked model's list: every stack
        check_finite({"loss_heatmap": loss})
        self.optimizer.zero_grad(set_to_none=True)
        optimizer_step(loss, self.optimizer, self.params, self.scaler, self.clip_grad_norm)
        return {"loss_heatmap": loss.item()}

    def log_fields(self):
        return {}

    def epoch_fields(self):
        return {}

    def checkpoint_parts(self):
        """What checkpoint.pth holds besides the scheduler and the EMA (lib.utils.checkpoint's keywords)."""
        return {"model": dist.unwrap(self.generator), "optimizer": self.optimizer, "scaler": self.scaler}


def build_pure_step(cfg, device, model, num_iters):
    """The PureStep over `model` (placed; under torchrun wrapped for DDP, with SyncBatchNorm per MODEL.SYNC_BN) with
    its loss, optimizer (LR per lib.core.optim.lr_scale) and AMP scaler, and the per-iteration LR schedule (built
    before any state is loaded, so a resume does not decay twice). Returns (step, scheduler)."""
    log_batch_rule(cfg)
    criterion = build_loss(cfg).to(device)
    optimizer = build_optimizer(cfg, model.parameters())
    scheduler = build_scheduler(cfg, optimizer, num_iters)
    scaler = torch.amp.GradScaler("cuda") if cfg.AMP and device.type == "cuda" else None
    generator = dist.wrap_ddp(model, device, sync_bn=cfg.MODEL.SYNC_BN)
    return PureStep(generator, criterion, optimizer, cfg, device, scaler), scheduler


def tb_tag(name):
    """A TensorBoard-safe tag for a stat name: 'AP (v=1 only)' -> 'AP_v1_only'."""
    return re.sub(r"[^A-Za-z0-9_.]+", "_", name.replace("=", "")).strip("_")


def _tb_images(writer, images, heatmaps, target, epoch, count):
    """A few validation samples: input crop, predicted and target heatmaps (max over joints)."""
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    for k in range(min(count, images.shape[0])):
        writer.add_image(f"val/{k}_input", (images[k].cpu() * std + mean).clamp(0, 1), epoch)
        writer.add_image(f"val/{k}_pred", heatmaps[k].max(0, keepdim=True)[0].clamp(0, 1).cpu(), epoch)
        writer.add_image(f"val/{k}_target", target[k].max(0, keepdim=True)[0].clamp(0, 1).cpu(), epoch)


@torch.no_grad()
def validate(cfg, loader, dataset, model, output_dir, device, writer=None, epoch=0):
    """Predicts every sample of `dataset` (flip test per TEST.FLIP_TEST, its heatmap shift per
    lib.core.inference.flip_shift: never for weights trained here), decodes with the dataset's codec, and
    evaluates by `dataset.metric`: COCO OKS AP (pycocotools; on ground-truth boxes also PCK by box size,
    lib.metrics.pck.box_pck), or the dataset's own evaluate() (MPII PCKh, LSP PCK: datasets without OKS constants).
    Under DDP every rank predicts its shard; rank 0 evaluates.

    Returns:
        (perf indicator (AP or PCKh mean; 0.0 on ranks > 0), OrderedDict of name -> value, plus 'heatmap_mse' of
        the (flip-averaged) heatmaps against the targets when evaluating on ground-truth boxes).
    """
    model.eval()
    flip_pairs = dataset.flip_pairs if cfg.TEST.FLIP_TEST else None
    shift_heatmap, shift_reason = flip_shift(cfg, dist.unwrap(model))
    if dist.is_main_process():
        logger.info("%s", shift_reason if flip_pairs else "flip test off (TEST.FLIP_TEST False)")
    codec = dataset.codec
    preds, boxes, image_ids, indices = [], [], [], []
    sample_mse, heatmap_mse = [], JointsMSELoss(use_target_weight=True)
    for i, batch in enumerate(tqdm(loader, desc="validate", disable=not dist.is_main_process(), mininterval=2.0)):
        images, target, target_weight, meta = to_device(batch, device)
        with autocast_for(device, cfg.AMP):
            heatmaps = predict_heatmaps(model, images, flip_pairs, shift_heatmap, cfg.LOSS.TYPE)
        if cfg.TEST.USE_GT_BBOX:  # with detector boxes the targets are meaningless
            # per sample, so that DDP can drop the DistributedSampler's padded repeats as it does for predictions
            sample_mse.append(torch.stack([heatmap_mse(h[None], t[None], w[None]) for h, t, w in
                                           zip(heatmaps, target, target_weight)]).float().cpu().numpy())
        centers, scales = meta["center"].numpy(), meta["scale"].numpy()
        coords, maxvals = codec.decode_to_image(heatmaps.cpu().numpy(), centers, scales)
        preds.append(np.concatenate([coords, maxvals[..., None]], axis=2))
        area = np.prod(scales * 200.0, axis=1)
        boxes.append(np.stack([centers[:, 0], centers[:, 1], scales[:, 0], scales[:, 1], area,
                               meta["score"].numpy()], axis=1))
        image_ids.append(meta["image_id"].numpy())
        indices.append(meta["index"].numpy() if "index" in meta else np.zeros(len(centers), dtype=np.int64))
        if writer is not None and i == 0 and cfg.LOG.NUM_IMAGES > 0:
            _tb_images(writer, images, heatmaps, target, epoch, cfg.LOG.NUM_IMAGES)

    local = (np.concatenate(preds), np.concatenate(boxes), np.concatenate(image_ids), np.concatenate(indices),
             np.concatenate(sample_mse) if sample_mse else np.zeros(0))
    gathered = dist.all_gather_objects(local)
    if not dist.is_main_process():
        return 0.0, {}
    preds, boxes, image_ids, indices, sample_mse = (np.concatenate(parts) for parts in zip(*gathered))
    if dist.get_world_size() > 1:  # DistributedSampler pads with repeats; keep each sample once, in order
        _, first = np.unique(indices, return_index=True)
        preds, boxes, image_ids = preds[first], boxes[first], image_ids[first]
        sample_mse = sample_mse[first] if len(sample_mse) else sample_mse

    os.makedirs(os.path.join(output_dir, "results"), exist_ok=True)
    if dataset.metric in ("pckh", "pck"):  # datasets without OKS constants score their own predictions
        name_values, perf = dataset.evaluate(preds, output_dir)
    elif dataset.metric == "coco_oks":
        out_json = os.path.join(output_dir, "results", f"keypoints_{dataset.image_set}_results.json")
        name_values, perf = evaluate_coco(
            dataset.coco, preds, boxes, image_ids, out_json, oks_thre=cfg.TEST.OKS_THRE,
            in_vis_thre=cfg.TEST.IN_VIS_THRE, soft_nms=cfg.TEST.SOFT_NMS, has_keypoints=dataset.has_keypoints)
        if cfg.TEST.USE_GT_BBOX and dataset.has_keypoints:  # one prediction per GT person: box-normalised PCK too
            box_values, table = box_pck(preds, dataset.db, dataset.joint_names)
            name_values.update(box_values)
            logger.info("PCK normalised by the ground-truth box, max(w, h), on %s:\n%s", dataset.image_set, table)
    else:
        raise ValueError(f"{type(dataset).__name__}.metric={dataset.metric!r}: expected 'coco_oks', 'pckh' or 'pck'")
    if cfg.TEST.USE_GT_BBOX:
        box_kind, boxes_used = "ground-truth boxes", f"{len(preds)} GT"
    else:
        box_kind = f"detector boxes from {cfg.TEST.COCO_BBOX_FILE} (score >= TEST.IMAGE_THRE {cfg.TEST.IMAGE_THRE:g})"
        boxes_used = f"{len(preds)} detected"
    flip = f"flip test {'with' if shift_heatmap else 'without'} heatmap shift" if flip_pairs else "no flip test"
    logger.info("evaluation summary: %s, %d person crops, %s, %s, %s decoding:\n%s", dataset.image_set, len(preds),
                box_kind, flip, "DARK" if cfg.TEST.POST_PROCESS else "argmax", summary_table(name_values, boxes_used))
    if len(sample_mse):
        name_values["heatmap_mse"] = float(np.mean(sample_mse, dtype=np.float64))
    if writer is not None:
        for name, value in name_values.items():
            if isinstance(value, float) and math.isfinite(value):
                writer.add_scalar(f"val/{tb_tag(name)}", value, epoch)
    return float(perf), name_values
