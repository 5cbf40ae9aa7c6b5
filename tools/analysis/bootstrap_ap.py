r"""How much of an AP is the val sample: a bootstrap over val images of COCO OKS AP, for one model or for the
difference between two models evaluated on the same images (paired).

    python tools/analysis/bootstrap_ap.py --gt data/synthetic_quickstart/annotations/person_keypoints_val2017.json \
        --results RUN_A/results/keypoints_val2017_results.json [--results-b RUN_B/results/...json] [--samples 200]

Each sample draws the val images with replacement (a drawn-twice image counts twice: it gets a new image id each
time, with its ground truth and predictions), and scores the sample with the evaluator of training and test
(lib.core.evaluate, pycocotools COCOeval 'keypoints'). Prints the AP on all images, the bootstrap standard error and
the 95 % percentile interval; with --results-b, the same for AP(A) - AP(B) on the same draws, which is how to read a
difference between two recipes on one val set. It measures the val-sampling noise only, not the seed noise of
training (tools/studies/compare_seeds.py does that).
"""
import argparse
import json
import logging
import sys

import numpy as np

from lib.core.evaluate import coco_eval_stats, quietly
from lib.dataset.coco import load_json
from lib.dataset.keypoint_info import COCO_KEYPOINTS

CONFIDENCE = 0.95


def resample(gt, results_list, image_ids):
    """(ground truth dict, [results]) for the images `image_ids` in that order, repeats given new ids 1..n."""
    images = {im["id"]: im for im in gt["images"]}
    anns_of, dets_of = {}, [{} for _ in results_list]
    for ann in gt["annotations"]:
        anns_of.setdefault(ann["image_id"], []).append(ann)
    for dets, results in zip(dets_of, results_list):
        for det in results:
            dets.setdefault(det["image_id"], []).append(det)
    out_gt = {k: v for k, v in gt.items() if k not in ("images", "annotations")}
    out_gt["images"], out_gt["annotations"] = [], []
    out_results = [[] for _ in results_list]
    for new_id, old_id in enumerate(image_ids, start=1):
        out_gt["images"].append(dict(images[old_id], id=new_id))
        for ann in anns_of.get(old_id, []):
            out_gt["annotations"].append(dict(ann, id=len(out_gt["annotations"]) + 1, image_id=new_id))
        for out, dets in zip(out_results, dets_of):
            out.extend(dict(det, image_id=new_id) for det in dets.get(old_id, []))
    return out_gt, out_results


def ap_of(gt, results):
    """COCO keypoint AP of `results` against the ground-truth dict `gt` (0 without predictions)."""
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = gt
    quietly(coco.createIndex)
    stats = coco_eval_stats(coco, results, COCO_KEYPOINTS.sigmas, "bootstrap")
    return stats[0] if stats else 0.0


def interval(values, confidence=CONFIDENCE):
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(values, tail)), float(np.percentile(values, 100 - tail))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gt", required=True, help="COCO keypoint annotations of the val split")
    parser.add_argument("--results", required=True, help="model A's keypoint results json (a run's results/)")
    parser.add_argument("--results-b", help="model B's results on the same images: also bootstrap AP(A) - AP(B)")
    parser.add_argument("--samples", type=int, default=200, help="bootstrap samples [200]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws [0]")
    parser.add_argument("--json", help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.samples < 2:
        parser.error(f"--samples {args.samples}: need at least 2")
    logging.basicConfig(level=logging.WARNING)  # the evaluator logs every COCOeval table at INFO
    gt = load_json(args.gt, "ground truth")
    results_list = [load_json(args.results, "keypoint results file")]
    if args.results_b:
        results_list.append(load_json(args.results_b, "keypoint results file"))
    gt_ids = {im["id"] for im in gt["images"]}
    for path, results in zip([args.results, args.results_b], results_list):
        strays = {d["image_id"] for d in results} - gt_ids
        if strays:
            raise SystemExit(f"bootstrap_ap.py: {path} has predictions for {len(strays)} image ids that {args.gt} "
                             f"does not hold (e.g. {sorted(strays)[:3]}): another val set?")
    image_ids = sorted(gt_ids)
    full = [ap_of(gt, r) for r in results_list]
    rng = np.random.default_rng(args.seed)
    draws = []
    for _ in range(args.samples):
        sample_gt, sample_results = resample(gt, results_list, rng.choice(image_ids, len(image_ids)))
        draws.append([ap_of(sample_gt, r) for r in sample_results])
    draws = np.asarray(draws)
    rows = [("A", full[0], draws[:, 0])]
    if args.results_b:
        rows += [("B", full[1], draws[:, 1]), ("A - B", full[0] - full[1], draws[:, 0] - draws[:, 1])]
    print(f"{len(image_ids)} val images, {len(gt['annotations'])} persons, {args.samples} bootstrap samples "
          f"(seed {args.seed}); A = {args.results}" + (f", B = {args.results_b}" if args.results_b else ""))
    print("| model | AP, all images | bootstrap s.e. | 95 % interval |\n|---|---|---|---|")
    out = {}
    for name, value, values in rows:
        low, high = interval(values)
        print(f"| {name} | {value:+.4f} | {values.std(ddof=1):.4f} | [{low:+.4f}, {high:+.4f}] |"
              if name == "A - B" else f"| {name} | {value:.4f} | {values.std(ddof=1):.4f} | [{low:.4f}, {high:.4f}] |")
        out[name] = {"ap": value, "se": float(values.std(ddof=1)), "interval": [low, high]}
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"gt": args.gt, "results": args.results, "results_b": args.results_b,
                       "samples": args.samples, "seed": args.seed, **out}, f, indent=1)
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
