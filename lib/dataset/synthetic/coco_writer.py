"""Writing the synthetic dataset in COCO's layout: image and annotation ids, one JPEG per image (rendered in this
process or in a pool of worker processes), the val detection results and, last, the annotation jsons (generate)."""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from dataclasses import asdict, fields
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from lib.dataset.synthetic.config import SynthConfig
from lib.dataset.synthetic.scene import SPLITS, render_sample
from lib.dataset.synthetic.skeleton import KEYPOINT_NAMES, SKELETON

logger = logging.getLogger(__name__)

CATEGORY = {"id": 1, "name": "person", "supercategory": "person", "keypoints": list(KEYPOINT_NAMES),
            "skeleton": SKELETON}

# SPLITS (scene.py) offsets the val ids by 10,000,000, so a split holds at most this many images.
MAX_IMAGES_PER_SPLIT = 9_999_999
DETECTIONS_FILE = "synthetic_val2017_detections.json"
# Annotation id = image id * ANN_ID_STRIDE + person index: unique and independent of the worker that made it.
ANN_ID_STRIDE = 100


def image_id(split: str, index: int) -> int:
    """COCO image id of image `index` of `split` (unique across both splits)."""
    return SPLITS[split][1] + index + 1


def _write_one(job: Tuple[str, int, int, str, Dict]) -> Tuple[Dict, List[Dict], List[Dict]]:
    """Render and write one JPEG; return its COCO image entry, annotations and detections."""
    split, index, seed, image_dir, cfg_dict = job
    sample = render_sample(seed, split, index, SynthConfig(**cfg_dict))
    img_id = image_id(split, index)
    file_name = f"{img_id:012d}.jpg"
    ok, buf = cv2.imencode(".jpg", sample.image, [cv2.IMWRITE_JPEG_QUALITY, sample.jpeg_quality])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {file_name}")
    with open(os.path.join(image_dir, file_name), "wb") as f:
        f.write(buf.tobytes())
    h, w = sample.image.shape[:2]
    anns = []
    for k, ann in enumerate(sample.annotations):
        ann = {key: v for key, v in ann.items() if not key.startswith("_")}
        ann.update(id=img_id * ANN_ID_STRIDE + k, image_id=img_id)
        anns.append(ann)
    dets = [{"image_id": img_id, "category_id": 1, **d} for d in sample.detections]
    return {"id": img_id, "file_name": file_name, "width": w, "height": h}, anns, dets


def _write_json(path: str, obj) -> None:
    """Write atomically: a temporary file next to it, then os.replace."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    os.replace(tmp, path)


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would only contend


def generate(out_dir: str, n_train: int, n_val: int, seed: int = 0, workers: int = 1,
             config: Optional[SynthConfig] = None, **knobs) -> Dict:
    """Write a synthetic COCO person-keypoint dataset.

    Layout (exactly COCO's, so a COCO loader reads it unchanged):
        out_dir/images/train2017/<12-digit image id>.jpg, out_dir/images/val2017/...,
        out_dir/person_detection_results/synthetic_val2017_detections.json,
        out_dir/annotations/person_keypoints_train2017.json, .../person_keypoints_val2017.json.
    The annotation jsons are written last (atomically), so a run that was interrupted has no annotation json.

    Args:
        out_dir: output root (created if needed).
        n_train, n_val: images per split (0 allowed), at most 9,999,999 each.
        seed: non-negative integer; the same seed and knobs give the same bytes with any number of workers.
        workers: processes used to render (1 = in this process).
        config: a SynthConfig; or pass its fields as keyword knobs (not both).

    Returns:
        summary dict: per split the number of images, annotations and labelled keypoints, the detection count, and
        the seconds taken.
    """
    if config is not None and knobs:
        raise ValueError("pass either config or keyword knobs, not both")
    if config is None:
        valid = {f.name for f in fields(SynthConfig)}
        unknown = sorted(set(knobs) - valid)
        if unknown:
            raise ValueError(f"unknown difficulty knob(s) {unknown}; valid: {sorted(valid)}")
        config = SynthConfig(**knobs)
    config.validate()
    for name, n in (("n_train", n_train), ("n_val", n_val)):
        if not isinstance(n, (int, np.integer)) or not 0 <= n <= MAX_IMAGES_PER_SPLIT:
            raise ValueError(f"{name}={n!r} must be an integer in [0, {MAX_IMAGES_PER_SPLIT}]")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers={workers!r} must be a positive integer")

    start = time.time()
    ann_dir = os.path.join(out_dir, "annotations")
    det_dir = os.path.join(out_dir, "person_detection_results")
    for d in (ann_dir, det_dir):
        os.makedirs(d, exist_ok=True)
    # Remove an earlier run's annotation files first: an interrupted run must never leave an old json beside new images.
    for set_name, _ in SPLITS.values():
        stale = os.path.join(ann_dir, f"person_keypoints_{set_name}.json")
        if os.path.exists(stale):
            os.remove(stale)
    cfg_dict = asdict(config)
    summary: Dict = {"seed": int(seed), "config": cfg_dict}
    results = {}
    # "spawn", not fork: forking a process whose OpenCV/BLAS threads hold locks can deadlock the children.
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init) if workers > 1 else None
    try:
        for split, n in (("train", n_train), ("val", n_val)):
            set_name = SPLITS[split][0]
            image_dir = os.path.join(out_dir, "images", set_name)
            os.makedirs(image_dir, exist_ok=True)
            jobs = [(split, i, int(seed), image_dir, cfg_dict) for i in range(n)]
            t0 = time.time()
            rows = pool.imap(_write_one, jobs, chunksize=8) if pool else map(_write_one, jobs)
            images, anns, dets = [], [], []
            for k, (img, a, d) in enumerate(rows):  # imap keeps the order, so the json is worker-independent
                images.append(img)
                anns.extend(a)
                dets.extend(d)
                if (k + 1) % 500 == 0:
                    logger.info("%s: %d/%d images (%.1f img/s)", split, k + 1, n, (k + 1) / (time.time() - t0))
            results[split] = (images, anns, dets)
            extra = len(os.listdir(image_dir)) - len(images)
            if extra > 0:
                logger.warning("%s holds %d files from an earlier run that %s does not list", image_dir, extra,
                               f"person_keypoints_{set_name}.json")
            summary[split] = {"images": len(images), "annotations": len(anns),
                              "keypoints": int(sum(a["num_keypoints"] for a in anns)),
                              "seconds": round(time.time() - t0, 2)}
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    det_path = os.path.join(det_dir, DETECTIONS_FILE)
    _write_json(det_path, results["val"][2])
    summary["val"]["detections"] = len(results["val"][2])
    for split in ("train", "val"):
        images, anns, _ = results[split]
        set_name = SPLITS[split][0]
        coco = {
            "info": {"description": "AdversarialOmniPose synthetic person keypoints (lib/dataset/synthetic.py)",
                     "version": "1.0", "year": 2024, "contributor": "synthetic", "seed": int(seed),
                     "config": cfg_dict},
            "licenses": [],
            "images": images,
            "annotations": anns,
            "categories": [CATEGORY],
        }
        _write_json(os.path.join(ann_dir, f"person_keypoints_{set_name}.json"), coco)
    summary["seconds"] = round(time.time() - start, 2)
    logger.info("wrote %s in %.1f s", out_dir, summary["seconds"])
    return summary
