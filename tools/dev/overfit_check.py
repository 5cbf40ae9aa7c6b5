r"""Overfit check: a model trained on a few synthetic persons and evaluated by the normal validate() on those same
persons must reach AP >= --min-ap (0.9). If it cannot, something in the chain is wrong (crop affine, target
placement, flip pairs, decode, rescoring, area) or the recipe cannot fit even a tiny set; both are worth knowing
before tuning on the full data.

    python tools/dev/overfit_check.py                                   # quickstart config, 64 persons
    python tools/dev/overfit_check.py --cfg CONFIG --persons 64 --epochs 150 [KEY VALUE ...]

It generates a small synthetic set (seeded), keeps exactly --persons labelled persons in the training json, trains
with augmentation off, and evaluates on the training split itself (ground-truth boxes, the config's flip test and
decoding), then prints the final AP and exits 1 when it is below --min-ap. The run folder and data stay under --out.
"""
import argparse
import json
import os
import sys

from lib.core.workdir import read_metrics
from lib.dataset import synthetic
from lib.core.launch import train_in_subprocess

DEFAULT_CFG = "experiments/synthetic/omnipose_quickstart.yaml"


def make_overfit_set(root, persons, seed):
    """A synthetic COCO-format set whose train2017 json holds exactly `persons` labelled persons."""
    ann_path = os.path.join(root, "annotations", "person_keypoints_train2017.json")
    images = max(persons // 2, 1)
    while True:
        synthetic.generate(root, images, 1, seed=seed)
        with open(ann_path) as f:
            data = json.load(f)
        labelled = [a for a in data["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"]]
        if len(labelled) >= persons:
            break
        images = int(images * 1.5) + 1
    keep = labelled[:persons]
    keep_images = {a["image_id"] for a in keep}
    data["annotations"] = keep
    data["images"] = [im for im in data["images"] if im["id"] in keep_images]
    with open(ann_path, "w") as f:
        json.dump(data, f)
    return len(keep), len(keep_images)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default=DEFAULT_CFG, help=f"training config (default: {DEFAULT_CFG})")
    parser.add_argument("--persons", type=int, default=64, help="labelled persons to overfit (default: 64)")
    parser.add_argument("--epochs", type=int, default=150, help="epochs over those persons (default: 150)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default: 16)")
    parser.add_argument("--min-ap", type=float, default=0.9, help="AP needed to pass (default: 0.9)")
    parser.add_argument("--seed", type=int, default=5, help="synthetic data seed (default: 5)")
    parser.add_argument("--out", default="OmniPose/overfit_check", help="data and run folder (default: %(default)s)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="extra KEY VALUE config overrides")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    data_root = os.path.join(args.out, "data")
    persons, images = make_overfit_set(data_root, args.persons, args.seed)
    print(f"[overfit] {persons} persons in {images} images under {data_root}")
    run_root = os.path.join(args.out, "runs")
    overrides = [
        "DATASET.ROOT", data_root, "DATASET.TEST_SET", "train2017", "TEST.USE_GT_BBOX", "True",
        # No augmentation: the check is whether the chain can reproduce what it was shown. No flip test either: a
        # model never shown mirrored persons gives poor heatmaps for them, and averaging those in costs AP.
        "DATASET.SCALE_FACTOR", "0.0", "DATASET.ROT_PROB", "0.0", "DATASET.PROB_HALF_BODY", "0.0",
        "DATASET.FLIP", "False", "TEST.FLIP_TEST", "False",
        "TRAIN.BATCH_SIZE_PER_GPU", str(args.batch), "TRAIN.END_EPOCH", str(args.epochs),
        "TRAIN.LR_SCHEDULE", "cosine", "TRAIN.LR_FACTOR", "0.01", "TRAIN.MAX_ITERS_PER_EPOCH", "0",
        "TRAIN.VAL_INTERVAL", str(max(args.epochs // 3, 1)), "WORKERS", "0", "PRINT_FREQ", "1000",
        "OUTPUT_DIR", run_root, "AUTO_RESUME", "False",
    ] + list(args.opts)
    run_dir = train_in_subprocess(args.cfg, overrides)
    records = [r for r in read_metrics(run_dir) if r.get("AP") is not None]
    if not records:
        sys.exit(f"[overfit] {run_dir}: no evaluated epoch in metrics.jsonl")
    final = records[-1]
    history = ", ".join(f"{r['AP']:.4f}" for r in records)
    print(f"[overfit] AP per evaluation: {history}")
    verdict = "PASS" if final["AP"] >= args.min_ap else "FAIL"
    print(f"[overfit] {verdict}: final AP {final['AP']:.4f} (AP .5 {final['AP .5']:.4f}, AP .75 "
          f"{final['AP .75']:.4f}) on the {persons} training persons; needed {args.min_ap}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
