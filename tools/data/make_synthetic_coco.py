"""Generate the synthetic COCO-format person-keypoint dataset (the embedded default; see lib/dataset/synthetic/).

    python tools/data/make_synthetic_coco.py                                   # data/synthetic: 5000 train, 500 val
    python tools/data/make_synthetic_coco.py --out data/synthetic_small --train 500 --val 100 --workers 2
    python tools/data/make_synthetic_coco.py --out data/synthetic_quickstart --preset quickstart --train 3000 --val 300
    python tools/data/make_synthetic_coco.py --preview docs/synthetic_samples.png   # only the labelled sample grid

Writes OUT/images/{train,val}2017/<12-digit id>.jpg, OUT/person_detection_results/synthetic_val2017_detections.json
and, last, OUT/annotations/person_keypoints_{train,val}2017.json (a missing annotation json = an interrupted run).
The same --seed and knobs give the same bytes, whatever --workers. The defaults are the honest difficulty: lower
them only for experiments that say so.
"""
import argparse
import logging
import os
import sys
import time

import cv2

from lib.dataset import synthetic



def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _count(text):
    value = int(text)
    if not 0 <= value <= synthetic.MAX_IMAGES_PER_SPLIT:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, {synthetic.MAX_IMAGES_PER_SPLIT}], got {text}")
    return value


def _seed(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def parse_args(argv=None):
    # The preset sets the knobs' defaults; an explicit knob flag still wins.
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--preset", choices=sorted(synthetic.PRESETS), default="default")
    preset = first.parse_known_args(argv)[0].preset
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(synthetic.PRESETS), default="default",
                        help="difficulty preset whose values the knobs below default to: 'default' (the honest "
                             "benchmark) or 'quickstart' (fewer, larger, less occluded persons; the CPU quickstart's "
                             "data). Knob flags override it.")
    parser.add_argument("--out", default="data/synthetic", help="output root (default: data/synthetic)")
    parser.add_argument("--train", type=_count, default=5000, help="training images (default: 5000)")
    parser.add_argument("--val", type=_count, default=500, help="validation images (default: 500)")
    parser.add_argument("--seed", type=_seed, default=0, help="dataset seed, >= 0 (default: 0)")
    parser.add_argument("--workers", type=_positive_int, default=1, help="rendering processes (default: 1)")
    parser.add_argument("--preview", default="", metavar="PNG",
                        help="instead of a dataset, write a PNG of the first 6 training images of --seed, each "
                             "next to a copy with its keypoints drawn (dot = visible, black ring = occluded; "
                             "orange = left side, blue = right side)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing: exit 0 when --out holds what these arguments would generate now, else "
                             "print why not (generator version, seed, knobs, image counts) and exit 1")
    knobs = parser.add_argument_group(f"difficulty knobs (defaults: preset {preset!r})")
    d = synthetic.preset_config(preset)
    knobs.add_argument("--min-size", type=int, default=d.min_size, help=f"smallest image side, px ({d.min_size})")
    knobs.add_argument("--max-size", type=int, default=d.max_size, help=f"largest image side, px ({d.max_size})")
    knobs.add_argument("--min-persons", type=int, default=d.min_persons,
                       help=f"fewest persons drawn per image ({d.min_persons})")
    knobs.add_argument("--max-persons", type=int, default=d.max_persons,
                       help=f"most persons drawn per image, fewer more likely; those with a visible area under "
                            f"32^2 px carry no joints, as in COCO ({d.max_persons})")
    knobs.add_argument("--min-height", type=float, default=d.min_height,
                       help=f"smallest standing height of a drawn person, px, >= {synthetic.TINY_HEIGHT:g} "
                            f"({d.min_height:g})")
    knobs.add_argument("--max-height", type=float, default=d.max_height,
                       help=f"largest standing height, fraction of the image height ({d.max_height:g})")
    knobs.add_argument("--rotation", type=float, default=d.rotation,
                       help=f"std of the in-plane rotation of upright persons, degrees ({d.rotation:g})")
    knobs.add_argument("--overlap-prob", type=float, default=d.overlap_prob,
                       help=f"probability a person overlaps an earlier one ({d.overlap_prob:g})")
    knobs.add_argument("--truncation-prob", type=float, default=d.truncation_prob,
                       help=f"probability a person is pushed across the image border, mostly the bottom "
                            f"one ({d.truncation_prob:g})")
    knobs.add_argument("--occluder-prob", type=float, default=d.occluder_prob,
                       help=f"probability an object is placed in front of a person ({d.occluder_prob:g})")
    knobs.add_argument("--clutter", type=float, default=d.clutter,
                       help=f"scale of background clutter and limb-like distractors, 0 = none ({d.clutter:g})")
    knobs.add_argument("--poses", choices=sorted(synthetic.POSE_SETS), default=d.poses,
                       help=f"pose classes drawn: all, or upright (standing, walking, running, arms up) ({d.poses})")
    knobs.add_argument("--tiny-prob", type=float, default=d.tiny_prob,
                       help=f"probability of extra tiny persons without joints ({d.tiny_prob:g})")
    knobs.add_argument("--blur-prob", type=float, default=d.blur_prob,
                       help=f"probability of Gaussian or motion blur ({d.blur_prob:g})")
    knobs.add_argument("--noise", type=float, default=d.noise,
                       help=f"largest std of Gaussian pixel noise, grey levels ({d.noise:g})")
    knobs.add_argument("--jpeg-quality", type=int, nargs=2, default=[d.jpeg_min, d.jpeg_max], metavar=("MIN", "MAX"),
                       help=f"JPEG quality range ({d.jpeg_min} {d.jpeg_max})")
    args = parser.parse_args(argv)
    try:
        args.config = synthetic.SynthConfig(
            min_size=args.min_size, max_size=args.max_size, min_persons=args.min_persons,
            max_persons=args.max_persons, min_height=args.min_height, max_height=args.max_height,
            rotation=args.rotation, overlap_prob=args.overlap_prob, truncation_prob=args.truncation_prob,
            occluder_prob=args.occluder_prob, clutter=args.clutter, tiny_prob=args.tiny_prob, poses=args.poses,
            blur_prob=args.blur_prob, noise=args.noise, jpeg_min=args.jpeg_quality[0],
            jpeg_max=args.jpeg_quality[1]).validate()
    except ValueError as err:
        parser.error(str(err))
    return args


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stdout)
    cv2.setNumThreads(1)  # per-image work is small; OpenCV's thread pool would only contend with --workers
    start = time.time()
    if args.check:
        reason = synthetic.stale_reason(args.out, args.train, args.val, seed=args.seed, config=args.config)
        print(reason or f"{args.out} matches these arguments (generator version {synthetic.GENERATOR_VERSION})")
        return 1 if reason else 0
    if args.preview:
        synthetic.make_preview(args.preview, seed=args.seed, config=args.config)
        print(f"wrote {args.preview} ({os.path.getsize(args.preview) / 1024:.0f} KB) in {time.time() - start:.1f} s")
        return 0
    summary = synthetic.generate(args.out, args.train, args.val, seed=args.seed, workers=args.workers,
                                 config=args.config)
    for split in ("train", "val"):
        s = summary[split]
        rate = s["images"] / s["seconds"] if s["seconds"] > 0 else float("inf")
        print(f"{split}: {s['images']} images, {s['annotations']} persons, {s['keypoints']} labelled keypoints "
              f"in {s['seconds']:.1f} s ({rate:.1f} images/s with {args.workers} worker(s))")
    print(f"val detections: {summary['val']['detections']}")
    print(f"wrote {os.path.abspath(args.out)} (images/, annotations/, person_detection_results/) "
          f"in {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
