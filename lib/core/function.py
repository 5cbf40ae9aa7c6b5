"""One training epoch of the pure (MSE/BCE) generator, and `validate()`, the one evaluator every trainer calls.

    for epoch in range(start, end):
        stats = train_one_epoch(...)          # forward, finite check, backward, (clip), step, per-iteration LR
        perf, name_values = validate(...)     # flip test, codec decode, rescoring, OKS-NMS, COCOeval / PCKh
"""
import logging
import math
import os
import re
import time

import numpy as np
import torch
from tqdm import tqdm

from lib.core.evaluate import evaluate_coco, summary_table
from lib.core.inference import flip_shift, predict_heatmaps
from lib.core.loss import JointsMSELoss
from lib.metrics.pck import box_pck
from lib.utils import dist
from lib.utils.precision import autocast_for, training_autocast

logger = logging.getLogger(__name__)


class AverageMeter:
    def __init__(self):
        self.sum, self.count = 0.0, 0

    def update(self, value, n=1):
        self.sum += float(value) * n
        self.count += n

    @property
    def avg(self):
        return self.sum / self.count if self.count else float("nan")


def to_device(batch, device):
    images, target, target_weight, meta = batch
    non_blocking = device.type == "cuda"
    return (images.to(device, non_blocking=non_blocking), target.to(device, non_blocking=non_blocking),
            target_weight.to(device, non_blocking=non_blocking), meta)


def check_finite(losses, epoch, iteration):
    """Stops the run on a non-finite loss, naming the epoch, iteration and every term."""
    if not all(math.isfinite(float(v.detach() if torch.is_tensor(v) else v)) for v in losses.values()):
        terms = ", ".join(f"{k}={float(v):.6g}" for k, v in losses.items())
        raise FloatingPointError(f"non-finite loss at epoch {epoch}, iteration {iteration}: {terms}")


def train_one_epoch(cfg, loader, model, criterion, optimizer, scheduler, epoch, device, num_iters, scaler=None,
                    writer=None, ema=None):
    """Trains `model` for one epoch (or `num_iters` iterations). The scheduler steps every iteration; `ema`
    (lib.core.ema.ModelEMA or None) follows every optimizer step.

    Returns:
        dict with the mean 'loss', 'lr' at the end, 'seconds', 'images_per_s', 'steady_images_per_s' (after the
        first iteration, so without the loader workers' start-up), 'iterations' run and 'skipped' (corrupt images).
    """
    model.train()
    loss_meter, data_time, batch_time = AverageMeter(), AverageMeter(), AverageMeter()
    skipped = 0
    use_scaler = scaler is not None and cfg.AMP and device.type == "cuda"
    start = end = first_end = time.time()
    first_count = iterations = 0
    progress = tqdm(total=num_iters, desc=f"epoch {epoch}", disable=not dist.is_main_process(), dynamic_ncols=True,
                    mininterval=2.0)
    for i, batch in enumerate(loader):
        if i >= num_iters:
            break
        images, target, target_weight, meta = to_device(batch, device)
        skipped += int(meta["skipped"].sum()) if "skipped" in meta else 0
        data_time.update(time.time() - end)

        with training_autocast(cfg, device):
            output = model(images)
            loss = criterion(output, target, target_weight)  # fp32 inside; a stacked model's list: every stack
        check_finite({"loss_heatmap": loss}, epoch, i)
        optimizer.zero_grad(set_to_none=True)
        if use_scaler:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            if cfg.TRAIN.CLIP_GRAD_NORM > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.TRAIN.CLIP_GRAD_NORM)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if cfg.TRAIN.CLIP_GRAD_NORM > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.TRAIN.CLIP_GRAD_NORM)
            optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(dist.unwrap(model))

        loss_meter.update(loss.item(), images.size(0))
        batch_time.update(time.time() - end)
        end = time.time()
        iterations = i + 1
        if i == 0:
            first_end, first_count = end, loss_meter.count
        lr = optimizer.param_groups[0]["lr"]
        ips = images.size(0) * dist.get_world_size() / max(batch_time.avg, 1e-9)
        progress.set_postfix(loss=f"{loss_meter.avg:.3g}", lr=f"{lr:.2e}", img_s=f"{ips:.1f}",
                             data=f"{data_time.avg:.2f}s", refresh=False)
        progress.update(1)
        global_step = epoch * num_iters + i
        if writer is not None and i % cfg.PRINT_FREQ == 0:
            writer.add_scalar("train/loss_heatmap", loss.item(), global_step)
            writer.add_scalar("train/lr", lr, global_step)
        if i % cfg.PRINT_FREQ == 0 or i == num_iters - 1:
            logger.info("epoch %d [%d/%d] loss_heatmap %.6f (avg %.6f) lr %.3e data %.3fs batch %.3fs %.1f img/s",
                        epoch, i, num_iters, loss.item(), loss_meter.avg, lr, data_time.avg, batch_time.avg, ips)
    progress.close()
    if skipped:
        logger.warning("epoch %d: skipped %d unreadable images (DATASET.SKIP_CORRUPT)", epoch, skipped)
    seconds = time.time() - start
    steady = (loss_meter.count - first_count) / (end - first_end) if loss_meter.count > first_count else float("nan")
    return {"loss": dist.all_reduce_mean(loss_meter.avg), "lr": optimizer.param_groups[0]["lr"],
            "seconds": seconds, "images_per_s": loss_meter.count * dist.get_world_size() / max(seconds, 1e-9),
            "steady_images_per_s": steady * dist.get_world_size(), "iterations": iterations, "skipped": skipped}


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
    loss_meter, heatmap_mse = AverageMeter(), JointsMSELoss(use_target_weight=True)
    for i, batch in enumerate(tqdm(loader, desc="validate", disable=not dist.is_main_process(), mininterval=2.0)):
        images, target, target_weight, meta = to_device(batch, device)
        with autocast_for(device, cfg.AMP):
            heatmaps = predict_heatmaps(model, images, flip_pairs, shift_heatmap, cfg.LOSS.TYPE)
        if cfg.TEST.USE_GT_BBOX:  # with detector boxes the targets are meaningless
            loss_meter.update(heatmap_mse(heatmaps, target, target_weight).item(), images.size(0))
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

    local = (np.concatenate(preds), np.concatenate(boxes), np.concatenate(image_ids), np.concatenate(indices))
    gathered = dist.all_gather_objects(local)
    if not dist.is_main_process():
        return 0.0, {}
    preds, boxes, image_ids, indices = (np.concatenate(parts) for parts in zip(*gathered))
    if dist.get_world_size() > 1:  # DistributedSampler pads with repeats; keep each sample once, in order
        _, first = np.unique(indices, return_index=True)
        preds, boxes, image_ids = preds[first], boxes[first], image_ids[first]

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
    if loss_meter.count:
        name_values["heatmap_mse"] = loss_meter.avg
    if writer is not None:
        for name, value in name_values.items():
            if isinstance(value, float) and math.isfinite(value):
                writer.add_scalar(f"val/{tb_tag(name)}", value, epoch)
    return float(perf), name_values
